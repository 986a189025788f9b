//! The HTTP surface: health, readiness and metrics now; platform webhooks,
//! the web chat and the inbox mount here as they land.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::transcript::{self, LinkError};

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
        .route("/t/{case}", get(transcript_page::<S>))
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

/// `?exp=&sig=` of a transcript link.
#[derive(Debug, serde::Deserialize)]
struct LinkQuery {
    exp: Option<i64>,
    sig: Option<String>,
}

/// A transcript page behind a signed, expiring link. Every refusal is
/// logged with the case and why, and reads nothing else.
async fn transcript_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(case): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let html = |status: StatusCode, body: String| {
        (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            body,
        )
            .into_response()
    };
    let refuse = |status: StatusCode, why: &str, message: &str| {
        tracing::warn!(case = %case, status = status.as_u16(), reason = why, "Transcript link refused.");
        html(status, transcript::refusal_page(message))
    };
    let Some(links) = state.engine.transcript_links() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "links are off",
            "Transcript links are not enabled.",
        );
    };
    let Ok(id) = case.parse::<uuid::Uuid>().map(handoff_core::CaseId) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not a case id",
            "There is no such case.",
        );
    };
    let (Some(exp), Some(sig)) = (q.exp, q.sig.as_deref()) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "unsigned",
            "This link is incomplete: open it from the case card.",
        );
    };
    match links.check(id, exp, sig, state.engine.clock().now()) {
        Ok(()) => {}
        Err(LinkError::Expired) => {
            return refuse(
                StatusCode::GONE,
                "expired",
                "This link has expired: open the case card again for a fresh one.",
            );
        }
        Err(LinkError::BadSignature) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "bad signature",
                "This link is not valid.",
            );
        }
    }
    match state.engine.transcript(id).await {
        Ok(Some((case, entries))) => {
            let who = case.details.customer.as_deref().unwrap_or("a customer");
            let title = format!("Conversation with {who} ({})", case.state.name());
            html(StatusCode::OK, transcript::page(&title, &entries))
        }
        Ok(None) => refuse(
            StatusCode::NOT_FOUND,
            "unknown case",
            "There is no such case.",
        ),
        Err(e) => {
            tracing::error!(case = %case, error = %e, "Reading a transcript failed.");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                transcript::refusal_page(
                    "The transcript cannot be read right now; try again shortly.",
                ),
            )
        }
    }
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

/// The window `/metrics` reports case figures over.
const METRICS_WINDOW_DAYS: i64 = 7;
/// The most cases one scrape reads (a small team's week is far below it).
const METRICS_MAX_CASES: i64 = 50_000;

async fn metrics<S: Store>(State(state): State<AppState<S>>) -> Response {
    let store = state.engine.store();
    let since = state.engine.clock().now() - chrono::Duration::days(METRICS_WINDOW_DAYS);
    let read = async {
        let depth = store.outbox_depth().await?;
        let cases = store.cases_since(since, METRICS_MAX_CASES).await?;
        Ok::<_, crate::store::StoreError>((depth, cases))
    };
    match read.await {
        Ok((depth, cases)) => {
            let mut body = state.metrics.render(&depth);
            crate::report::CaseReport::of(&cases).prometheus("7d", &mut body);
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                body,
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "Could not read the store for metrics.");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}
