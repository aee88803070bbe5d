//! Operational endpoints: `/health` (the process answers) and `/ready` (streams are
//! running and taking records).

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::sources::direct_put::ApiState;

pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(|| async { "ready\n" }))
}
