//! Durable state: one [`Store`] trait, one implementation per backend.
//!
//! SQLite (a file, no server) is the embedded default; PostgreSQL is the
//! production store and the way to run several replicas. Both are written by
//! one set of SQL statements in [`sql`] (sqlx accepts `$1` placeholders on
//! both), with the few real differences (transaction start, row locking)
//! passed in per backend. Both pass the one contract suite in
//! `tests/store_contract.rs`. The backend is chosen once, in `main`, from the
//! `DATABASE_URL` scheme, and the engine is generic over it.

use std::future::Future;

pub use crate::sla::{NewTimer, Timer};
use chrono::{DateTime, Utc};
use handoff_core::{
    AgentId, CaseId, Content, ConversationId, CustomerId, CustomerIdentity, InboundEvent,
    MessageId, MessageRef, OutboundCommand, Platform,
};
pub use handoff_webchat::{FeedEntry, NewFeedEntry, NewSession, Session};
use serde::{Deserialize, Serialize};

use crate::cases::{Case, CaseCommand, CaseDetails, Transition, TransitionError, Urgency};

pub mod postgres;
mod sql;
pub mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Everything that can go wrong in the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `DATABASE_URL` names a database handoff cannot use.
    #[error("DATABASE_URL has an unsupported scheme {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database {target}: {source}")]
    Connect {
        /// The URL with any password removed.
        target: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The database was migrated by a newer handoff.
    #[error(
        "the database schema is at version {found}, newer than this handoff knows (up to {known}); \
         run the newer handoff or point DATABASE_URL at another database"
    )]
    SchemaTooNew {
        /// The newest version applied to the database.
        found: i64,
        /// The newest version this binary ships.
        known: i64,
    },
    /// The database has not been migrated to this binary's schema.
    #[error(
        "the database schema is at version {found}, this handoff needs {needed}: run `handoff migrate`"
    )]
    NotMigrated {
        /// What the database has (0 for none).
        found: i64,
        /// What this binary needs.
        needed: i64,
    },
    /// A migration could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A stored value cannot be read back (hand-edited row, bad JSON).
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Whether an inbound event was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundRecord {
    /// Stored for the first time, at this position in the inbound log.
    Accepted {
        /// Its position in the log.
        seq: i64,
    },
    /// The platform sent this event id before: acknowledge and ignore.
    Duplicate,
}

/// How far an inbound event has come, for a platform that must answer
/// with the outcome (a Teams card action's response shows the card after
/// the click).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundProgress {
    /// Stored, not processed yet.
    Pending,
    /// Processed; with the reason when it could not be acted on.
    Processed {
        /// Why nothing was done (unknown agent, refused transition).
        problem: Option<String>,
    },
}

/// An inbound event waiting to be processed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredInbound {
    /// Position in the inbound log.
    pub seq: i64,
    /// The event as received.
    pub event: InboundEvent,
}

/// A customer as stored: one identity on one platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// handoff's id.
    pub id: CustomerId,
    /// The platform this identity lives on.
    pub platform: Platform,
    /// The platform's id.
    pub external_id: String,
    /// Name to show agents.
    pub display_name: Option<String>,
    /// Email, when known.
    pub email: Option<String>,
    /// Plan, VIP and similar.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// handoff's id.
    pub id: ConversationId,
    /// Who it is with.
    pub customer: CustomerId,
    /// The customer-side platform.
    pub platform: Platform,
    /// The platform's key for it (replies go there).
    pub external_ref: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When the last message was stored.
    pub last_message_at: DateTime<Utc>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorKind {
    /// The customer.
    Customer,
    /// handoff's automation (first responder, notices).
    Bot,
    /// A person on the team.
    Agent,
    /// handoff itself (state changes shown in the transcript).
    System,
}

impl AuthorKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorKind::Customer => "customer",
            AuthorKind::Bot => "bot",
            AuthorKind::Agent => "agent",
            AuthorKind::System => "system",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        [
            AuthorKind::Customer,
            AuthorKind::Bot,
            AuthorKind::Agent,
            AuthorKind::System,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown author kind {s:?}")))
    }
}

/// A message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Its id (chosen by the caller so outbox rows can name it).
    pub id: MessageId,
    /// The conversation it belongs to.
    pub conversation: ConversationId,
    /// The case it was written under, if any.
    pub case: Option<CaseId>,
    /// Who wrote it.
    pub author: AuthorKind,
    /// The author's id (agent key, bot name), if any.
    pub author_id: Option<String>,
    /// The text.
    pub body: String,
    /// Internal notes never reach the customer.
    pub internal_note: bool,
    /// Where it was written.
    pub platform: Platform,
    /// The platform's id of it; the same id twice is stored once.
    pub platform_message_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// Its case, if any.
    pub case: Option<CaseId>,
    /// Who wrote it.
    pub author: AuthorKind,
    /// The author's id.
    pub author_id: Option<String>,
    /// The text.
    pub body: String,
    /// True for internal notes.
    pub internal_note: bool,
    /// Where it was written.
    pub platform: Platform,
    /// The platform's id of it.
    pub platform_message_id: Option<String>,
    /// The copy on the other side, once delivered.
    pub relayed: Option<MessageRef>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A case to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    /// Its id (chosen by the caller so outbox rows can name it).
    pub id: CaseId,
    /// The conversation escalated.
    pub conversation: ConversationId,
    /// Main reason code.
    pub reason: String,
    /// Every reason that fired.
    pub reasons: Vec<String>,
    /// How urgent.
    pub urgency: Urgency,
    /// Detected intent.
    pub intent: Option<String>,
    /// Sentiment score.
    pub sentiment: Option<f64>,
    /// Summary for the card.
    pub summary: String,
    /// The route chosen.
    pub route: String,
    /// The agent who handled this customer last, if any.
    pub previous_owner: Option<AgentId>,
    /// When.
    pub opened_at: DateTime<Utc>,
    /// What the card shows besides the state.
    pub details: CaseDetails,
}

impl NewCase {
    /// The case as [`Store::open_case`] will store it, for rendering its
    /// first card before it exists.
    pub fn as_open_case(&self) -> Case {
        Case {
            id: self.id,
            conversation: self.conversation,
            state: crate::cases::CaseState::Open,
            previous_owner: self.previous_owner.clone(),
            reason: self.reason.clone(),
            reasons: self.reasons.clone(),
            urgency: self.urgency,
            intent: self.intent.clone(),
            sentiment: self.sentiment,
            summary: self.summary.clone(),
            route: self.route.clone(),
            opened_at: self.opened_at,
            claimed_at: None,
            first_agent_reply_at: None,
            resolved_at: None,
            reopen_count: 0,
            card: None,
            last_delivery_error: None,
            version: 0,
            details: self.details.clone(),
        }
    }
}

/// One entry of a case's append-only history.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseEvent {
    /// Position in the log.
    pub id: i64,
    /// The case.
    pub case: CaseId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`agent:alice`, `customer`, `system`).
    pub actor: String,
    /// What kind of event (`claimed`, `delivery_failed`, …).
    pub kind: String,
    /// The event's details as JSON.
    pub detail: serde_json::Value,
}

/// An outbound command to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbox {
    /// The platform that must carry it out.
    pub platform: Platform,
    /// Commands with the same key are delivered strictly in order (one
    /// conversation's messages, one card's updates).
    pub ordering_key: String,
    /// The case it belongs to, so a failure shows on the case.
    pub case: Option<CaseId>,
    /// Unique per command; queuing the same key twice queues it once, and the
    /// adapter passes it to the platform on every attempt.
    pub idempotency_key: String,
    /// What to do.
    pub command: OutboundCommand,
}

/// An outbox row taken by a worker for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Row id.
    pub id: i64,
    /// Target platform.
    pub platform: Platform,
    /// Order key.
    pub ordering_key: String,
    /// The case, if any.
    pub case: Option<CaseId>,
    /// The idempotency key.
    pub idempotency_key: String,
    /// The command.
    pub command: OutboundCommand,
    /// Attempts already counted before this one.
    pub attempts: i64,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// Where an outbox row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// The platform accepted it.
    Delivered,
    /// Given up; `last_error` says why.
    Dead,
}

/// An outbox row as an operator sees it (case view, diagnostics).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    /// The row as a worker would take it.
    pub item: OutboxItem,
    /// Its state.
    pub state: OutboxState,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When it is due next (pending rows).
    pub next_attempt_at: DateTime<Utc>,
    /// What the platform returned, once delivered.
    pub reference: Option<MessageRef>,
}

/// What a successful delivery changes besides the outbox row.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Nothing else.
    Nothing,
    /// The case's card now exists at this reference.
    CardPosted {
        /// The case.
        case: CaseId,
    },
    /// A stored message was relayed; its copy is at this reference.
    MessageRelayed {
        /// The message.
        message: MessageId,
    },
}

/// A conversation waiting on an answer, with what the triggers need.
#[derive(Debug, Clone, PartialEq)]
pub struct QuietConversation {
    /// The conversation.
    pub conversation: ConversationId,
    /// Its customer.
    pub customer: CustomerId,
    /// Where the customer writes.
    pub platform: Platform,
    /// The customer's metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Outbox depth per platform, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxDepth {
    /// The platform.
    pub platform: Platform,
    /// Rows waiting for delivery.
    pub pending: i64,
    /// Rows given up.
    pub dead: i64,
}

/// Work one replica does at a time, held while this lives.
#[derive(Debug)]
pub enum Lease {
    /// SQLite serves one process: the lease is always its own.
    Local,
    /// A PostgreSQL session advisory lock, held by this connection (out of
    /// the pool, so dropping it closes the session and frees the lock).
    Postgres(sqlx::PgConnection),
}

impl Lease {
    /// Whether it is still held: a dead connection has lost its lock, and
    /// another replica may already have taken it.
    pub async fn alive(&mut self) -> bool {
        match self {
            Lease::Local => true,
            Lease::Postgres(conn) => sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok(),
        }
    }

    /// Gives the lease up and returns once another replica can take it.
    /// Merely dropping it frees it too, but only when the server notices
    /// the closed socket, a moment later.
    pub async fn release(self) {
        if let Lease::Postgres(conn) = self {
            // The server frees session locks before it ends the session,
            // so once the close is answered the lock is free.
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

/// Durable state behind handoff. Every method is one round trip or one
/// transaction: callers never hold a transaction open across an `await` of
/// their own.
pub trait Store: Clone + Send + Sync + 'static {
    /// `sqlite` or `postgres`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Takes the lease on work only one replica may do at a time (the
    /// Discord gateway connection); `None` while another replica holds it.
    /// It is held until the [`Lease`] is dropped or its connection dies.
    fn lease(&self, name: &str) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;

    /// Applies pending migrations. Refuses a database migrated by a newer
    /// handoff without touching it.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ok when the database answers and carries exactly this binary's schema.
    fn ready(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores an inbound event unless its (platform, event id) was seen before.
    fn record_inbound(
        &self,
        event: &InboundEvent,
    ) -> impl Future<Output = Result<InboundRecord, StoreError>> + Send;

    /// Stored events not yet processed, oldest first.
    fn pending_inbound(
        &self,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<StoredInbound>, StoreError>> + Send;

    /// Marks an inbound event processed, with the error if processing failed
    /// for good.
    fn finish_inbound(
        &self,
        seq: i64,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates or refreshes a customer identity; known fields are kept when
    /// the platform sends fewer.
    fn upsert_customer(
        &self,
        platform: Platform,
        identity: &CustomerIdentity,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Customer, StoreError>> + Send;

    /// The conversation with this platform key, created for `customer` when new.
    fn conversation(
        &self,
        customer: CustomerId,
        platform: Platform,
        external_ref: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Conversation, StoreError>> + Send;

    /// Stores a message and the commands it causes in one transaction.
    /// `None` when the platform message id was stored before (nothing queued).
    fn add_message(
        &self,
        message: &NewMessage,
        outbox: &[NewOutbox],
        timers: &[NewTimer],
    ) -> impl Future<Output = Result<Option<Message>, StoreError>> + Send;

    /// A conversation's messages in the order they were written.
    fn messages(
        &self,
        conversation: ConversationId,
    ) -> impl Future<Output = Result<Vec<Message>, StoreError>> + Send;

    /// Opens a case, logs it, and queues its commands and timers, in one
    /// transaction.
    fn open_case(
        &self,
        case: &NewCase,
        outbox: &[NewOutbox],
        timers: &[NewTimer],
    ) -> impl Future<Output = Result<Case, StoreError>> + Send;

    /// One case.
    fn case(&self, id: CaseId) -> impl Future<Output = Result<Option<Case>, StoreError>> + Send;

    /// The newest case of a conversation, whatever its state.
    fn latest_case(
        &self,
        conversation: ConversationId,
    ) -> impl Future<Output = Result<Option<Case>, StoreError>> + Send;

    /// The case whose card is at `card` (for replies and reactions on it).
    fn case_by_card(
        &self,
        card: &MessageRef,
    ) -> impl Future<Output = Result<Option<Case>, StoreError>> + Send;

    /// Writes a transition with its event, commands and timers in one
    /// transaction, if and only if the case is still at
    /// `transition.before.version`; a change of state or owner ends the
    /// case's pending timers in it. Returns false when someone else changed
    /// the case first.
    fn commit_transition(
        &self,
        transition: &Transition,
        outbox: &[NewOutbox],
        timers: &[NewTimer],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A case's history, oldest first.
    fn case_events(
        &self,
        case: CaseId,
    ) -> impl Future<Output = Result<Vec<CaseEvent>, StoreError>> + Send;

    /// Queues commands that come with no state change.
    fn enqueue(
        &self,
        outbox: &[NewOutbox],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes up to `limit` due commands for `worker` until `lease_until`:
    /// only the oldest pending command of each ordering key, and none that
    /// another worker holds. A worker that dies loses its lease and the
    /// commands are taken again.
    fn claim_outbox(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<OutboxItem>, StoreError>> + Send;

    /// Records a delivery and what it changes, in one transaction.
    fn outbox_delivered(
        &self,
        id: i64,
        reference: Option<&MessageRef>,
        completion: &Completion,
        follow_up: &[NewOutbox],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Schedules another attempt.
    fn outbox_retry(
        &self,
        id: i64,
        attempts: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives a command up, and records why on its case.
    fn outbox_dead(
        &self,
        id: i64,
        attempts: i64,
        error: &str,
        follow_up: &[NewOutbox],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Pending and dead counts per platform.
    fn outbox_depth(&self) -> impl Future<Output = Result<Vec<OutboxDepth>, StoreError>> + Send;

    /// The agent who last resolved a case of `customer` at or after
    /// `since` (for "previous agent" on a new card).
    fn previous_agent(
        &self,
        customer: CustomerId,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<AgentId>, StoreError>> + Send;

    /// Conversations never escalated whose last message is the customer's
    /// and was written between `from` and `until`, oldest first (for the
    /// unanswered-message timer).
    fn quiet_conversations(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<QuietConversation>, StoreError>> + Send;

    /// Where to resume reading each recently active conversation on
    /// `platform` (active since `since`, newest first): its key and the
    /// platform id of the last customer message stored in it, if any. Used
    /// to catch up on what customers wrote while handoff was not listening.
    fn conversation_cursors(
        &self,
        platform: Platform,
        since: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(String, Option<String>)>, StoreError>> + Send;

    /// Every outbound command of a case, oldest first.
    fn case_outbox(
        &self,
        case: CaseId,
    ) -> impl Future<Output = Result<Vec<OutboxRecord>, StoreError>> + Send;

    /// Forgets a case's delivery problem (a message reached the customer
    /// since); true when there was one.
    fn clear_delivery_error(
        &self,
        case: CaseId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One conversation by the platform's key for it.
    fn conversation_by_ref(
        &self,
        platform: Platform,
        external_ref: &str,
    ) -> impl Future<Output = Result<Option<Conversation>, StoreError>> + Send;

    /// One conversation by id.
    fn conversation_by_id(
        &self,
        id: ConversationId,
    ) -> impl Future<Output = Result<Option<Conversation>, StoreError>> + Send;

    /// The value of a generated setting (a signing key), storing `fresh` as
    /// its value the first time; every replica then reads the same value.
    fn setting(
        &self,
        name: &str,
        fresh: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// A setting handoff learned from a platform (the Teams service URL),
    /// replacing any earlier value.
    fn put_setting(
        &self,
        name: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A stored setting, if any.
    fn get_setting(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// How far the stored event (platform, event id) has come; `None` when
    /// it was never stored.
    fn inbound_progress(
        &self,
        platform: Platform,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<InboundProgress>, StoreError>> + Send;

    /// Stores a new web chat session.
    fn webchat_create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The web chat session of a token hash, marked seen at `now`.
    fn webchat_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Stores a customer's web chat message: its feed entry and its inbound
    /// event, in one transaction. Returns whether the event was new and the
    /// entry's position (the existing one for a resend).
    fn webchat_accept(
        &self,
        entry: &NewFeedEntry,
        event: &InboundEvent,
    ) -> impl Future<Output = Result<(InboundRecord, i64), StoreError>> + Send;

    /// Appends an entry to a visitor's feed, once per `dedupe`; its position.
    fn webchat_append(
        &self,
        entry: &NewFeedEntry,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// A visitor's feed after position `after`, oldest first.
    fn webchat_feed(
        &self,
        conversation: &str,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<FeedEntry>, StoreError>> + Send;

    /// Stores (or replaces) the inbox's copy of a card.
    fn inbox_put_card(
        &self,
        card: &InboxCard,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The inbox's cards, most recently changed first.
    fn inbox_cards(
        &self,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<InboxCard>, StoreError>> + Send;

    /// Pending timers due at `now`, soonest first.
    fn due_timers(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Timer>, StoreError>> + Send;

    /// Marks a timer done with what it did.
    fn finish_timer(
        &self,
        id: i64,
        now: DateTime<Utc>,
        outcome: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A case's timers, pending and done, in the order they were armed.
    fn case_timers(
        &self,
        case: CaseId,
    ) -> impl Future<Output = Result<Vec<TimerRecord>, StoreError>> + Send;

    /// Cases opened (or reopened) at or after `since`, newest first.
    fn cases_since(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Case>, StoreError>> + Send;
}

/// A timer with how it ended, for diagnostics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRecord {
    /// The timer.
    pub timer: Timer,
    /// When it fired or was superseded.
    pub done_at: Option<DateTime<Utc>>,
    /// What it did (`reannounced`, `superseded`, `nothing: …`).
    pub outcome: Option<String>,
}

/// The inbox's copy of a handoff card.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxCard {
    /// The case it shows.
    pub case: CaseId,
    /// The queue (route) it was posted to.
    pub channel: String,
    /// The card as last delivered.
    pub content: Content,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What [`apply_case_command`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    /// The command applied; the case as stored now.
    Applied(Box<Transition>),
    /// The command does not apply to the case as it is; the reason and the
    /// case as read (so the caller can say who holds it).
    Refused(TransitionError, Box<Case>),
    /// No such case.
    UnknownCase,
}

/// Reads a case, applies `command` with the pure state machine, and writes
/// the result with compare-and-set, retrying from a fresh read when another
/// writer got there first. `plan` turns the transition into the commands to
/// queue with it (card update, customer notice) and the timers it arms,
/// inside the same transaction.
///
/// This is why exactly one of many concurrent claims wins: each losing
/// writer re-reads, finds the case claimed, and is refused with the owner.
pub async fn apply_case_command<S, P>(
    store: &S,
    id: CaseId,
    command: &CaseCommand,
    now: DateTime<Utc>,
    plan: P,
) -> Result<CaseOutcome, StoreError>
where
    S: Store,
    P: Fn(&Transition) -> (Vec<NewOutbox>, Vec<NewTimer>),
{
    loop {
        let Some(case) = store.case(id).await? else {
            return Ok(CaseOutcome::UnknownCase);
        };
        let transition = match crate::cases::apply(&case, command, now) {
            Ok(t) => t,
            Err(e) => return Ok(CaseOutcome::Refused(e, Box::new(case))),
        };
        let (outbox, timers) = plan(&transition);
        if store
            .commit_transition(&transition, &outbox, &timers)
            .await?
        {
            return Ok(CaseOutcome::Applied(Box::new(transition)));
        }
        tracing::debug!(case_id = %id, "Case changed while applying a command; reading it again.");
    }
}

/// Which backend a `DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:` URL (or none: `handoff.db` in the working directory).
    Sqlite(String),
    /// `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// The default when `DATABASE_URL` is unset.
    pub const DEFAULT: &'static str = "sqlite://handoff.db";

    /// Picks the backend from the scheme.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(DatabaseUrl::Sqlite(url.to_owned())),
            "postgres" | "postgresql" => Ok(DatabaseUrl::Postgres(url.to_owned())),
            _ => Err(StoreError::UnsupportedUrl(scheme.to_owned())),
        }
    }
}

/// A URL with its password replaced, safe for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert!(matches!(
            DatabaseUrl::parse("sqlite://x.db"),
            Ok(DatabaseUrl::Sqlite(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        let err = DatabaseUrl::parse("mysql://h/db").unwrap_err();
        assert!(err.to_string().contains("\"mysql\""), "{err}");
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://bob:hunter2@db:5432/handoff"),
            "postgres://bob:***@db:5432/handoff"
        );
        assert_eq!(redact_url("postgres://db/handoff"), "postgres://db/handoff");
        assert_eq!(redact_url("sqlite://handoff.db"), "sqlite://handoff.db");
    }
}
