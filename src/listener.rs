//! The HTTP listener: its own accept loop over hyper, so that a connection has
//! limits whatever the client does. Headers must arrive within
//! `server.header_timeout_seconds` of the connection opening or falling idle (a
//! client trickling them, or holding a connection it does not use, is cut off);
//! at most `server.max_connections` are served at once, and one more is answered
//! 503 `Slow down.` and closed, so a flood costs a few kilobytes per refused
//! connection for a moment rather than a connection's buffers for ever.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::config::ServerConfig;
use crate::tls::ServerTls;

/// What a connection over the cap is told before it is closed.
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/x-amz-json-1.1\r\nContent-Length: 63\r\nConnection: close\r\n\r\n\
{\"__type\":\"ServiceUnavailableException\",\"message\":\"Slow down.\"}";

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown`
/// completes, then lets the requests in flight finish (idle connections are
/// closed at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    server: &ServerConfig,
    tls: Option<Arc<ServerTls>>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(server.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    let header_timeout = Duration::from_secs(server.header_timeout_seconds);
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let (http, watcher) = (http.clone(), graceful.watcher());
        let tls = tls.as_ref().map(|tls| tls.acceptor());
        tokio::spawn(async move {
            let ended = match tls {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
                // The handshake counts against the header timeout: a client
                // that opens a connection and says nothing is cut off alike.
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            watcher
                                .watch(http.serve_connection(TokioIo::new(stream), service))
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    graceful.shutdown().await;
}

/// Answers a connection over the cap and closes it, giving up on a client that
/// does not read within a second.
async fn refuse(mut stream: TcpStream) {
    crate::telemetry::ingest_throttled("connections");
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(OVER_CAP).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
