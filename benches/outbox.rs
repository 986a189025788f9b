//! Outbox throughput: commands per second delivered to a no-op adapter, on
//! SQLite and (when `TEST_PG_URL` names a server, as `scripts/bench` sets
//! it) PostgreSQL. Each iteration queues a batch spread over 50
//! conversations and times the worker until the batch is delivered, so the
//! figure includes claiming, per-conversation ordering and recording.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use handoff::clock::Clock;
use handoff::metrics::Metrics;
use handoff::outbox::{Adapters, OutboxSettings, OutboxWorker};
use handoff::store::{NewOutbox, PgStore, SqliteStore, Store};
use handoff_core::{
    Adapter, Content, Delivered, Delivery, DeliveryError, OutboundCommand, Platform,
};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

#[path = "../tests/common/mod.rs"]
mod common;

const BATCH: usize = 1000;
const CONVERSATIONS: usize = 50;

#[derive(Debug)]
struct NoOp;

#[async_trait]
impl Adapter for NoOp {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    async fn deliver(&self, _: &Delivery) -> Result<Delivered, DeliveryError> {
        Ok(Delivered::default())
    }
}

fn rows(round: u64) -> Vec<NewOutbox> {
    (0..BATCH)
        .map(|i| NewOutbox {
            platform: Platform::Slack,
            ordering_key: format!("conv-{}", i % CONVERSATIONS),
            case: None,
            idempotency_key: format!("r{round}-{i}"),
            command: OutboundCommand::SendToCustomer {
                conversation: format!("conv-{}", i % CONVERSATIONS),
                content: Content::text("Thanks, I am looking into it now."),
                message: None,
                receipt: None,
            },
        })
        .collect()
}

fn worker<S: Store>(store: S) -> OutboxWorker<S> {
    let mut adapters = Adapters::default();
    adapters.register(Arc::new(NoOp));
    OutboxWorker::new(
        store,
        Arc::new(adapters),
        OutboxSettings {
            batch_size: 64,
            ..OutboxSettings::default()
        },
        Clock::System,
        Arc::new(Metrics::default()),
        Arc::new(Notify::new()),
    )
}

fn bench_store<S: Store>(c: &mut Criterion, rt: &Runtime, store: S) {
    let name = store.backend();
    let worker = worker(store.clone());
    let mut round = 0;
    let mut group = c.benchmark_group("outbox_delivery");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new(name, BATCH), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    store
                        .enqueue(&rows(round), chrono::Utc::now())
                        .await
                        .unwrap();
                    let start = Instant::now();
                    let mut delivered = 0;
                    while delivered < BATCH {
                        delivered += worker.run_once().await.unwrap();
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    });
    group.finish();
}

fn outbox(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = rt.block_on(async {
        let s = SqliteStore::connect(&url, 8).await.unwrap();
        s.migrate().await.unwrap();
        s
    });
    bench_store(c, &rt, sqlite);

    match std::env::var("TEST_PG_URL") {
        Ok(admin) => {
            let pg = rt.block_on(async {
                let s = PgStore::connect(&common::pg_database_at(&admin).await, 20)
                    .await
                    .unwrap();
                s.migrate().await.unwrap();
                s
            });
            bench_store(c, &rt, pg);
        }
        Err(_) => eprintln!(
            "TEST_PG_URL is not set; skipping the PostgreSQL benchmark (use scripts/bench)."
        ),
    }
}

criterion_group!(benches, outbox);
criterion_main!(benches);
