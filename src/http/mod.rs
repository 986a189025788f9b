//! The HTTP surface: health, readiness and metrics now; platform webhooks,
//! the web chat and the inbox mount here as they land.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::store::Store;

/// What every handler can reach.
#[derive(Debug)]
pub struct AppState<S> {
    /// The engine (and through it the store).
    pub engine: Arc<Engine<S>>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            engine: Arc::clone(&self.engine),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// The router with every route handoff serves.
pub fn router<S: Store>(state: AppState<S>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .route("/metrics", get(metrics::<S>))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown`, then lets in-flight
/// requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // The web chat limits new sessions per client address.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

/// The process is alive (no dependencies checked).
async fn healthz() -> &'static str {
    "ok\n"
}

/// The store answers and carries this binary's schema.
async fn readyz<S: Store>(State(state): State<AppState<S>>) -> Response {
    match state.engine.store().ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "Readiness check failed.");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response()
        }
    }
}

async fn metrics<S: Store>(State(state): State<AppState<S>>) -> Response {
    match state.engine.store().outbox_depth().await {
        Ok(depth) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.metrics.render(&depth),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "Could not read outbox depth for metrics.");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}
