//! The path of an inbound event, top to bottom.
//!
//! 1. [`Engine::ingest`]: the platform's handler calls this before it
//!    acknowledges; the event is stored under its platform event id, and a
//!    redelivery of the same id is recognised and dropped.
//! 2. [`Engine::process_pending`]: runs from the stored copy (so an event
//!    survives a crash between acknowledgement and processing), oldest first.
//! 3. Per kind: customer messages are stored with the commands they cause
//!    (relay into an escalated case's thread; reopen of a resolved case);
//!    agent actions drive the [`cases`](crate::cases) state machine, each
//!    transition written with its commands in one transaction.
//! 4. The outbox worker is woken to deliver.
//!
//! 5. A customer message in a conversation that has never escalated is
//!    analysed with the whole conversation; when a trigger fires, a case is
//!    opened with its reasons, urgency, intent, sentiment, summary, route
//!    and previous agent, and its card is queued in the same transaction.
//!    [`Engine::sweep_unanswered`] does the same on a timer for customers
//!    left without an answer.
//!
//! What is not here yet: rendered cards and notices (templates arrive with
//! the web chat/inbox issue; the card is plain text with its data in
//! `rich`), and the agent-reply relay with its internal-note rules. Events of kinds this engine does not handle yet are
//! marked processed with an error saying so, never silently dropped.

use std::collections::HashMap;
use std::sync::Arc;

use handoff_core::{
    AgentAction, AgentId, CaseAction, Content, CustomerMessage, InboundEvent, InboundKind,
    MessageId, OutboundCommand, Platform,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::analysis::summary::Author;
use crate::cases::{Actor, Case, CaseCommand, CaseState, Transition};
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::escalation::{CustomerFacts, Decision, Intelligence};
use crate::metrics::{InboundOutcome, Metrics};
use crate::store::{
    self, AuthorKind, CaseOutcome, InboundRecord, NewCase, NewMessage, NewOutbox, Store, StoreError,
};
use crate::triggers::TurnFacts;

/// Errors while handling an event.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed; the event stays pending and is tried again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether [`Engine::ingest`] stored the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// New; it will be processed.
    Accepted,
    /// Seen before; acknowledge and ignore.
    Duplicate,
}

/// Maps team-side platform users to configured agents.
#[derive(Debug, Default, Clone)]
pub struct AgentDirectory {
    by_platform_user: HashMap<(Platform, String), AgentId>,
}

impl AgentDirectory {
    /// Indexes the configured agents by each platform identity they have.
    pub fn new(agents: &[AgentConfig]) -> Self {
        let mut by_platform_user = HashMap::new();
        for a in agents {
            for (platform, user) in [
                (Platform::Slack, &a.slack_user),
                (Platform::Teams, &a.teams_user),
                (Platform::Inbox, &a.inbox_login),
            ] {
                if let Some(user) = user {
                    by_platform_user.insert((platform, user.clone()), AgentId::new(&a.id));
                }
            }
        }
        Self { by_platform_user }
    }

    /// The agent behind a platform user, if configured.
    pub fn agent(&self, platform: Platform, user_id: &str) -> Option<AgentId> {
        self.by_platform_user
            .get(&(platform, user_id.to_owned()))
            .cloned()
    }
}

/// The engine: shared by every platform handler and the background loops.
#[derive(Debug)]
pub struct Engine<S> {
    store: S,
    clock: Clock,
    metrics: Arc<Metrics>,
    agents: AgentDirectory,
    intel: Arc<Intelligence>,
    /// Rung after new inbound events are stored.
    inbound_wake: Notify,
    /// Rung after outbox rows are written.
    outbox_wake: Arc<Notify>,
}

/// How many stored events one processing round takes.
const INBOUND_BATCH: i64 = 64;
/// The most recent turns the triggers look at.
const MAX_TURNS: usize = 50;
/// Conversations one unanswered sweep looks at.
const SWEEP_BATCH: i64 = 100;

impl<S: Store> Engine<S> {
    /// An engine over `store`, waking the outbox worker through `outbox_wake`.
    pub fn new(
        store: S,
        clock: Clock,
        metrics: Arc<Metrics>,
        agents: AgentDirectory,
        intel: Arc<Intelligence>,
        outbox_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock,
            metrics,
            agents,
            intel,
            inbound_wake: Notify::new(),
            outbox_wake,
        }
    }

    /// The store, for handlers that read (transcripts, inbox).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Stores an event durably. Call before acknowledging the platform.
    pub async fn ingest(&self, event: &InboundEvent) -> Result<Ingested, EngineError> {
        let outcome = match self.store.record_inbound(event).await? {
            InboundRecord::Accepted { .. } => {
                self.inbound_wake.notify_one();
                Ingested::Accepted
            }
            InboundRecord::Duplicate => {
                tracing::info!(platform = %event.platform, event_id = %event.event_id,
                    "Dropped a redelivered event.");
                Ingested::Duplicate
            }
        };
        self.metrics.inbound(
            event.platform,
            match outcome {
                Ingested::Accepted => InboundOutcome::Accepted,
                Ingested::Duplicate => InboundOutcome::Duplicate,
            },
        );
        Ok(outcome)
    }

    /// Processes stored events until none is left. Returns how many.
    pub async fn process_pending(&self) -> Result<usize, EngineError> {
        let mut done = 0;
        loop {
            let batch = self.store.pending_inbound(INBOUND_BATCH).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            for stored in batch {
                let span = tracing::info_span!("inbound", seq = stored.seq,
                    platform = %stored.event.platform, event_id = %stored.event.event_id);
                async {
                    let problem = self.process(&stored.event).await?;
                    if let Some(p) = &problem {
                        tracing::warn!(problem = %p, "Event processed with a problem.");
                    }
                    self.store
                        .finish_inbound(stored.seq, self.clock.now(), problem.as_deref())
                        .await?;
                    Ok::<(), EngineError>(())
                }
                .instrument(span)
                .await?;
                done += 1;
            }
            self.outbox_wake.notify_one();
        }
    }

    /// Processes stored events as they arrive until `shutdown`.
    pub async fn run_processor(&self, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.process_pending().await {
                tracing::error!(error = %e, "Processing inbound events failed; will retry.");
            }
            tokio::select! {
                () = self.inbound_wake.notified() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Handles one event. `Ok(Some(problem))` is an event that cannot be
    /// acted on (unknown agent, unknown case) and must not be retried.
    async fn process(&self, event: &InboundEvent) -> Result<Option<String>, EngineError> {
        match &event.kind {
            InboundKind::CustomerMessage(m) => self.customer_message(event, m).await,
            InboundKind::AgentAction(a) => self.agent_action(event.platform, a).await,
            InboundKind::AgentReply(_) => Ok(Some(not_handled("agent reply"))),
            InboundKind::Reaction(_) => Ok(Some(not_handled("reaction"))),
        }
    }

    async fn customer_message(
        &self,
        event: &InboundEvent,
        m: &CustomerMessage,
    ) -> Result<Option<String>, EngineError> {
        let now = self.clock.now();
        let customer = self
            .store
            .upsert_customer(event.platform, &m.customer, now)
            .await?;
        let conversation = self
            .store
            .conversation(customer.id, event.platform, &m.conversation, now)
            .await?;
        let mut case = self.store.latest_case(conversation.id).await?;
        if let Some(c) = case.as_ref().filter(|c| c.state == CaseState::Resolved) {
            case = match store::apply_case_command(
                &self.store,
                c.id,
                &CaseCommand::Reopen,
                now,
                plan_card_update,
            )
            .await?
            {
                CaseOutcome::Applied(t) => Some(t.after),
                // Someone reopened it meanwhile: use it as it is now.
                CaseOutcome::Refused(_, c) => Some(*c),
                CaseOutcome::UnknownCase => None,
            };
        }
        let message_id = MessageId::new();
        let outbox: Vec<NewOutbox> = case
            .iter()
            .filter(|c| c.state != CaseState::Resolved)
            .map(|c| NewOutbox {
                platform: route_platform(c),
                ordering_key: card_order_key(c),
                case: Some(c.id),
                idempotency_key: format!("{}:{}:thread", event.platform, event.event_id),
                command: OutboundCommand::PostInThread {
                    case: c.id,
                    thread: c.card.clone(),
                    content: Content::text(format!(
                        "{}: {}",
                        customer.display_name.as_deref().unwrap_or("Customer"),
                        m.text
                    )),
                    message: Some(message_id),
                },
            })
            .collect();
        let stored = self
            .store
            .add_message(
                &NewMessage {
                    id: message_id,
                    conversation: conversation.id,
                    case: case.as_ref().map(|c| c.id),
                    author: AuthorKind::Customer,
                    author_id: Some(customer.external_id.clone()),
                    body: m.text.clone(),
                    internal_note: false,
                    platform: event.platform,
                    platform_message_id: m.platform_message_id.clone(),
                    created_at: now,
                },
                &outbox,
            )
            .await?;
        if stored.is_none() {
            tracing::info!("The customer message was stored before.");
        }
        // Checked even for a message stored before: a crash between storing
        // it and opening the case must not lose the escalation.
        if case.is_none() {
            let facts = CustomerFacts {
                metadata: &customer.metadata,
                source: event.platform,
            };
            self.consider_escalation(
                customer.id,
                customer.display_name.as_deref(),
                conversation.id,
                facts,
                now,
            )
            .await?;
        }
        Ok(None)
    }

    /// Runs the triggers over a never-escalated conversation and, when one
    /// fires, opens the case and queues its card together.
    async fn consider_escalation(
        &self,
        customer: handoff_core::CustomerId,
        display_name: Option<&str>,
        conversation: handoff_core::ConversationId,
        facts: CustomerFacts<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Case>, EngineError> {
        let messages = self.store.messages(conversation).await?;
        let mut scratch = crate::analysis::Scratch::default();
        // The latest turns are enough to decide, and bound the work.
        let recent = &messages[messages.len().saturating_sub(MAX_TURNS)..];
        let turns: Vec<TurnFacts> = recent
            .iter()
            .filter(|m| !m.internal_note)
            .map(|m| {
                self.intel
                    .facts(author(m.author), &m.body, m.created_at, None, &mut scratch)
            })
            .collect();
        let Some(decision) = self.intel.decide(&turns, facts, now) else {
            return Ok(None);
        };
        let previous_owner = match self.intel.previous_agent_window() {
            Some(window) => self.store.previous_agent(customer, now - window).await?,
            None => None,
        };
        let summary = self.intel.summary_text(&decision, &turns).await;
        let reasons = decision.reasons();
        let id = handoff_core::CaseId::new();
        let case = NewCase {
            id,
            conversation,
            reason: reasons.first().cloned().unwrap_or_default(),
            reasons: reasons.clone(),
            urgency: decision.urgency,
            intent: decision.intent.as_ref().map(|(n, _)| n.clone()),
            sentiment: decision.sentiment.map(f64::from),
            summary: summary.clone(),
            route: decision.route.clone(),
            previous_owner: previous_owner.clone(),
            opened_at: now,
        };
        let card = NewOutbox {
            platform: decision.target.platform,
            ordering_key: format!("card:{id}"),
            case: Some(id),
            idempotency_key: format!("case:{id}:card"),
            command: OutboundCommand::PostCard {
                case: id,
                channel: decision.target.channel.clone(),
                content: card_content(
                    &decision,
                    &summary,
                    display_name,
                    facts.source,
                    previous_owner.as_ref(),
                ),
            },
        };
        let opened = self.store.open_case(&case, &[card]).await?;
        tracing::info!(case_id = %id, reasons = %reasons.join(","), urgency = decision.urgency.as_str(),
            route = %decision.route, "Escalated: case opened.");
        self.outbox_wake.notify_one();
        Ok(Some(opened))
    }

    /// Escalates conversations whose customer has waited longer than the
    /// unanswered trigger allows. Returns how many cases it opened.
    pub async fn sweep_unanswered(&self) -> Result<usize, EngineError> {
        let Some(after) = self.intel.triggers().unanswered_after() else {
            return Ok(0);
        };
        let now = self.clock.now();
        let until = now - after;
        // A day of look-back: turning the timer on must not escalate every
        // conversation in the database at once.
        let from = until - chrono::Duration::days(1);
        let mut opened = 0;
        for quiet in self
            .store
            .quiet_conversations(from, until, SWEEP_BATCH)
            .await?
        {
            let facts = CustomerFacts {
                metadata: &quiet.metadata,
                source: quiet.platform,
            };
            if self
                .consider_escalation(quiet.customer, None, quiet.conversation, facts, now)
                .await?
                .is_some()
            {
                opened += 1;
            }
        }
        Ok(opened)
    }

    /// Runs [`Engine::sweep_unanswered`] every `every` until `shutdown`.
    pub async fn run_sweeper(&self, every: std::time::Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.cancelled() => return,
            }
            if let Err(e) = self.sweep_unanswered().await {
                tracing::error!(error = %e, "The unanswered-message sweep failed; will retry.");
            }
        }
    }

    async fn agent_action(
        &self,
        platform: Platform,
        a: &AgentAction,
    ) -> Result<Option<String>, EngineError> {
        let Some(agent) = self.agents.agent(platform, &a.actor.user_id) else {
            return Ok(Some(format!(
                "{platform} user {} is not a configured agent",
                a.actor.user_id
            )));
        };
        let command = match &a.action {
            CaseAction::Claim => CaseCommand::Claim { agent },
            CaseAction::Release => CaseCommand::Release { agent },
            CaseAction::Resolve => CaseCommand::Resolve {
                by: Actor::Agent(agent),
            },
            CaseAction::Reassign { to } => CaseCommand::Reassign {
                by: agent,
                to: to.clone(),
            },
        };
        let outcome = self.act(a.case, &command).await?;
        Ok(match outcome {
            CaseOutcome::Applied(_) => None,
            CaseOutcome::Refused(e, _) => Some(format!("refused: {e}")),
            CaseOutcome::UnknownCase => Some(format!("case {} does not exist", a.case)),
        })
    }

    /// Applies a command to a case, queuing the card update with it.
    pub async fn act(
        &self,
        case: handoff_core::CaseId,
        command: &CaseCommand,
    ) -> Result<CaseOutcome, EngineError> {
        let outcome = store::apply_case_command(
            &self.store,
            case,
            command,
            self.clock.now(),
            plan_card_update,
        )
        .await?;
        match &outcome {
            CaseOutcome::Applied(t) => {
                tracing::info!(case_id = %case, event = t.event.name(), "Case changed.");
                self.outbox_wake.notify_one();
            }
            CaseOutcome::Refused(e, _) => {
                tracing::info!(case_id = %case, reason = %e, "Case command refused.");
            }
            CaseOutcome::UnknownCase => {
                tracing::warn!(case_id = %case, "Command for an unknown case.")
            }
        }
        Ok(outcome)
    }
}

fn author(kind: AuthorKind) -> Author {
    match kind {
        AuthorKind::Customer => Author::Customer,
        AuthorKind::Bot => Author::Bot,
        AuthorKind::Agent => Author::Agent,
        AuthorKind::System => Author::System,
    }
}

/// The handoff card's content: plain text for now, and every field in
/// `rich` for the template renderer and adapters.
fn card_content(
    d: &Decision,
    summary: &str,
    customer: Option<&str>,
    source: Platform,
    previous: Option<&AgentId>,
) -> Content {
    let who = customer.unwrap_or("A customer");
    let mut text = String::new();
    if let Some(mention) = &d.target.mention {
        text.push_str(mention);
        text.push(' ');
    }
    text.push_str(&format!(
        "{who} on {source} needs a person ({}): {}",
        d.urgency.as_str(),
        d.escalations
            .iter()
            .map(|e| e.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    ));
    if let Some((intent, _)) = &d.intent {
        text.push_str(&format!("\nIntent: {intent}"));
    }
    if !summary.is_empty() {
        text.push_str(&format!("\n{summary}"));
    }
    if let Some(agent) = previous {
        text.push_str(&format!("\nPrevious agent: {agent}"));
    }
    Content {
        text,
        rich: Some(serde_json::json!({
            "customer": customer,
            "source": source.as_str(),
            "urgency": d.urgency.as_str(),
            "reasons": d.escalations,
            "intent": d.intent.as_ref().map(|(n, c)| serde_json::json!({"name": n, "confidence": c})),
            "sentiment": d.sentiment,
            "language": d.language,
            "route": d.route,
            "mention": d.target.mention,
            "summary": summary,
            "facts": d.summary.facts,
            "tried": d.summary.tried,
            "previous_agent": previous.map(AgentId::as_str),
        })),
    }
}

/// Recorded on an event whose kind this version stores but does not act on,
/// so it is visibly set aside rather than silently dropped or retried forever.
fn not_handled(kind: &str) -> String {
    format!("{kind} events are not handled by this version of handoff")
}

/// The team-side platform a case's card lives on: where its card was posted,
/// or, before that, the inbox (the only team side this version routes to).
fn route_platform(case: &Case) -> Platform {
    case.card.as_ref().map_or(Platform::Inbox, |c| c.platform)
}

/// Every command touching one card shares an order key, so an update never
/// overtakes the post it updates.
fn card_order_key(case: &Case) -> String {
    format!("card:{}", case.id)
}

/// The card update queued with every transition. Plain text until the
/// template renderer lands; the command shape is final.
fn plan_card_update(t: &Transition) -> Vec<NewOutbox> {
    let case = &t.after;
    let status = match &case.state {
        CaseState::Open => "waiting for an agent".to_owned(),
        CaseState::Claimed { by } => format!("claimed by {by}"),
        CaseState::Resolved => "resolved".to_owned(),
    };
    vec![NewOutbox {
        platform: route_platform(case),
        ordering_key: card_order_key(case),
        case: Some(case.id),
        idempotency_key: format!("case:{}:v{}:card", case.id, case.version),
        command: OutboundCommand::UpdateCard {
            case: case.id,
            card: case.card.clone(),
            content: Content::text(format!("Case {} ({}): {status}", case.id, case.reason)),
        },
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_found_by_any_of_their_platform_ids() {
        let dir = AgentDirectory::new(&[AgentConfig {
            id: "alice".into(),
            name: "Alice".into(),
            slack_user: Some("U1".into()),
            teams_user: None,
            inbox_login: Some("alice".into()),
        }]);
        assert_eq!(
            dir.agent(Platform::Slack, "U1"),
            Some(AgentId::new("alice"))
        );
        assert_eq!(
            dir.agent(Platform::Inbox, "alice"),
            Some(AgentId::new("alice"))
        );
        assert_eq!(dir.agent(Platform::Teams, "U1"), None);
    }
}
