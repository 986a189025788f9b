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
//! 6. Agent replies under a card go to the customer or stay internal notes
//!    by the rules in [`relay`](crate::relay); a reply to an unclaimed case
//!    claims it first. Every transition re-renders the whole card
//!    ([`render::card`]) and tells the customer what they need to know
//!    (agent joined, resolved), queued in the transition's transaction.
//!
//! Reactions are stored but not acted on yet: they are marked processed with
//! a problem saying so, never silently dropped.

use std::collections::HashMap;
use std::sync::Arc;

use handoff_core::{
    AgentAction, AgentEdit, AgentId, AgentReply, CaseAction, CaseId, Content, CustomerMessage,
    InboundEvent, InboundKind, MessageId, MessageRef, OutboundCommand, Platform, PlatformUser,
    Reaction, Receipt,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::analysis::summary::Author;
use crate::cases::{
    Actor, Case, CaseCommand, CaseDetails, CaseEventKind, CaseState, ReasonDetail, Transition,
    TransitionError,
};
use crate::clock::Clock;
use crate::config::{AgentConfig, RelayConfig};
use crate::escalation::{CustomerFacts, Intelligence};
use crate::metrics::{InboundOutcome, Metrics};
use crate::relay::{self, ReplyRoute};
use crate::render::{self, AgentNames, Notices};
use crate::sla::{Due, SlaPolicy};
use crate::store::{
    self, AuthorKind, CaseOutcome, Conversation, InboundRecord, NewCase, NewMessage, NewOutbox,
    NewTimer, Store, StoreError,
};
use crate::transcript::{self, TranscriptLinks};
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
#[derive(Debug, Default)]
pub struct AgentDirectory {
    by_platform_user: HashMap<(Platform, String), AgentId>,
    names: HashMap<AgentId, String>,
    /// Display names team platforms reported (Slack's `users.info`), for
    /// agents whose config gives no name.
    learned: std::sync::RwLock<HashMap<AgentId, String>>,
}

impl AgentDirectory {
    /// Indexes the configured agents by each platform identity they have.
    pub fn new(agents: &[AgentConfig]) -> Self {
        let mut by_platform_user = HashMap::new();
        let mut names = HashMap::new();
        for a in agents {
            if !a.name.trim().is_empty() {
                names.insert(AgentId::new(&a.id), a.name.clone());
            }
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
        Self {
            by_platform_user,
            names,
            learned: std::sync::RwLock::default(),
        }
    }

    /// The agent behind `user`, remembering the display name their
    /// platform gave for when config names none.
    pub fn identify(&self, platform: Platform, user: &PlatformUser) -> Option<AgentId> {
        let agent = self.agent(platform, &user.user_id)?;
        if let Some(name) = user.display_name.as_ref().filter(|n| !n.trim().is_empty())
            && !self.names.contains_key(&agent)
        {
            self.learned
                .write()
                .expect("agent names lock")
                .insert(agent.clone(), name.clone());
        }
        Some(agent)
    }

    /// The agent behind a platform user, if configured.
    pub fn agent(&self, platform: Platform, user_id: &str) -> Option<AgentId> {
        self.by_platform_user
            .get(&(platform, user_id.to_owned()))
            .cloned()
    }
}

impl AgentNames for AgentDirectory {
    fn display_name(&self, agent: &AgentId) -> String {
        self.names
            .get(agent)
            .or(self.learned.read().expect("agent names lock").get(agent))
            .cloned()
            .unwrap_or_else(|| agent.to_string())
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
    relay: RelayConfig,
    /// Signs the transcript link on cards; none: cards carry no link.
    links: Option<TranscriptLinks>,
    /// The SLA timers in force (none by default).
    sla: SlaPolicy,
    /// Customer notices and team notes.
    notices: Arc<Notices>,
    /// What reactions mean, per team platform that has them.
    reactions: HashMap<Platform, TeamReactions>,
    /// Rung after new inbound events are stored.
    inbound_wake: Notify,
    /// Rung after outbox rows are written.
    outbox_wake: Arc<Notify>,
}

/// What reactions mean on one team platform.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamReactions {
    /// Reaction name (`eyes`) -> what it does on a card.
    pub actions: HashMap<String, CaseAction>,
    /// Added to an agent's message once it reached the customer.
    pub delivered: String,
    /// Added to an agent's message whose delivery was given up.
    pub failed: String,
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
        relay: RelayConfig,
        outbox_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock,
            metrics,
            agents,
            intel,
            relay,
            links: None,
            sla: SlaPolicy::default(),
            notices: Arc::new(Notices::default()),
            reactions: HashMap::new(),
            inbound_wake: Notify::new(),
            outbox_wake,
        }
    }

    /// Cards carry transcript links signed by `links`.
    pub fn with_transcripts(mut self, links: TranscriptLinks) -> Self {
        self.links = Some(links);
        self
    }

    /// On `platform`, reactions on a card act on its case, and agents'
    /// relayed messages get delivery receipts, as `reactions` says.
    pub fn with_reactions(mut self, platform: Platform, reactions: TeamReactions) -> Self {
        self.reactions.insert(platform, reactions);
        self
    }

    /// Words notices and notes with `notices` (a team's templates).
    pub fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = Arc::new(notices);
        self
    }

    /// Arms SLA timers by `sla`.
    pub fn with_sla(mut self, sla: SlaPolicy) -> Self {
        self.sla = sla;
        self
    }

    /// The engine's clock (manual in tests).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The transcript link signer, when configured.
    pub fn transcript_links(&self) -> Option<&TranscriptLinks> {
        self.links.as_ref()
    }

    /// A fresh transcript link for `case`, when links are configured.
    fn link(&self, case: CaseId) -> Option<String> {
        self.links.as_ref().map(|l| l.link(case, self.clock.now()))
    }

    /// The case and its conversation as the team may read it: redacted,
    /// with names. `None` for an unknown case.
    pub async fn transcript(
        &self,
        case: CaseId,
    ) -> Result<Option<(Case, Vec<transcript::Entry>)>, EngineError> {
        let Some(case) = self.store.case(case).await? else {
            return Ok(None);
        };
        let entries = self
            .store
            .messages(case.conversation)
            .await?
            .into_iter()
            .map(|m| transcript::Entry {
                author: m.author.as_str(),
                name: match m.author {
                    AuthorKind::Customer => case.details.customer.clone(),
                    AuthorKind::Agent => m
                        .author_id
                        .as_deref()
                        .map(|a| self.agents.display_name(&AgentId::new(a))),
                    AuthorKind::Bot | AuthorKind::System => None,
                },
                text: self.intel.redact(&m.body),
                internal: m.internal_note,
                delivered: m.relayed.is_some(),
                at: m.created_at,
            })
            .collect();
        Ok(Some((case, entries)))
    }

    /// The case's card as it would be rendered now; `None` for an unknown
    /// case. A team side that answers a click with the card (Teams) shows
    /// this.
    pub async fn card_now(&self, case: CaseId) -> Result<Option<Content>, EngineError> {
        Ok(self
            .store
            .case(case)
            .await?
            .map(|c| render::card(&c, &self.agents, self.link(c.id).as_deref())))
    }

    /// The store, for handlers that read (transcripts, inbox).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configured agents, for names.
    pub fn agents(&self) -> &AgentDirectory {
        &self.agents
    }

    /// Stores an event durably. Call before acknowledging the platform.
    pub async fn ingest(&self, event: &InboundEvent) -> Result<Ingested, EngineError> {
        let record = self.store.record_inbound(event).await?;
        Ok(self.recorded(event, record))
    }

    /// Wakes processing and counts an event some other store call recorded
    /// (the web chat stores its feed entry and the event together).
    pub fn recorded(&self, event: &InboundEvent, record: InboundRecord) -> Ingested {
        let outcome = match record {
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
        outcome
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
            InboundKind::AgentAction(a) => self.agent_action(event, a).await,
            InboundKind::AgentReply(r) => self.agent_reply(event, r).await,
            InboundKind::AgentEdit(e) => self.agent_edit(event, e).await,
            InboundKind::Reaction(r) => self.reaction(event, r).await,
            InboundKind::CustomerRating(r) => self.customer_rating(event, r).await,
            InboundKind::CustomerEdit(e) => self.customer_edit(event, e).await,
        }
    }

    async fn customer_message(
        &self,
        event: &InboundEvent,
        m: &CustomerMessage,
    ) -> Result<Option<String>, EngineError> {
        let now = self.clock.now();
        let (customer, conversation) = self
            .customer_in(event.platform, &m.customer, &m.conversation, now)
            .await?;
        let mut case = self.store.latest_case(conversation.id).await?;
        if let Some(c) = case.as_ref().filter(|c| c.state == CaseState::Resolved) {
            case =
                match store::apply_case_command(&self.store, c.id, &CaseCommand::Reopen, now, |t| {
                    self.plan_transition(t, &conversation)
                })
                .await?
                {
                    CaseOutcome::Applied(t) => Some(t.after),
                    // Someone reopened it meanwhile: use it as it is now.
                    CaseOutcome::Refused(_, c) => Some(*c),
                    CaseOutcome::UnknownCase => None,
                };
        }
        let message_id = MessageId::new();
        let body = with_attachments(&m.text, &m.attachments);
        let mut outbox = self.thread_post(
            case.as_ref(),
            customer.display_name.as_deref(),
            &body,
            format!("{}:{}:thread", event.platform, event.event_id),
            Some(message_id),
        );
        // The conversation key is the thread's id, so the thread must exist
        // before anything is said there: it goes first in the same order.
        if let Some(t) = &m.open_thread {
            outbox.insert(
                0,
                NewOutbox {
                    platform: event.platform,
                    ordering_key: conversation_order_key(&conversation),
                    case: None,
                    idempotency_key: format!("{}:{}:open_thread", event.platform, event.event_id),
                    command: OutboundCommand::OpenThread {
                        channel: t.channel.clone(),
                        message: t.message.clone(),
                        name: t.name.clone(),
                    },
                },
            );
        }
        let stored = self
            .store
            .add_message(
                &NewMessage {
                    id: message_id,
                    conversation: conversation.id,
                    case: case.as_ref().map(|c| c.id),
                    author: AuthorKind::Customer,
                    author_id: Some(customer.external_id.clone()),
                    body,
                    internal_note: false,
                    platform: event.platform,
                    platform_message_id: m.platform_message_id.clone(),
                    created_at: now,
                },
                &outbox,
                &case
                    .as_ref()
                    .map(|c| self.sla.arm_reply_due(c, Some(message_id), now))
                    .unwrap_or_default(),
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
                customer.email.as_deref(),
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
    #[allow(clippy::too_many_arguments)]
    async fn consider_escalation(
        &self,
        customer: handoff_core::CustomerId,
        customer_name: Option<&str>,
        customer_email: Option<&str>,
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
        let Some(conv) = self.store.conversation_by_id(conversation).await? else {
            return Ok(None);
        };
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
            details: CaseDetails {
                customer: customer_name.map(str::to_owned),
                email: customer_email.map(str::to_owned),
                verified: facts.metadata.get("verified") == Some(&serde_json::Value::Bool(true)),
                handle: facts
                    .metadata
                    .get("discord_username")
                    .and_then(|v| v.as_str())
                    .map(|u| format!("@{u}")),
                // Only an https address: the team side shows it as an image.
                avatar: facts
                    .metadata
                    .get("avatar_url")
                    .and_then(|v| v.as_str())
                    .filter(|u| u.starts_with("https://"))
                    .map(str::to_owned),
                source: Some(facts.source.as_str().to_owned()),
                escalations: decision
                    .escalations
                    .iter()
                    .map(|e| ReasonDetail {
                        reason: e.reason.clone(),
                        urgency: e.urgency,
                        detail: e.detail.clone(),
                    })
                    .collect(),
                intent_confidence: decision.intent.as_ref().map(|(_, c)| *c),
                language: decision.language.clone(),
                mention: decision.target.mention.clone(),
                facts: decision.summary.facts.clone(),
                tried: decision.summary.tried.clone(),
                team: Some(decision.target.platform),
                ..CaseDetails::default()
            },
        };
        let as_opened = case.as_open_case();
        let card = NewOutbox {
            platform: decision.target.platform,
            ordering_key: crate::outbox::card_ordering_key(id),
            case: Some(id),
            idempotency_key: format!("case:{id}:card"),
            command: OutboundCommand::PostCard {
                case: id,
                channel: decision.target.channel.clone(),
                content: render::card(&as_opened, &self.agents, self.link(id).as_deref()),
            },
        };
        let wait = self.typical_wait(now).await?;
        let notice = customer_send(
            &conv,
            Some(id),
            format!("case:{id}:escalating"),
            self.notices.escalating(&as_opened, wait),
            None,
        );
        let timers = self.sla.arm_waiting(&as_opened, now);
        let opened = self
            .store
            .open_case(&case, &[card, notice], &timers)
            .await?;
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
                .consider_escalation(quiet.customer, None, None, quiet.conversation, facts, now)
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
        every_until(every, &shutdown, "The unanswered-message sweep", || async {
            self.sweep_unanswered().await.map(drop)
        })
        .await;
    }

    /// The agent, case and conversation of something written under the
    /// card `thread`; or why it concerns no case an agent may touch.
    async fn under_card(
        &self,
        platform: Platform,
        actor: &PlatformUser,
        thread: &MessageRef,
    ) -> Result<Result<(AgentId, Case, Conversation), String>, EngineError> {
        let Some(agent) = self.agents.identify(platform, actor) else {
            return Ok(Err(format!(
                "{platform} user {} is not a configured agent",
                actor.user_id
            )));
        };
        let Some(case) = self.store.case_by_card(thread).await? else {
            return Ok(Err(format!(
                "no case has its card at {} {}",
                thread.channel, thread.message_id
            )));
        };
        let Some(conversation) = self.store.conversation_by_id(case.conversation).await? else {
            return Err(EngineError::Store(StoreError::Corrupt(format!(
                "case {} names a missing conversation",
                case.id
            ))));
        };
        Ok(Ok((agent, case, conversation)))
    }

    /// An agent wrote under a card: to the customer, or an internal note.
    async fn agent_reply(
        &self,
        event: &InboundEvent,
        r: &AgentReply,
    ) -> Result<Option<String>, EngineError> {
        let platform = event.platform;
        let (agent, mut case, conversation) =
            match self.under_card(platform, &r.actor, &r.thread).await? {
                Ok(found) => found,
                Err(why) => return Ok(Some(format!("{why}; the reply was not relayed"))),
            };
        let mut text = r.text.trim().to_owned();
        for a in &r.attachments {
            text.push_str(&format!("\n{}: {}", a.name, a.url));
        }
        if text.trim().is_empty() {
            // Only files the customer could not open: nothing to send, but
            // the agent must hear why nothing went.
            if !r.withheld.is_empty() {
                self.store
                    .enqueue(&[withheld_note(&case, platform, r)], self.clock.now())
                    .await?;
                self.outbox_wake.notify_one();
                return Ok(Some(
                    "only files that cannot be sent; the agent was told".to_owned(),
                ));
            }
            return Ok(Some("an empty reply was ignored".to_owned()));
        }
        let (mut route, body) = relay::route_reply(&case.state, &agent, &text, &self.relay);
        if route == ReplyRoute::ClaimAndSend {
            let claim = CaseCommand::Claim {
                agent: agent.clone(),
            };
            route = match self.act(case.id, &claim).await? {
                CaseOutcome::Applied(t) => {
                    case = t.after;
                    ReplyRoute::Send
                }
                // Someone else claimed first: decide again on the case as it is.
                CaseOutcome::Refused(_, now_case) => {
                    case = *now_case;
                    relay::route_reply(&case.state, &agent, &text, &self.relay).0
                }
                CaseOutcome::UnknownCase => return Ok(Some(format!("case {} vanished", case.id))),
            };
        }
        let internal = !matches!(route, ReplyRoute::Send | ReplyRoute::ClaimAndSend);
        let id = MessageId::new();
        // The agent sees on their own message whether it arrived.
        let receipt = self.reactions.get(&platform).map(|reactions| Receipt {
            target: MessageRef::new(platform, &r.thread.channel, &r.platform_message_id),
            delivered: reactions.delivered.clone(),
            failed: reactions.failed.clone(),
        });
        let mut outbox: Vec<NewOutbox> = (!internal)
            .then(|| {
                let mut send = customer_send(
                    &conversation,
                    Some(case.id),
                    format!("{platform}:{}:reply", r.platform_message_id),
                    render::agent_message(body, &self.agents.display_name(&agent), platform),
                    Some(id),
                );
                if let OutboundCommand::SendToCustomer { receipt: slot, .. } = &mut send.command {
                    *slot = receipt;
                }
                send
            })
            .into_iter()
            .collect();
        if !r.withheld.is_empty() {
            outbox.push(withheld_note(&case, platform, r));
        }
        let stored = self
            .store
            .add_message(
                &NewMessage {
                    id,
                    conversation: conversation.id,
                    case: Some(case.id),
                    author: AuthorKind::Agent,
                    author_id: Some(agent.to_string()),
                    body: body.to_owned(),
                    internal_note: internal,
                    platform,
                    platform_message_id: Some(r.platform_message_id.clone()),
                    created_at: self.clock.now(),
                },
                &outbox,
                &[],
            )
            .await?;
        match (&stored, &route) {
            (None, _) => tracing::info!("The agent reply was stored before."),
            (Some(_), ReplyRoute::Note(why)) => {
                tracing::info!(case_id = %case.id, agent = %agent, reason = ?why, "Agent reply kept as an internal note.");
            }
            (Some(_), _) => {
                tracing::info!(case_id = %case.id, agent = %agent, "Agent reply queued for the customer.");
                self.outbox_wake.notify_one();
            }
        }
        Ok(None)
    }

    async fn agent_action(
        &self,
        event: &InboundEvent,
        a: &AgentAction,
    ) -> Result<Option<String>, EngineError> {
        let platform = event.platform;
        // What the person is told is also the event's recorded problem, so
        // a platform that answers the click itself (Teams) can show it.
        let Some(agent) = self.agents.identify(platform, &a.actor) else {
            let text = format!(
                "You are not set up as a handoff agent, so this did nothing. Ask whoever runs handoff to add your {platform} id ({}) to your [[agents]] entry.",
                a.actor.user_id
            );
            if let Some(case) = self.store.case(a.case).await? {
                self.tell(event, &case, &a.actor, text.clone()).await?;
            }
            return Ok(Some(text));
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
            CaseAction::CorrectIntent { intent } => {
                if !self.intel.analyzer().intent_names().contains(intent) {
                    return Ok(Some(format!("{intent:?} is not an intent of the taxonomy")));
                }
                CaseCommand::CorrectIntent {
                    by: agent,
                    intent: intent.clone(),
                }
            }
        };
        let outcome = self.act(a.case, &command).await?;
        Ok(match outcome {
            CaseOutcome::Applied(_) => None,
            CaseOutcome::Refused(e, case) => {
                // The loser of a claim race (or anyone refused) is told why,
                // with the owner's name, where only they see it.
                let text = match &e {
                    TransitionError::AlreadyClaimed { by } => format!(
                        "{} already claimed this case.",
                        self.agents.display_name(by)
                    ),
                    TransitionError::NotOwner { owner } => format!(
                        "Only {} (the owner) can release this case.",
                        self.agents.display_name(owner)
                    ),
                    other => format!("That did not apply: {other}."),
                };
                self.tell(event, &case, &a.actor, text.clone()).await?;
                Some(text)
            }
            CaseOutcome::UnknownCase => Some(format!("case {} does not exist", a.case)),
        })
    }

    /// Tells one team member something only they see, beside the card.
    async fn tell(
        &self,
        event: &InboundEvent,
        case: &Case,
        user: &PlatformUser,
        text: String,
    ) -> Result<(), EngineError> {
        let platform = event.platform;
        let tell = NewOutbox {
            platform,
            ordering_key: format!("user:{platform}:{}", user.user_id),
            case: Some(case.id),
            idempotency_key: format!("{platform}:{}:told", event.event_id),
            command: OutboundCommand::Ephemeral {
                channel: case
                    .card
                    .as_ref()
                    .map_or_else(|| case.route.clone(), |c| c.channel.clone()),
                user: user.user_id.clone(),
                content: Content::text(text),
            },
        };
        self.store.enqueue(&[tell], self.clock.now()).await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// A reaction on a card does what the platform's reaction settings say
    /// (`:eyes:` claims), exactly as the matching button would.
    async fn reaction(
        &self,
        event: &InboundEvent,
        r: &Reaction,
    ) -> Result<Option<String>, EngineError> {
        let Some(reactions) = self.reactions.get(&event.platform) else {
            return Ok(Some(not_handled("reaction")));
        };
        if !r.added {
            return Ok(Some("taking a reaction away changes nothing".to_owned()));
        }
        let Some(action) = reactions.actions.get(&r.name) else {
            return Ok(Some(format!(":{}: has no meaning for handoff", r.name)));
        };
        let Some(case) = self.store.case_by_card(&r.message).await? else {
            return Ok(Some(
                "a reaction on a message that is not a card".to_owned(),
            ));
        };
        let action = AgentAction {
            case: case.id,
            actor: r.actor.clone(),
            action: action.clone(),
        };
        self.agent_action(event, &action).await
    }

    /// An agent changed or deleted a message under a card. A message that
    /// reached the customer cannot be changed on their side (the web chat
    /// has no edits), so they get a correction, or are asked to disregard
    /// a withdrawn message; notes stay notes.
    async fn agent_edit(
        &self,
        event: &InboundEvent,
        e: &AgentEdit,
    ) -> Result<Option<String>, EngineError> {
        let platform = event.platform;
        let (agent, case, conversation) =
            match self.under_card(platform, &e.actor, &e.thread).await? {
                Ok(found) => found,
                Err(why) => return Ok(Some(format!("{why}; the edit was not followed"))),
            };
        let original = self
            .stored_message(case.conversation, platform, &e.platform_message_id)
            .await?;
        let Some(original) = original else {
            return Ok(Some(
                "an edit of a message handoff never relayed".to_owned(),
            ));
        };
        if original.internal_note {
            return Ok(Some("an edited internal note stays internal".to_owned()));
        }
        let name = self.agents.display_name(&agent);
        let text = match e.text.as_deref().map(str::trim) {
            Some(t) if t == original.body.trim() => {
                return Ok(Some(
                    "an edit that changed nothing the customer sees".to_owned(),
                ));
            }
            Some("") | None => {
                format!("{name} withdrew their previous message; please disregard it.")
            }
            Some(t) => format!("Correction from {name}: {t}"),
        };
        let id = MessageId::new();
        let send = customer_send(
            &conversation,
            Some(case.id),
            format!("{platform}:{}:correction", event.event_id),
            render::agent_message(&text, &name, platform),
            Some(id),
        );
        self.store
            .add_message(
                &NewMessage {
                    id,
                    conversation: conversation.id,
                    case: Some(case.id),
                    author: AuthorKind::Agent,
                    author_id: Some(agent.to_string()),
                    body: text,
                    internal_note: false,
                    platform,
                    platform_message_id: Some(format!(
                        "{}:{}",
                        e.platform_message_id, event.event_id
                    )),
                    created_at: self.clock.now(),
                },
                &[send],
                &[],
            )
            .await?;
        tracing::info!(case_id = %case.id, agent = %agent, "An agent's edit is sent to the customer as a correction.");
        self.outbox_wake.notify_one();
        Ok(None)
    }

    /// Applies a command to a case, queuing the card update with it.
    pub async fn act(
        &self,
        case: handoff_core::CaseId,
        command: &CaseCommand,
    ) -> Result<CaseOutcome, EngineError> {
        let Some(current) = self.store.case(case).await? else {
            tracing::warn!(case_id = %case, "Command for an unknown case.");
            return Ok(CaseOutcome::UnknownCase);
        };
        let Some(conversation) = self.store.conversation_by_id(current.conversation).await? else {
            return Err(EngineError::Store(StoreError::Corrupt(format!(
                "case {case} names a missing conversation"
            ))));
        };
        let outcome =
            store::apply_case_command(&self.store, case, command, self.clock.now(), |t| {
                self.plan_transition(t, &conversation)
            })
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

impl<S: Store> Engine<S> {
    /// The case's card re-rendered as the case is now.
    fn card_update(&self, case: &Case, idempotency_key: String) -> NewOutbox {
        let link = self.link(case.id);
        NewOutbox {
            platform: route_platform(case),
            ordering_key: card_order_key(case),
            case: Some(case.id),
            idempotency_key,
            command: OutboundCommand::UpdateCard {
                case: case.id,
                card: case.card.clone(),
                content: render::card(case, &self.agents, link.as_deref()),
            },
        }
    }

    /// What every transition queues with it: the card re-rendered from the
    /// case as it is now, the customer notice the change calls for, the
    /// team note an escalation calls for, and the timers it arms.
    fn plan_transition(
        &self,
        t: &Transition,
        conversation: &Conversation,
    ) -> (Vec<NewOutbox>, Vec<NewTimer>) {
        let case = &t.after;
        let agents = &self.agents;
        let mut out =
            vec![self.card_update(case, format!("case:{}:v{}:card", case.id, case.version))];
        let mut notices = Vec::new();
        match &t.event {
            CaseEventKind::Claimed { by } | CaseEventKind::Reassigned { to: by, .. } => {
                notices.push((
                    "notice",
                    self.notices.joined(case, &agents.display_name(by)),
                ));
            }
            CaseEventKind::Resolved => {
                notices.push(("notice", self.notices.resolved(case)));
                notices.push(("csat", self.notices.csat(case)));
            }
            CaseEventKind::Escalated { from, to } => out.push(team_note(
                case,
                format!("case:{}:v{}:escalated", case.id, case.version),
                self.notices.escalated(case, from, to),
            )),
            _ => {}
        }
        out.extend(notices.into_iter().map(|(what, content)| {
            customer_send(
                conversation,
                Some(case.id),
                format!("case:{}:v{}:{what}", case.id, case.version),
                content,
                None,
            )
        }));
        (out, self.sla.arm_for(t))
    }

    /// How long customers have recently waited for an agent: the median
    /// time to claim over the last week's claimed cases.
    async fn typical_wait(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<chrono::Duration>, EngineError> {
        let recent = self
            .store
            .cases_since(now - chrono::Duration::days(7), 200)
            .await?;
        Ok(crate::report::typical_claim_wait(&recent))
    }

    /// The customer as the platform now describes them, and their
    /// conversation `conversation_ref`, created on first contact.
    async fn customer_in(
        &self,
        platform: Platform,
        identity: &handoff_core::CustomerIdentity,
        conversation_ref: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(store::Customer, Conversation), EngineError> {
        let customer = self.store.upsert_customer(platform, identity, now).await?;
        let conversation = self
            .store
            .conversation(customer.id, platform, conversation_ref, now)
            .await?;
        Ok((customer, conversation))
    }

    /// A message of `conversation` by the id `platform` gave it (the one an
    /// edit or deletion points at).
    async fn stored_message(
        &self,
        conversation: handoff_core::ConversationId,
        platform: Platform,
        platform_message_id: &str,
    ) -> Result<Option<store::Message>, EngineError> {
        Ok(self
            .store
            .messages(conversation)
            .await?
            .into_iter()
            .find(|m| {
                m.platform == platform
                    && m.platform_message_id.as_deref() == Some(platform_message_id)
            }))
    }

    /// The customer's message as the team sees it in the card's thread:
    /// text with card numbers (and whatever else policy names) masked. No
    /// post while there is no open case (the card carries the transcript).
    fn thread_post(
        &self,
        case: Option<&Case>,
        name: Option<&str>,
        text: &str,
        idempotency_key: String,
        message: Option<MessageId>,
    ) -> Vec<NewOutbox> {
        case.filter(|c| c.state != CaseState::Resolved)
            .map(|c| NewOutbox {
                platform: route_platform(c),
                ordering_key: card_order_key(c),
                case: Some(c.id),
                idempotency_key,
                command: OutboundCommand::PostInThread {
                    case: c.id,
                    thread: c.card.clone(),
                    content: render::customer_in_thread(name, &self.intel.redact(text)),
                    message,
                },
            })
            .into_iter()
            .collect()
    }

    /// A customer changed or withdrew a message: the transcript keeps both
    /// versions, and the team sees the change in the card's thread. It is
    /// not analysed again (a deletion is not the customer repeating
    /// themselves, and an edit already counted as written).
    async fn customer_edit(
        &self,
        event: &InboundEvent,
        e: &handoff_core::CustomerEdit,
    ) -> Result<Option<String>, EngineError> {
        let now = self.clock.now();
        let Some(conversation) = self
            .store
            .conversation_by_ref(event.platform, &e.conversation)
            .await?
        else {
            return Ok(Some(
                "an edit in a conversation handoff never stored".to_owned(),
            ));
        };
        let original = self
            .stored_message(conversation.id, event.platform, &e.platform_message_id)
            .await?;
        let Some(original) = original else {
            return Ok(Some(
                "an edit of a customer message handoff never stored".to_owned(),
            ));
        };
        let body = match e.text.as_deref() {
            Some(t) if t.trim() == original.body.trim() => {
                return Ok(Some("an edit that changed nothing".to_owned()));
            }
            Some(t) => format!("(edited) {t}"),
            None => format!("(deleted their message) {}", original.body),
        };
        let case = self.store.latest_case(conversation.id).await?;
        let id = MessageId::new();
        let outbox = self.thread_post(
            case.as_ref(),
            e.customer.as_ref().and_then(|c| c.display_name.as_deref()),
            &body,
            format!("{}:{}:thread", event.platform, event.event_id),
            Some(id),
        );
        self.store
            .add_message(
                &NewMessage {
                    id,
                    conversation: conversation.id,
                    case: case.as_ref().map(|c| c.id),
                    author: AuthorKind::Customer,
                    author_id: original.author_id.clone(),
                    body,
                    internal_note: false,
                    platform: event.platform,
                    // The original keeps its platform id; the event's own id
                    // already makes a redelivered edit a duplicate.
                    platform_message_id: None,
                    created_at: now,
                },
                &outbox,
                &[],
            )
            .await?;
        self.outbox_wake.notify_one();
        Ok(None)
    }

    /// A customer rated their latest case.
    async fn customer_rating(
        &self,
        event: &InboundEvent,
        r: &handoff_core::CustomerRating,
    ) -> Result<Option<String>, EngineError> {
        let now = self.clock.now();
        let (_, conversation) = self
            .customer_in(event.platform, &r.customer, &r.conversation, now)
            .await?;
        let Some(case) = self.store.latest_case(conversation.id).await? else {
            return Ok(Some(
                "a rating for a conversation without a case".to_owned(),
            ));
        };
        Ok(
            match self
                .act(case.id, &CaseCommand::Rate { score: r.score })
                .await?
            {
                CaseOutcome::Applied(_) => {
                    tracing::info!(case_id = %case.id, score = r.score, "Customer rated the case.");
                    None
                }
                CaseOutcome::Refused(e, _) => Some(format!("rating refused: {e}")),
                CaseOutcome::UnknownCase => Some(format!("case {} vanished", case.id)),
            },
        )
    }

    /// Fires every due SLA timer. Each acts on the case as it is now and
    /// queues its messages under keys derived from the timer, so a timer
    /// fired twice (a crash before it was marked done) queues them once.
    /// Returns how many timers it finished.
    pub async fn fire_due_timers(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let due = self.store.due_timers(now, SWEEP_BATCH).await?;
        for timer in &due {
            let outcome = self.fire(timer, now).await?;
            tracing::info!(case_id = %timer.case, timer = timer.kind.as_str(), outcome = %outcome, "SLA timer fired.");
            self.store.finish_timer(timer.id, now, &outcome).await?;
        }
        if !due.is_empty() {
            self.outbox_wake.notify_one();
        }
        Ok(due.len())
    }

    async fn fire(
        &self,
        timer: &crate::sla::Timer,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, EngineError> {
        let Some(case) = self.store.case(timer.case).await? else {
            return Ok("nothing: the case is gone".to_owned());
        };
        let unanswered = if timer.kind == crate::sla::TimerKind::RemindOwner {
            let messages = self.store.messages(case.conversation).await?;
            crate::sla::oldest_unanswered(messages.iter().map(|m| {
                (
                    m.author == AuthorKind::Customer,
                    m.author == AuthorKind::Agent && !m.internal_note,
                    m.id,
                    m.created_at,
                )
            }))
        } else {
            None
        };
        let key = |what: &str| format!("timer:{}:{what}", timer.id);
        match crate::sla::decide(&self.sla, timer, &case, unanswered) {
            Due::Reannounce => {
                let Some(conversation) = self.store.conversation_by_id(case.conversation).await?
                else {
                    return Ok("nothing: the conversation is gone".to_owned());
                };
                let mention = self
                    .intel
                    .routing()
                    .named(&case.route)
                    .target(crate::cases::Urgency::Urgent)
                    .mention;
                let waited = now - case.opened_at;
                self.store
                    .enqueue(
                        &[
                            team_note(
                                &case,
                                key("reannounce"),
                                self.notices.reannounce(&case, mention.as_deref(), waited),
                            ),
                            customer_send(
                                &conversation,
                                Some(case.id),
                                key("still_waiting"),
                                self.notices.still_waiting(&case, waited),
                                None,
                            ),
                        ],
                        now,
                    )
                    .await?;
                Ok("reannounced".to_owned())
            }
            Due::Escalate { route } => {
                let target = self
                    .intel
                    .routing()
                    .named(&route)
                    .target(crate::cases::Urgency::Urgent);
                let command = CaseCommand::Escalate {
                    route: route.clone(),
                    urgency: crate::cases::Urgency::High,
                    mention: target.mention,
                };
                Ok(match self.act(case.id, &command).await? {
                    CaseOutcome::Applied(_) => format!("escalated to {route}"),
                    CaseOutcome::Refused(e, _) => format!("nothing: {e}"),
                    CaseOutcome::UnknownCase => "nothing: the case is gone".to_owned(),
                })
            }
            Due::RemindOwner { owner, since } => {
                self.store
                    .enqueue(
                        &[team_note(
                            &case,
                            key("remind"),
                            self.notices
                                .reminder(&self.agents.display_name(&owner), now - since),
                        )],
                        now,
                    )
                    .await?;
                Ok(format!("reminded {owner}"))
            }
            Due::Nothing(why) => Ok(format!("nothing: {why}")),
        }
    }

    /// Fires due timers every `every` until `shutdown`.
    pub async fn run_timers(&self, every: std::time::Duration, shutdown: CancellationToken) {
        every_until(every, &shutdown, "Firing SLA timers", || async {
            self.fire_due_timers().await.map(drop)
        })
        .await;
    }
}

/// The customer could not be reached: the card says so from now on, and
/// when no receipt already explained it under the agent's message, a note in
/// the card's thread tells the team why.
#[async_trait::async_trait]
impl<S: Store> crate::outbox::Unreachable for Engine<S> {
    async fn customer_unreachable(&self, item: &crate::store::OutboxItem, reason: &str) {
        // A receipt already explained it under the agent's message.
        let note = (!matches!(
            &item.command,
            OutboundCommand::SendToCustomer {
                receipt: Some(_),
                ..
            }
        ))
        .then(|| {
            Content::text(format!(
                "A message did not reach the customer and will not be retried: {reason}"
            ))
        });
        if let Err(e) = self.refresh_card(item, "unreachable", note).await {
            tracing::error!(case_id = ?item.case, error = %e, "Could not mark the card: the customer is unreachable.");
        }
    }

    async fn customer_reached(&self, item: &crate::store::OutboxItem) {
        let Some(case) = item.case else { return };
        let refreshed = match self.store.clear_delivery_error(case).await {
            Ok(true) => self.refresh_card(item, "reached", None).await,
            Ok(false) => Ok(()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = refreshed {
            tracing::error!(case_id = %case, error = %e, "Could not clear the card's delivery problem.");
        }
    }
}

impl<S: Store> Engine<S> {
    /// Re-renders the card of `item`'s case as the case is now (its
    /// delivery problem set or cleared), with `note`, if any, in its thread.
    async fn refresh_card(
        &self,
        item: &crate::store::OutboxItem,
        why: &str,
        note: Option<Content>,
    ) -> Result<(), EngineError> {
        let Some(case) = item.case else {
            return Ok(());
        };
        let Some(case) = self.store.case(case).await? else {
            return Ok(());
        };
        let mut out = vec![self.card_update(&case, format!("outbox:{}:{why}:card", item.id))];
        if let Some(note) = note {
            out.push(team_note(
                &case,
                format!("outbox:{}:{why}:note", item.id),
                note,
            ));
        }
        self.store.enqueue(&out, self.clock.now()).await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}

/// Runs `work` every `every` until `shutdown`; a failure is logged as
/// `what` and tried again at the next tick.
async fn every_until<F, Fut>(
    every: std::time::Duration,
    shutdown: &CancellationToken,
    what: &str,
    work: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), EngineError>>,
{
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = work().await {
            tracing::error!(error = %e, "{what} failed; will retry.");
        }
    }
}

/// A note for the team in the case's thread.
/// Tells the agent which of the files they shared did not go to the
/// customer, and what to do instead.
fn withheld_note(case: &Case, platform: Platform, r: &AgentReply) -> NewOutbox {
    team_note(
        case,
        format!("{platform}:{}:withheld", r.platform_message_id),
        Content::text(format!(
            "Not sent to the customer: {}. The customer cannot open files shared here; share a public link instead.",
            r.withheld.join(", ")
        )),
    )
}

fn team_note(case: &Case, idempotency_key: String, content: Content) -> NewOutbox {
    NewOutbox {
        platform: route_platform(case),
        ordering_key: card_order_key(case),
        case: Some(case.id),
        idempotency_key,
        command: OutboundCommand::PostInThread {
            case: case.id,
            thread: case.card.clone(),
            content,
            message: None,
        },
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

/// Recorded on an event whose kind this version stores but does not act on,
/// so it is visibly set aside rather than silently dropped or retried forever.
fn not_handled(kind: &str) -> String {
    format!("{kind} events are not handled by this version of handoff")
}

/// The team-side platform a case's card lives on: where its card was
/// posted, else where it is going (cases opened before that was recorded
/// went to the inbox).
fn route_platform(case: &Case) -> Platform {
    case.card
        .as_ref()
        .map(|c| c.platform)
        .or(case.details.team)
        .unwrap_or(Platform::Inbox)
}

/// Every command touching one card shares an order key.
fn card_order_key(case: &Case) -> String {
    crate::outbox::card_ordering_key(case.id)
}

/// Everything said to one customer conversation shares an order key.
fn conversation_order_key(conversation: &Conversation) -> String {
    format!("conversation:{}", conversation.id)
}

/// A customer's text with the files they attached listed after it, so the
/// team and the transcript see them as links.
fn with_attachments(text: &str, attachments: &[handoff_core::Attachment]) -> String {
    let mut body = text.to_owned();
    for a in attachments {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(&format!("[attachment] {} {}", a.name, a.url));
    }
    body
}

/// A message to the customer, in their conversation's order.
fn customer_send(
    conversation: &Conversation,
    case: Option<CaseId>,
    idempotency_key: String,
    content: Content,
    message: Option<MessageId>,
) -> NewOutbox {
    NewOutbox {
        platform: conversation.platform,
        ordering_key: conversation_order_key(conversation),
        case,
        idempotency_key,
        command: OutboundCommand::SendToCustomer {
            conversation: conversation.external_ref.clone(),
            content,
            message,
            receipt: None,
        },
    }
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
            password_hash: None,
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
