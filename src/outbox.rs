//! Durable, retried, ordered delivery of every outgoing platform call.
//!
//! Commands are written to the outbox in the same transaction as the state
//! change that causes them (see [`crate::store`]). A worker takes due rows
//! under a lease, hands each to its platform's [`Adapter`], and records the
//! outcome: delivered (with the platform's reference stored back on the case
//! or message), retried later with exponential backoff and jitter (or exactly
//! when the platform's Retry-After says), or dead after too many attempts,
//! with the reason logged on the case. Only the oldest pending command of
//! each ordering key is ever taken, so one conversation's messages arrive in
//! order while other conversations carry on. A worker that dies mid-delivery
//! loses its lease and another attempt is made with the same idempotency key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use handoff_core::{Adapter, CaseId, Content, Delivery, DeliveryError, OutboundCommand, Platform};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span};

use crate::clock::Clock;
use crate::metrics::{DeliveryOutcome, Metrics};
use crate::store::{Completion, NewOutbox, OutboxItem, Store, StoreError};

/// How the worker paces itself. Built from `[outbox]` in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxSettings {
    /// Rows taken per round; also the number delivered at once.
    pub batch_size: i64,
    /// How long a taken row is reserved before another worker may retry it.
    pub lease: Duration,
    /// Attempts (not counting rate-limited ones) before a command is dead.
    pub max_attempts: u32,
    /// The first retry delay; doubled per attempt.
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// How often to look for due rows when nobody woke the worker.
    pub poll_interval: Duration,
    /// How long one adapter call may take before it counts as failed.
    pub delivery_timeout: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            batch_size: 32,
            lease: Duration::from_secs(60),
            max_attempts: 8,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(20),
        }
    }
}

/// The adapters by platform.
#[derive(Default, Clone)]
pub struct Adapters {
    by_platform: HashMap<Platform, Arc<dyn Adapter>>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_platform.keys()).finish()
    }
}

impl Adapters {
    /// Adds (or replaces) the adapter for its platform.
    pub fn register(&mut self, adapter: Arc<dyn Adapter>) {
        self.by_platform.insert(adapter.platform(), adapter);
    }

    /// The adapter for a platform, if configured.
    pub fn get(&self, platform: Platform) -> Option<&Arc<dyn Adapter>> {
        self.by_platform.get(&platform)
    }
}

/// What to do after a failed attempt. Pure, so the policy is tested on
/// plain values.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterFailure {
    /// Try again at `at`; `attempts` is the new count.
    Retry {
        /// Attempts counted so far.
        attempts: i64,
        /// When to try again.
        at: DateTime<Utc>,
    },
    /// Give up.
    Dead {
        /// Attempts counted.
        attempts: i64,
    },
}

/// Decides the next step after `error` on a command that had `attempts`
/// counted attempts before this one. `jitter` in [0, 1) spreads retries of
/// many commands that failed together.
///
/// A rate limit is the platform pacing us, not a failure of the command: it
/// waits exactly Retry-After and does not count towards `max_attempts`.
pub fn after_failure(
    attempts: i64,
    error: &DeliveryError,
    settings: &OutboxSettings,
    now: DateTime<Utc>,
    jitter: f64,
) -> AfterFailure {
    let delay = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
    match error {
        DeliveryError::RateLimited { retry_after } => AfterFailure::Retry {
            attempts,
            at: now + delay(*retry_after),
        },
        DeliveryError::Permanent { .. } => AfterFailure::Dead {
            attempts: attempts + 1,
        },
        DeliveryError::Transient { retry_after, .. } => {
            let attempts = attempts + 1;
            if attempts >= i64::from(settings.max_attempts) {
                return AfterFailure::Dead { attempts };
            }
            let backoff = backoff(attempts, settings, jitter);
            let wait = retry_after.map_or(backoff, |r| r.max(backoff));
            AfterFailure::Retry {
                attempts,
                at: now + delay(wait),
            }
        }
    }
}

/// Exponential backoff with "equal jitter": half the delay is fixed (so
/// retries never bunch at zero), half is random.
fn backoff(attempts: i64, settings: &OutboxSettings, jitter: f64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(30);
    let full = settings
        .backoff_base
        .saturating_mul(1u32 << exp)
        .min(settings.backoff_max);
    full.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// What a delivered command changes besides its own row.
fn completion_for(command: &OutboundCommand) -> Completion {
    match command {
        OutboundCommand::PostCard { case, .. } => Completion::CardPosted { case: *case },
        OutboundCommand::PostInThread {
            message: Some(m), ..
        }
        | OutboundCommand::SendToCustomer {
            message: Some(m), ..
        } => Completion::MessageRelayed { message: *m },
        _ => Completion::Nothing,
    }
}

/// The ordering key of everything that touches one case's card (the post,
/// its updates, its thread), so an update never overtakes the post it
/// updates.
pub fn card_ordering_key(case: CaseId) -> String {
    format!("card:{case}")
}

/// What a finished command queues after it, in the same transaction as its
/// outcome: a message relayed for an agent marks the agent's own message
/// delivered (or failed), and a failure is also explained in the card's
/// thread, so the agent learns the customer did not get it.
pub fn follow_ups(item: &OutboxItem, outcome: Result<(), &str>) -> Vec<NewOutbox> {
    let OutboundCommand::SendToCustomer {
        receipt: Some(r), ..
    } = &item.command
    else {
        return Vec::new();
    };
    let react = |name: &str| NewOutbox {
        platform: r.target.platform,
        ordering_key: format!("receipt:{}:{}", r.target.channel, r.target.message_id),
        case: item.case,
        idempotency_key: format!("{}:receipt", item.idempotency_key),
        command: OutboundCommand::React {
            target: r.target.clone(),
            name: name.to_owned(),
        },
    };
    match (outcome, item.case) {
        (Ok(()), _) => vec![react(&r.delivered)],
        (Err(_), None) => vec![react(&r.failed)],
        (Err(reason), Some(case)) => vec![
            react(&r.failed),
            NewOutbox {
                platform: r.target.platform,
                ordering_key: card_ordering_key(case),
                case: Some(case),
                idempotency_key: format!("{}:undelivered", item.idempotency_key),
                command: OutboundCommand::PostInThread {
                    case,
                    thread: None,
                    content: Content::text(format!(
                        "This reply did not reach the customer and will not be retried: {reason}"
                    )),
                    message: None,
                },
            },
        ],
    }
}

/// One delivery worker. Several may run (one per replica); the store's
/// leases keep them from taking the same row.
#[derive(Debug)]
pub struct OutboxWorker<S> {
    store: S,
    adapters: Arc<Adapters>,
    settings: OutboxSettings,
    clock: Clock,
    metrics: Arc<Metrics>,
    /// Names this worker's leases, for logs and diagnostics.
    id: String,
    /// Rung by whoever queues a command, so delivery does not wait for the
    /// next poll.
    wake: Arc<Notify>,
    /// Told when a message to a customer is given up.
    unreachable: Option<UnreachableHook>,
}

/// The hook, shown in debug output by name only.
#[derive(Clone)]
struct UnreachableHook(Arc<dyn Unreachable>);

impl std::fmt::Debug for UnreachableHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnreachableHook")
    }
}

/// Told when a message to a customer of a case is given up (DMs closed,
/// the bot blocked), so the case's card can say the customer cannot be
/// reached, and when one arrives again, so it stops saying so. The worker
/// cannot render cards; the engine can.
#[async_trait::async_trait]
pub trait Unreachable: Send + Sync {
    /// `item` was marked dead for `reason`.
    async fn customer_unreachable(&self, item: &OutboxItem, reason: &str);

    /// `item` reached the customer.
    async fn customer_reached(&self, item: &OutboxItem);
}

impl<S: Store> OutboxWorker<S> {
    /// A worker over `store` delivering through `adapters`.
    pub fn new(
        store: S,
        adapters: Arc<Adapters>,
        settings: OutboxSettings,
        clock: Clock,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            adapters,
            settings,
            clock,
            metrics,
            id: format!("worker-{}", uuid::Uuid::new_v4()),
            wake,
            unreachable: None,
        }
    }

    /// Tells `hook` about every message to a customer that is given up.
    pub fn with_unreachable(mut self, hook: Arc<dyn Unreachable>) -> Self {
        self.unreachable = Some(UnreachableHook(hook));
        self
    }

    /// Delivers until `shutdown` fires. A round already started is finished
    /// first, so in-flight deliveries are recorded, not abandoned.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(worker = %self.id, "Outbox worker started.");
        loop {
            let taken = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "Outbox round failed; retrying after the poll interval.");
                    0
                }
            };
            if shutdown.is_cancelled() {
                break;
            }
            // Only an empty round means nothing is due: a short round can
            // still have left work, since each ordering key yields one
            // command per round and its next one is due the moment the
            // first is delivered (a busy conversation must not be paced
            // at one message per poll interval).
            if taken == 0 {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
        tracing::info!(worker = %self.id, "Outbox worker stopped.");
    }

    /// Takes one batch of due commands and delivers them concurrently (they
    /// have distinct ordering keys by construction). Returns how many it took.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let lease_until = now + TimeDelta::from_std(self.settings.lease).unwrap_or(TimeDelta::MAX);
        let items = self
            .store
            .claim_outbox(&self.id, now, lease_until, self.settings.batch_size)
            .await?;
        let results = futures::future::join_all(items.iter().map(|item| {
            let span = info_span!("deliver", outbox_id = item.id, platform = %item.platform, command = item.command.name());
            self.deliver(item).instrument(span)
        }))
        .await;
        for r in results {
            if let Err(e) = r {
                // The lease will expire and the row be taken again.
                tracing::error!(error = %e, "Could not record a delivery outcome.");
            }
        }
        Ok(items.len())
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<(), StoreError> {
        let mut command = item.command.clone();
        if let Some(case) = command.unresolved_card() {
            match self.store.case(case).await?.and_then(|c| c.card) {
                Some(card) => command.resolve_card(card),
                None => {
                    let err = DeliveryError::Transient {
                        reason: format!("the card of case {case} is not posted yet"),
                        retry_after: None,
                    };
                    return self.failed(item, &err).await;
                }
            }
        }
        let Some(adapter) = self.adapters.get(item.platform) else {
            let err = DeliveryError::Permanent {
                reason: format!("no adapter is configured for {}", item.platform),
            };
            return self.failed(item, &err).await;
        };
        let delivery = Delivery {
            id: item.id,
            idempotency_key: item.idempotency_key.clone(),
            attempt: u32::try_from(item.attempts + 1).unwrap_or(u32::MAX),
            command,
        };
        let outcome =
            tokio::time::timeout(self.settings.delivery_timeout, adapter.deliver(&delivery)).await;
        match outcome {
            Ok(Ok(delivered)) => {
                self.store
                    .outbox_delivered(
                        item.id,
                        delivered.reference.as_ref(),
                        &completion_for(&delivery.command),
                        &follow_ups(item, Ok(())),
                        self.clock.now(),
                    )
                    .await?;
                if let (Some(hook), OutboundCommand::SendToCustomer { .. }, Some(_)) =
                    (&self.unreachable, &item.command, item.case)
                {
                    hook.0.customer_reached(item).await;
                }
                self.metrics
                    .delivery(item.platform, DeliveryOutcome::Delivered);
                tracing::debug!("Delivered.");
                Ok(())
            }
            Ok(Err(err)) => self.failed(item, &err).await,
            Err(_) => {
                let err = DeliveryError::Transient {
                    reason: format!(
                        "the platform did not answer within {:?}",
                        self.settings.delivery_timeout
                    ),
                    retry_after: None,
                };
                self.failed(item, &err).await
            }
        }
    }

    async fn failed(&self, item: &OutboxItem, err: &DeliveryError) -> Result<(), StoreError> {
        let now = self.clock.now();
        let reason = err.to_string();
        match after_failure(item.attempts, err, &self.settings, now, rand::random()) {
            AfterFailure::Retry { attempts, at } => {
                let outcome = if matches!(err, DeliveryError::RateLimited { .. }) {
                    DeliveryOutcome::RateLimited
                } else {
                    DeliveryOutcome::Retried
                };
                self.metrics.delivery(item.platform, outcome);
                tracing::warn!(attempts, retry_at = %at, error = %reason, "Delivery failed; it will be retried.");
                self.store
                    .outbox_retry(item.id, attempts, at, &reason)
                    .await
            }
            AfterFailure::Dead { attempts } => {
                self.metrics.delivery(item.platform, DeliveryOutcome::Dead);
                tracing::error!(attempts, case_id = ?item.case, error = %reason, "Delivery given up.");
                self.store
                    .outbox_dead(
                        item.id,
                        attempts,
                        &reason,
                        &follow_ups(item, Err(&reason)),
                        now,
                    )
                    .await?;
                if let (Some(hook), OutboundCommand::SendToCustomer { .. }, Some(_)) =
                    (&self.unreachable, &item.command, item.case)
                {
                    hook.0.customer_unreachable(item, &reason).await;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    fn transient() -> DeliveryError {
        DeliveryError::Transient {
            reason: "503".into(),
            retry_after: None,
        }
    }

    fn settings() -> OutboxSettings {
        OutboxSettings {
            max_attempts: 4,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..OutboxSettings::default()
        }
    }

    fn retry_delay(decision: AfterFailure) -> TimeDelta {
        match decision {
            AfterFailure::Retry { at, .. } => at - now(),
            AfterFailure::Dead { .. } => panic!("expected a retry"),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_between_half_and_full() {
        let s = settings();
        // attempts before: 0 -> this is attempt 1 -> 1 s; 1 -> 2 s; 2 -> 4 s.
        for (before, full_ms) in [(0, 1000), (1, 2000), (2, 4000)] {
            let low = retry_delay(after_failure(before, &transient(), &s, now(), 0.0));
            let high = retry_delay(after_failure(before, &transient(), &s, now(), 0.999_999));
            assert_eq!(low, TimeDelta::milliseconds(full_ms / 2));
            assert!(high <= TimeDelta::milliseconds(full_ms) && high > low);
        }
    }

    #[test]
    fn backoff_is_capped() {
        let s = OutboxSettings {
            max_attempts: 100,
            ..settings()
        };
        let d = retry_delay(after_failure(40, &transient(), &s, now(), 0.999));
        assert!(d <= TimeDelta::seconds(10), "{d}");
    }

    #[test]
    fn the_last_allowed_attempt_makes_the_command_dead() {
        let s = settings();
        assert!(matches!(
            after_failure(2, &transient(), &s, now(), 0.5),
            AfterFailure::Retry { attempts: 3, .. }
        ));
        assert_eq!(
            after_failure(3, &transient(), &s, now(), 0.5),
            AfterFailure::Dead { attempts: 4 }
        );
    }

    #[test]
    fn permanent_failures_are_dead_at_once() {
        let err = DeliveryError::Permanent {
            reason: "channel_not_found".into(),
        };
        assert_eq!(
            after_failure(0, &err, &settings(), now(), 0.5),
            AfterFailure::Dead { attempts: 1 }
        );
    }

    #[test]
    fn rate_limits_wait_exactly_retry_after_and_do_not_count() {
        let err = DeliveryError::RateLimited {
            retry_after: Duration::from_secs(30),
        };
        assert_eq!(
            after_failure(3, &err, &settings(), now(), 0.9),
            AfterFailure::Retry {
                attempts: 3,
                at: now() + TimeDelta::seconds(30)
            }
        );
    }

    #[test]
    fn a_suggested_wait_longer_than_backoff_is_honoured() {
        let err = DeliveryError::Transient {
            reason: "503".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            retry_delay(after_failure(0, &err, &settings(), now(), 0.0)),
            TimeDelta::seconds(7)
        );
    }

    fn relayed_reply(case: Option<CaseId>) -> OutboxItem {
        OutboxItem {
            id: 7,
            platform: Platform::Webchat,
            ordering_key: "conversation:x".into(),
            case,
            idempotency_key: "slack:1.2:reply".into(),
            command: OutboundCommand::SendToCustomer {
                conversation: "s1".into(),
                content: Content::text("hi"),
                message: None,
                receipt: Some(handoff_core::Receipt {
                    target: handoff_core::MessageRef::new(Platform::Slack, "C1", "1.2"),
                    delivered: "incoming_envelope".into(),
                    failed: "warning".into(),
                }),
            },
            attempts: 0,
            created_at: now(),
        }
    }

    fn reaction_of(o: &NewOutbox) -> Option<&str> {
        match &o.command {
            OutboundCommand::React { name, .. } => Some(name),
            _ => None,
        }
    }

    #[test]
    fn a_relayed_reply_marks_the_agents_message() {
        let case = CaseId::new();
        let done = follow_ups(&relayed_reply(Some(case)), Ok(()));
        assert_eq!(done.len(), 1);
        assert_eq!(reaction_of(&done[0]), Some("incoming_envelope"));
        assert_eq!(done[0].platform, Platform::Slack);
        let failed = follow_ups(&relayed_reply(Some(case)), Err("DMs closed"));
        assert_eq!(reaction_of(&failed[0]), Some("warning"));
        let OutboundCommand::PostInThread {
            content, case: c, ..
        } = &failed[1].command
        else {
            panic!("{failed:?}")
        };
        assert_eq!(*c, case);
        assert!(content.text.contains("DMs closed"));
        assert_eq!(failed[1].ordering_key, card_ordering_key(case));
        // Without a case there is no thread to explain it in.
        assert_eq!(follow_ups(&relayed_reply(None), Err("x")).len(), 1);
        // Anything else has no follow-up.
        let mut plain = relayed_reply(Some(case));
        plain.command = OutboundCommand::React {
            target: handoff_core::MessageRef::new(Platform::Slack, "C1", "1.2"),
            name: "eyes".into(),
        };
        assert!(follow_ups(&plain, Ok(())).is_empty());
    }

    #[test]
    fn deliveries_that_create_something_record_it() {
        let case = handoff_core::CaseId::new();
        let msg = handoff_core::MessageId::new();
        let content = handoff_core::Content::text("x");
        assert_eq!(
            completion_for(&OutboundCommand::PostCard {
                case,
                channel: "C1".into(),
                content: content.clone()
            }),
            Completion::CardPosted { case }
        );
        assert_eq!(
            completion_for(&OutboundCommand::SendToCustomer {
                conversation: "s1".into(),
                content,
                message: Some(msg),
                receipt: None,
            }),
            Completion::MessageRelayed { message: msg }
        );
    }
}
