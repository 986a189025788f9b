//! The outbox worker against a platform double: retries with backoff,
//! Retry-After, dead commands, per-conversation order, card references, and
//! a worker killed mid-delivery. Time is a manual clock, so nothing sleeps.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::double::{PlatformDouble, Step};
use common::t0;
use handoff::clock::Clock;
use handoff::metrics::{DeliveryOutcome, Metrics};
use handoff::outbox::{Adapters, OutboxSettings, OutboxWorker};
use handoff::store::{NewOutbox, OutboxState, Store};
use handoff_core::{CaseId, Content, MessageRef, OutboundCommand, Platform};
use tokio::sync::Notify;

on_both_backends!(
    transient_failures_back_off_then_deliver,
    a_rate_limit_waits_retry_after_without_holding_up_other_conversations,
    a_command_dies_after_its_last_attempt_and_the_case_says_why,
    a_permanent_failure_or_missing_adapter_is_dead_at_once,
    one_conversation_is_delivered_in_order_even_through_retries,
    card_updates_use_the_reference_of_the_posted_card,
    a_worker_killed_mid_delivery_loses_nothing_and_sends_nothing_twice,
);

struct Rig<S> {
    store: S,
    clock: Clock,
    double: Arc<PlatformDouble>,
    metrics: Arc<Metrics>,
    settings: OutboxSettings,
}

impl<S: Store> Rig<S> {
    fn new(store: S) -> Self {
        Self {
            store,
            clock: Clock::manual(t0()),
            double: Arc::new(PlatformDouble::new(Platform::Slack)),
            metrics: Arc::new(Metrics::default()),
            settings: OutboxSettings {
                max_attempts: 3,
                backoff_base: Duration::from_secs(1),
                backoff_max: Duration::from_secs(60),
                lease: Duration::from_secs(120),
                ..OutboxSettings::default()
            },
        }
    }

    fn worker(&self) -> OutboxWorker<S> {
        let mut adapters = Adapters::default();
        adapters.register(self.double.clone());
        OutboxWorker::new(
            self.store.clone(),
            Arc::new(adapters),
            self.settings.clone(),
            self.clock.clone(),
            Arc::clone(&self.metrics),
            Arc::new(Notify::new()),
        )
    }

    async fn queue(&self, rows: &[NewOutbox]) {
        self.store.enqueue(rows, self.clock.now()).await.unwrap();
    }

    /// Runs rounds, moving time on by `step` between them, until nothing is
    /// due for `idle_rounds` rounds in a row.
    async fn drain(&self, worker: &OutboxWorker<S>, step: Duration) {
        let mut idle = 0;
        while idle < 5 {
            if worker.run_once().await.unwrap() == 0 {
                idle += 1;
            } else {
                idle = 0;
            }
            self.clock.advance(step);
        }
    }

    async fn open_case(&self) -> CaseId {
        common::open_web_case(&self.store, "s1").await
    }
}

fn send(key: &str, conversation: &str) -> NewOutbox {
    NewOutbox {
        platform: Platform::Slack,
        ordering_key: conversation.into(),
        case: None,
        idempotency_key: key.into(),
        command: OutboundCommand::SendToCustomer {
            conversation: conversation.into(),
            content: Content::text(format!("message {key}")),
            message: None,
            receipt: None,
        },
    }
}

async fn transient_failures_back_off_then_deliver<S: Store>(store: S) {
    let rig = Rig::new(store);
    rig.double.script("k1", &[Step::Fail]);
    rig.queue(&[send("k1", "conv")]).await;
    let worker = rig.worker();

    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert!(rig.double.effects().is_empty());
    // Not due again at once: the backoff holds it.
    assert_eq!(worker.run_once().await.unwrap(), 0);
    rig.clock.advance(Duration::from_secs(1));
    assert_eq!(worker.run_once().await.unwrap(), 1);
    assert_eq!(rig.double.effects(), ["k1"]);
    assert_eq!(
        rig.metrics
            .delivery_count(Platform::Slack, DeliveryOutcome::Retried),
        1
    );
    assert_eq!(
        rig.metrics
            .delivery_count(Platform::Slack, DeliveryOutcome::Delivered),
        1
    );
    let attempts: Vec<u32> = rig
        .double
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(attempts, [1, 2], "the adapter is told which attempt it is");
}

async fn a_rate_limit_waits_retry_after_without_holding_up_other_conversations<S: Store>(store: S) {
    let rig = Rig::new(store);
    rig.double
        .script("a1", &[Step::RateLimit(Duration::from_secs(30))]);
    rig.queue(&[
        send("a1", "conv-a"),
        send("a2", "conv-a"),
        send("b1", "conv-b"),
    ])
    .await;
    let worker = rig.worker();

    worker.run_once().await.unwrap();
    worker.run_once().await.unwrap();
    assert_eq!(
        rig.double.effects(),
        ["b1"],
        "the other conversation went on"
    );
    rig.clock.advance(Duration::from_secs(29));
    worker.run_once().await.unwrap();
    assert_eq!(rig.double.effects(), ["b1"], "Retry-After is honoured");
    rig.clock.advance(Duration::from_secs(1));
    rig.drain(&worker, Duration::from_secs(1)).await;
    assert_eq!(rig.double.effects(), ["b1", "a1", "a2"]);
    assert_eq!(
        rig.metrics
            .delivery_count(Platform::Slack, DeliveryOutcome::RateLimited),
        1
    );
}

async fn a_command_dies_after_its_last_attempt_and_the_case_says_why<S: Store>(store: S) {
    let rig = Rig::new(store);
    let case = rig.open_case().await;
    rig.double
        .script("c1", &[Step::Fail, Step::Fail, Step::Fail, Step::Fail]);
    let mut row = send("c1", "conv");
    row.case = Some(case);
    rig.queue(&[row, send("c2", "conv")]).await;
    let worker = rig.worker();
    rig.drain(&worker, Duration::from_secs(120)).await;

    assert_eq!(rig.double.calls_for("c1"), 3, "max_attempts = 3");
    assert_eq!(
        rig.double.effects(),
        ["c2"],
        "the next command went on after it"
    );
    let records = rig.store.case_outbox(case).await.unwrap();
    assert_eq!(records[0].state, OutboxState::Dead);
    assert_eq!(records[0].item.attempts, 3);
    let case = rig.store.case(case).await.unwrap().unwrap();
    assert_eq!(
        case.last_delivery_error.as_deref(),
        Some("temporary failure: HTTP 503 from the platform")
    );
    let events = rig.store.case_events(case.id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "delivery_failed"));
    assert_eq!(
        rig.metrics
            .delivery_count(Platform::Slack, DeliveryOutcome::Dead),
        1
    );
}

async fn a_permanent_failure_or_missing_adapter_is_dead_at_once<S: Store>(store: S) {
    let rig = Rig::new(store);
    let case = rig.open_case().await;
    rig.double.script("p1", &[Step::Permanent]);
    let mut gone = send("p1", "conv-1");
    gone.case = Some(case);
    let mut teams = send("t1", "conv-2");
    teams.platform = Platform::Teams;
    teams.case = Some(case);
    rig.queue(&[gone, teams]).await;
    let worker = rig.worker();
    worker.run_once().await.unwrap();

    let records = rig.store.case_outbox(case).await.unwrap();
    assert!(records.iter().all(|r| r.state == OutboxState::Dead));
    assert_eq!(
        records[0].last_error.as_deref(),
        Some("permanent failure: channel_not_found")
    );
    assert_eq!(
        records[1].last_error.as_deref(),
        Some("permanent failure: no adapter is configured for teams")
    );
    assert_eq!(rig.double.calls_for("p1"), 1);
}

async fn one_conversation_is_delivered_in_order_even_through_retries<S: Store>(store: S) {
    let rig = Rig::new(store);
    rig.double
        .script("m2", &[Step::Fail, Step::RateLimit(Duration::from_secs(5))]);
    let rows: Vec<_> = (1..=6).map(|i| send(&format!("m{i}"), "conv")).collect();
    rig.queue(&rows).await;
    let worker = rig.worker();
    rig.drain(&worker, Duration::from_secs(2)).await;
    assert_eq!(rig.double.effects(), ["m1", "m2", "m3", "m4", "m5", "m6"]);
}

async fn card_updates_use_the_reference_of_the_posted_card<S: Store>(store: S) {
    let rig = Rig::new(store);
    let case = rig.open_case().await;
    let key = format!("card:{case}");
    let post = NewOutbox {
        platform: Platform::Slack,
        ordering_key: key.clone(),
        case: Some(case),
        idempotency_key: "post".into(),
        command: OutboundCommand::PostCard {
            case,
            channel: "C-support".into(),
            content: Content::text("card"),
        },
    };
    let update = NewOutbox {
        idempotency_key: "update".into(),
        command: OutboundCommand::UpdateCard {
            case,
            card: None,
            content: Content::text("claimed"),
        },
        ..post.clone()
    };
    rig.queue(&[post, update]).await;
    let worker = rig.worker();
    rig.drain(&worker, Duration::from_secs(1)).await;

    let card = MessageRef::new(Platform::Slack, "C-double", "ts-post");
    assert_eq!(
        rig.store.case(case).await.unwrap().unwrap().card,
        Some(card.clone())
    );
    let calls = rig.double.calls.lock().unwrap().clone();
    let (_, _, sent_update) = calls.iter().find(|c| c.0 == "update").unwrap();
    assert_eq!(
        *sent_update,
        OutboundCommand::UpdateCard {
            case,
            card: Some(card),
            content: Content::text("claimed")
        }
    );
}

async fn a_worker_killed_mid_delivery_loses_nothing_and_sends_nothing_twice<S: Store>(store: S) {
    let rig = Rig::new(store);
    let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
    let rows: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| send(k, &format!("conv-{}", i % 4)))
        .collect();
    rig.queue(&rows).await;
    // k1 reaches the platform, then the worker dies before recording it.
    rig.double.script("k1", &[Step::ApplyThenHang]);

    let doomed = rig.worker();
    let hung = rig.double.hung.notified();
    let round = tokio::spawn(async move { doomed.run_once().await });
    hung.await;
    round.abort();
    assert!(
        round.await.unwrap_err().is_cancelled(),
        "the worker was killed"
    );

    // A new worker (a restarted process) takes over once the lease expires.
    let restarted = rig.worker();
    rig.clock
        .advance(rig.settings.lease + Duration::from_secs(1));
    rig.drain(&restarted, Duration::from_secs(1)).await;

    let mut effects = rig.double.effects();
    effects.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(effects, expected, "every command took effect exactly once");
    assert_eq!(
        rig.double.calls_for("k1"),
        2,
        "k1 was delivered again after the crash"
    );
    assert!(
        rig.store.outbox_depth().await.unwrap().is_empty(),
        "nothing left pending"
    );
}
