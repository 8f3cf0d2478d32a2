//! The one HTTP port: `/metrics` (Prometheus text), `/healthz` (alive), `/readyz` (caches synced).

use crate::report::metrics::Metrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct HttpState {
    pub metrics: Metrics,
    pub ready: Arc<AtomicBool>,
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        s.metrics.render(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<HttpState>) -> (StatusCode, &'static str) {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Serve until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: HttpState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixtures::http_get;

    #[tokio::test]
    async fn health_readiness_and_metrics_endpoints() {
        let metrics = Metrics::new();
        metrics.observe_reconcile(std::time::Duration::from_millis(2), None);
        let ready = Arc::new(AtomicBool::new(false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(
            listener,
            HttpState {
                metrics,
                ready: ready.clone(),
            },
        ));

        assert_eq!(http_get(addr, "/healthz").await.unwrap(), (200, "ok".to_string()));
        assert_eq!(
            http_get(addr, "/readyz").await.unwrap().0,
            503,
            "not ready before the caches sync"
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(http_get(addr, "/readyz").await.unwrap(), (200, "ready".to_string()));
        let (code, body) = http_get(addr, "/metrics").await.unwrap();
        assert_eq!(code, 200);
        assert!(
            body.contains("wasm_operator_reconcile_duration_seconds_count{result=\"ok\"} 1"),
            "{body}"
        );
        assert_eq!(http_get(addr, "/nope").await.unwrap().0, 404);
    }
}
