//! The agent's metrics endpoint: a minimal HTTP server answering every GET with the metrics
//! (`render::stats`), bounded like the socket. Hand-written over tokio: it serves one fixed
//! document, which a web framework would add nothing to.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::listen::Backoff;
use super::server::{stats, Shared};

/// Metrics connections served at once; past this many a new one is closed at once.
const MAX_METRICS_CLIENTS: usize = 16;

/// A minimal HTTP server: every GET gets the metrics. Bounded like the socket: a few
/// connections at once, each with 5 s to send its request, and failed accepts back off.
pub(super) async fn serve_metrics(listener: tokio::net::TcpListener, context: Arc<Shared>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_METRICS_CLIENTS));
    let mut backoff = Backoff::default();
    loop {
        let mut stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff.reset();
                stream
            }
            Err(e) => {
                context
                    .counters
                    .accept_errors
                    .fetch_add(1, Ordering::Relaxed);
                backoff.wait(&e, "the metrics endpoint").await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            context.counters.over_limit.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let context = Arc::clone(&context);
        tokio::spawn(async move {
            let _slot = slot;
            let mut request = [0u8; 4096];
            let read = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::io::AsyncReadExt::read(&mut stream, &mut request),
            )
            .await;
            let Ok(Ok(n)) = read else { return };
            let head = String::from_utf8_lossy(&request[..n]);
            let response = if head.starts_with("GET /metrics") || head.starts_with("GET / ") {
                let body = tokio::task::spawn_blocking(move || {
                    let groups = context.groups.as_ref().map(crate::groups::Groups::scrape);
                    crate::render::stats::metrics_with_groups(&stats(&context), groups)
                })
                .await
                .unwrap_or_default();
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{body}",
                    crate::render::stats::METRICS_CONTENT_TYPE,
                    body.len()
                )
            } else {
                "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
            };
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
