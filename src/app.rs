//! Wiring: builds the running parts from config and a store, runs them
//! until shutdown, and stops them in order (stop accepting, finish
//! in-flight deliveries, exit).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::Config;
use crate::engine::{AgentDirectory, Engine};
use crate::escalation::Intelligence;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::outbox::{Adapters, OutboxWorker};
use crate::store::{Store, StoreError};

/// Why `serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be prepared.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration cannot be built into rules.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// How often the unanswered-message timer looks for waiting customers.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs handoff on an already bound listener until `shutdown` fires.
/// Migrations are applied first, so `/readyz` is green once it answers.
pub async fn serve<S: Store>(
    store: S,
    config: &Config,
    adapters: Adapters,
    listener: TcpListener,
    clock: Clock,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    store.migrate().await?;
    let intel = Arc::new(Intelligence::new(config).map_err(|e| AppError::Config(e.to_string()))?);
    let metrics = Arc::new(Metrics::default());
    let outbox_wake = Arc::new(Notify::new());
    let engine = Arc::new(Engine::new(
        store.clone(),
        clock.clone(),
        Arc::clone(&metrics),
        AgentDirectory::new(&config.agents),
        intel,
        Arc::clone(&outbox_wake),
    ));
    let worker = OutboxWorker::new(
        store.clone(),
        Arc::new(adapters),
        config.outbox.settings(),
        clock,
        Arc::clone(&metrics),
        outbox_wake,
    );
    let worker = tokio::spawn(worker.run(shutdown.clone()));
    let processor = {
        let engine = Arc::clone(&engine);
        let shutdown = shutdown.clone();
        tokio::spawn(async move { engine.run_processor(shutdown).await })
    };
    let sweeper = {
        let engine = Arc::clone(&engine);
        let shutdown = shutdown.clone();
        tokio::spawn(async move { engine.run_sweeper(SWEEP_EVERY, shutdown).await })
    };
    tracing::info!(
        address = %listener.local_addr()?,
        store = store.backend(),
        "handoff is listening."
    );
    let router = http::router(AppState { engine, metrics });
    let served = http::serve(listener, router, shutdown.clone()).await;
    // However the server ended, stop the loops and wait for the worker to
    // record the deliveries it has in flight.
    shutdown.cancel();
    let _ = processor.await;
    let _ = sweeper.await;
    let _ = worker.await;
    tracing::info!("handoff stopped.");
    Ok(served?)
}
