//! Operational endpoints: `/health` (the process answers, from the moment it
//! listens), `/ready` (every configured stream is running and taking records; 503
//! while plugins compile or spools recover at start, or while a source waits for
//! what it reads, such as a Kafka broker) and `/metrics` (Prometheus text format).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ApiState;

pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
}

async fn ready(State(state): State<Arc<ApiState>>) -> Response {
    let starting = state.starting.load();
    if !starting.is_empty() {
        let names: Vec<&str> = starting.iter().map(String::as_str).collect();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("starting: {}\n", names.join(", ")),
        )
            .into_response();
    }
    let waiting: Vec<String> = state
        .streams
        .load()
        .iter()
        .filter_map(|(name, stream)| Some(format!("{name}: {}", stream.waiting()?)))
        .collect();
    if waiting.is_empty() {
        return "ready\n".into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("waiting: {}\n", waiting.join("; ")),
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are off (see the log)\n",
        )
            .into_response(),
    }
}
