//! The SQL both backends share, and the conversion of rows to records.
//!
//! sqlx binds `$1`-style placeholders on SQLite as on PostgreSQL, and both
//! speak `ON CONFLICT … DO NOTHING` and `RETURNING`, so every statement is
//! written once. [`impl_sql_store!`] expands the [`Store`](super::Store)
//! implementation for a backend from these statements; a backend supplies
//! only how a write transaction starts and how outbox rows are locked.

use chrono::{DateTime, Utc};
use handoff_core::{
    AgentId, CaseId, ConversationId, CustomerId, InboundEvent, MessageId, MessageRef,
    OutboundCommand, Platform,
};
use sqlx::types::Json;
use uuid::Uuid;

use super::{
    AuthorKind, CaseEvent, Conversation, Customer, Message, OutboxItem, OutboxRecord, OutboxState,
    StoreError,
};
use crate::cases::{Case, CaseDetails, CaseState, Urgency};

pub(super) fn platform(s: &str) -> Result<Platform, StoreError> {
    s.parse()
        .map_err(|e: handoff_core::refs::UnknownPlatform| StoreError::Corrupt(e.to_string()))
}

fn message_ref(
    platform_name: Option<String>,
    channel: Option<String>,
    id: Option<String>,
) -> Result<Option<MessageRef>, StoreError> {
    match (platform_name, channel, id) {
        (Some(p), Some(c), Some(m)) => Ok(Some(MessageRef::new(platform(&p)?, c, m))),
        _ => Ok(None),
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CustomerRow {
    id: Uuid,
    platform: String,
    external_id: String,
    display_name: Option<String>,
    email: Option<String>,
    metadata: Json<serde_json::Map<String, serde_json::Value>>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;

    fn try_from(r: CustomerRow) -> Result<Self, StoreError> {
        Ok(Customer {
            id: CustomerId(r.id),
            platform: platform(&r.platform)?,
            external_id: r.external_id,
            display_name: r.display_name,
            email: r.email,
            metadata: r.metadata.0,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ConversationRow {
    id: Uuid,
    customer_id: Uuid,
    platform: String,
    external_ref: String,
    created_at: DateTime<Utc>,
    last_message_at: DateTime<Utc>,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;

    fn try_from(r: ConversationRow) -> Result<Self, StoreError> {
        Ok(Conversation {
            id: ConversationId(r.id),
            customer: CustomerId(r.customer_id),
            platform: platform(&r.platform)?,
            external_ref: r.external_ref,
            created_at: r.created_at,
            last_message_at: r.last_message_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: Uuid,
    conversation_id: Uuid,
    case_id: Option<Uuid>,
    author_kind: String,
    author_id: Option<String>,
    body: String,
    internal_note: bool,
    platform: String,
    platform_message_id: Option<String>,
    relayed_platform: Option<String>,
    relayed_channel: Option<String>,
    relayed_message_id: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            id: MessageId(r.id),
            conversation: ConversationId(r.conversation_id),
            case: r.case_id.map(CaseId),
            author: AuthorKind::parse(&r.author_kind)?,
            author_id: r.author_id,
            body: r.body,
            internal_note: r.internal_note,
            platform: platform(&r.platform)?,
            platform_message_id: r.platform_message_id,
            relayed: message_ref(r.relayed_platform, r.relayed_channel, r.relayed_message_id)?,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CaseRow {
    id: Uuid,
    conversation_id: Uuid,
    state: String,
    owner: Option<String>,
    previous_owner: Option<String>,
    reason: String,
    reasons: Json<Vec<String>>,
    urgency: String,
    intent: Option<String>,
    sentiment: Option<f64>,
    summary: String,
    route: String,
    opened_at: DateTime<Utc>,
    claimed_at: Option<DateTime<Utc>>,
    first_agent_reply_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    reopen_count: i64,
    card_platform: Option<String>,
    card_channel: Option<String>,
    card_message_id: Option<String>,
    last_delivery_error: Option<String>,
    version: i64,
    details: Json<CaseDetails>,
}

impl TryFrom<CaseRow> for Case {
    type Error = StoreError;

    fn try_from(r: CaseRow) -> Result<Self, StoreError> {
        let state = match (r.state.as_str(), r.owner) {
            ("open", _) => CaseState::Open,
            ("claimed", Some(by)) => CaseState::Claimed { by: AgentId(by) },
            ("resolved", _) => CaseState::Resolved,
            (other, _) => {
                return Err(StoreError::Corrupt(format!(
                    "case {} has state {other:?} without a valid owner",
                    r.id
                )));
            }
        };
        Ok(Case {
            id: CaseId(r.id),
            conversation: ConversationId(r.conversation_id),
            state,
            previous_owner: r.previous_owner.map(AgentId),
            reason: r.reason,
            reasons: r.reasons.0,
            urgency: Urgency::parse(&r.urgency).ok_or_else(|| {
                StoreError::Corrupt(format!("case {} has urgency {:?}", r.id, r.urgency))
            })?,
            intent: r.intent,
            sentiment: r.sentiment,
            summary: r.summary,
            route: r.route,
            opened_at: r.opened_at,
            claimed_at: r.claimed_at,
            first_agent_reply_at: r.first_agent_reply_at,
            resolved_at: r.resolved_at,
            reopen_count: r.reopen_count,
            card: message_ref(r.card_platform, r.card_channel, r.card_message_id)?,
            last_delivery_error: r.last_delivery_error,
            version: r.version,
            details: r.details.0,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CaseEventRow {
    id: i64,
    case_id: Uuid,
    at: DateTime<Utc>,
    actor: String,
    kind: String,
    detail: Json<serde_json::Value>,
}

impl From<CaseEventRow> for CaseEvent {
    fn from(r: CaseEventRow) -> Self {
        CaseEvent {
            id: r.id,
            case: CaseId(r.case_id),
            at: r.at,
            actor: r.actor,
            kind: r.kind,
            detail: r.detail.0,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OutboxRow {
    id: i64,
    platform: String,
    ordering_key: String,
    case_id: Option<Uuid>,
    idempotency_key: String,
    command: Json<OutboundCommand>,
    attempts: i64,
    created_at: DateTime<Utc>,
}

impl TryFrom<OutboxRow> for OutboxItem {
    type Error = StoreError;

    fn try_from(r: OutboxRow) -> Result<Self, StoreError> {
        Ok(OutboxItem {
            id: r.id,
            platform: platform(&r.platform)?,
            ordering_key: r.ordering_key,
            case: r.case_id.map(CaseId),
            idempotency_key: r.idempotency_key,
            command: r.command.0,
            attempts: r.attempts,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OutboxRecordRow {
    #[sqlx(flatten)]
    item: OutboxRow,
    state: String,
    last_error: Option<String>,
    next_attempt_at: DateTime<Utc>,
    reference: Option<Json<MessageRef>>,
}

impl TryFrom<OutboxRecordRow> for OutboxRecord {
    type Error = StoreError;

    fn try_from(r: OutboxRecordRow) -> Result<Self, StoreError> {
        let state = match r.state.as_str() {
            "pending" => OutboxState::Pending,
            "delivered" => OutboxState::Delivered,
            "dead" => OutboxState::Dead,
            other => return Err(StoreError::Corrupt(format!("outbox state {other:?}"))),
        };
        Ok(OutboxRecord {
            item: r.item.try_into()?,
            state,
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at,
            reference: r.reference.map(|j| j.0),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct InboundRow {
    pub(super) seq: i64,
    pub(super) payload: Json<InboundEvent>,
}

#[derive(sqlx::FromRow)]
pub(super) struct TimerRow {
    id: i64,
    case_id: Uuid,
    kind: String,
    message_id: Option<Uuid>,
    due_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    outcome: Option<String>,
}

impl TryFrom<TimerRow> for super::TimerRecord {
    type Error = StoreError;

    fn try_from(r: TimerRow) -> Result<Self, StoreError> {
        Ok(super::TimerRecord {
            timer: crate::sla::Timer {
                id: r.id,
                case: CaseId(r.case_id),
                kind: crate::sla::TimerKind::parse(&r.kind).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown timer kind {:?}", r.kind))
                })?,
                message: r.message_id.map(MessageId),
                due_at: r.due_at,
                created_at: r.created_at,
            },
            done_at: r.done_at,
            outcome: r.outcome,
        })
    }
}

/// `SELECT <every case column> FROM cases <tail>`, as a `&'static str`.
macro_rules! case_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, conversation_id, state, owner, previous_owner, reason, reasons, urgency, intent, ",
            "sentiment, summary, route, opened_at, claimed_at, first_agent_reply_at, resolved_at, ",
            "reopen_count, card_platform, card_channel, card_message_id, last_delivery_error, version, details FROM cases ",
            $tail
        )
    };
}
pub(super) use case_select;

pub(super) const INSERT_OUTBOX: &str = "INSERT INTO outbox (platform, ordering_key, case_id, idempotency_key, command, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (idempotency_key) DO NOTHING";

pub(super) const INSERT_CASE_EVENT: &str =
    "INSERT INTO case_events (case_id, at, actor, kind, detail) VALUES ($1, $2, $3, $4, $5)";

/// The claim statement, with the backend's row-locking clause spliced into
/// the inner select (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so replicas
/// never wait on each other; SQLite: nothing, its write lock already
/// serialises claimers). Only the oldest pending row of each ordering key
/// qualifies, which is what keeps per-conversation order.
macro_rules! claim_outbox_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE outbox SET locked_by = $1, locked_until = $2 WHERE id IN (",
            "SELECT o.id FROM outbox o WHERE o.state = 'pending' AND o.next_attempt_at <= $3 ",
            "AND (o.locked_until IS NULL OR o.locked_until <= $3) ",
            "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.ordering_key = o.ordering_key ",
            "AND p.state = 'pending' AND p.id < o.id) ",
            "ORDER BY o.id LIMIT $4 ",
            $lock,
            ") RETURNING id, platform, ordering_key, case_id, idempotency_key, command, attempts, created_at"
        )
    };
}
pub(super) use claim_outbox_sql;

/// Expands `impl Store for $store` over `$db`, where `$store` has a
/// `pool: sqlx::Pool<$db>` field for reads and a `writer` pool for writes and `$migrator` is its embedded migrator.
/// `$begin` starts a write transaction; `$claim` is the claim statement.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty, name: $name:literal, migrator: $migrator:path, begin: $begin:literal, claim: $claim:expr) => {
        impl $crate::store::Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn migrate(&self) -> Result<(), StoreError> {
                $crate::store::sql::run_migrations(&$migrator, &self.pool).await
            }

            async fn lease(&self, name: &str) -> Result<Option<$crate::store::Lease>, StoreError> {
                Self::take_lease(&self.pool, name).await
            }

            async fn ready(&self) -> Result<(), StoreError> {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
                )
                .fetch_one(&self.pool)
                .await
                .or_else(|e| match e {
                    // No migrations table yet: nothing was ever applied.
                    sqlx::Error::Database(_) => Ok(None),
                    other => Err(other),
                })?;
                $crate::store::sql::check_version(&$migrator, found.unwrap_or(0))
            }

            async fn record_inbound(&self, event: &InboundEvent) -> Result<InboundRecord, StoreError> {
                let seq = $crate::store::sql::insert_inbound!(&self.writer, event);
                Ok(match seq {
                    Some(seq) => InboundRecord::Accepted { seq },
                    None => InboundRecord::Duplicate,
                })
            }

            async fn pending_inbound(&self, limit: i64) -> Result<Vec<StoredInbound>, StoreError> {
                let rows: Vec<$crate::store::sql::InboundRow> = sqlx::query_as(
                    "SELECT seq, payload FROM inbound_events WHERE processed_at IS NULL ORDER BY seq LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| StoredInbound { seq: r.seq, event: r.payload.0 })
                    .collect())
            }

            async fn finish_inbound(
                &self,
                seq: i64,
                now: DateTime<Utc>,
                error: Option<&str>,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE inbound_events SET processed_at = $1, error = $2 WHERE seq = $3")
                    .bind(now)
                    .bind(error)
                    .bind(seq)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn upsert_customer(
                &self,
                platform: Platform,
                identity: &CustomerIdentity,
                now: DateTime<Utc>,
            ) -> Result<Customer, StoreError> {
                let row: $crate::store::sql::CustomerRow = sqlx::query_as(
                    "INSERT INTO customers (id, platform, external_id, display_name, email, metadata, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                     ON CONFLICT (platform, external_id) DO UPDATE SET \
                       display_name = COALESCE(excluded.display_name, customers.display_name), \
                       email = COALESCE(excluded.email, customers.email), \
                       metadata = CASE WHEN $8 THEN excluded.metadata ELSE customers.metadata END, \
                       updated_at = excluded.updated_at \
                     RETURNING id, platform, external_id, display_name, email, metadata",
                )
                .bind(CustomerId::new().0)
                .bind(platform.as_str())
                .bind(&identity.external_id)
                .bind(&identity.display_name)
                .bind(&identity.email)
                .bind(Json(&identity.metadata))
                .bind(now)
                .bind(!identity.metadata.is_empty())
                .fetch_one(&self.writer)
                .await?;
                row.try_into()
            }

            async fn conversation(
                &self,
                customer: CustomerId,
                platform: Platform,
                external_ref: &str,
                now: DateTime<Utc>,
            ) -> Result<Conversation, StoreError> {
                // The no-op update makes RETURNING yield the existing row.
                let row: $crate::store::sql::ConversationRow = sqlx::query_as(
                    "INSERT INTO conversations (id, customer_id, platform, external_ref, created_at, last_message_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (platform, external_ref) DO UPDATE SET external_ref = excluded.external_ref \
                     RETURNING id, customer_id, platform, external_ref, created_at, last_message_at",
                )
                .bind(ConversationId::new().0)
                .bind(customer.0)
                .bind(platform.as_str())
                .bind(external_ref)
                .bind(now)
                .fetch_one(&self.writer)
                .await?;
                row.try_into()
            }

            async fn add_message(
                &self,
                message: &NewMessage,
                outbox: &[NewOutbox],
                timers: &[$crate::store::NewTimer],
            ) -> Result<Option<Message>, StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                let row: Option<$crate::store::sql::MessageRow> = sqlx::query_as(
                    "INSERT INTO messages (id, conversation_id, case_id, author_kind, author_id, body, internal_note, platform, platform_message_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (platform, platform_message_id) DO NOTHING \
                     RETURNING id, conversation_id, case_id, author_kind, author_id, body, internal_note, platform, platform_message_id, \
                       relayed_platform, relayed_channel, relayed_message_id, created_at",
                )
                .bind(message.id.0)
                .bind(message.conversation.0)
                .bind(message.case.map(|c| c.0))
                .bind(message.author.as_str())
                .bind(&message.author_id)
                .bind(&message.body)
                .bind(message.internal_note)
                .bind(message.platform.as_str())
                .bind(&message.platform_message_id)
                .bind(message.created_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                sqlx::query("UPDATE conversations SET last_message_at = $1 WHERE id = $2")
                    .bind(message.created_at)
                    .bind(message.conversation.0)
                    .execute(&mut *tx)
                    .await?;
                // Time to first human reply counts replies that reach the
                // customer: not notes, not the bot.
                if let ($crate::store::AuthorKind::Agent, false, Some(case)) = (message.author, message.internal_note, message.case) {
                    sqlx::query("UPDATE cases SET first_agent_reply_at = COALESCE(first_agent_reply_at, $1) WHERE id = $2")
                        .bind(message.created_at)
                        .bind(case.0)
                        .execute(&mut *tx)
                        .await?;
                }
                for item in outbox {
                    $crate::store::sql::insert_outbox!(&mut *tx, item, message.created_at);
                }
                for timer in timers {
                    $crate::store::sql::insert_timer!(&mut *tx, timer, message.created_at);
                }
                tx.commit().await?;
                Ok(Some(row.try_into()?))
            }

            async fn messages(&self, conversation: ConversationId) -> Result<Vec<Message>, StoreError> {
                let rows: Vec<$crate::store::sql::MessageRow> = sqlx::query_as(
                    "SELECT id, conversation_id, case_id, author_kind, author_id, body, internal_note, platform, platform_message_id, \
                       relayed_platform, relayed_channel, relayed_message_id, created_at \
                     FROM messages WHERE conversation_id = $1 ORDER BY created_at, id",
                )
                .bind(conversation.0)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn open_case(&self, case: &NewCase, outbox: &[NewOutbox], timers: &[$crate::store::NewTimer]) -> Result<Case, StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                sqlx::query(
                    "INSERT INTO cases (id, conversation_id, state, previous_owner, reason, reasons, urgency, intent, sentiment, summary, route, opened_at, details) \
                     VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(case.id.0)
                .bind(case.conversation.0)
                .bind(case.previous_owner.as_ref().map(AgentId::as_str))
                .bind(&case.reason)
                .bind(Json(&case.reasons))
                .bind(case.urgency.as_str())
                .bind(&case.intent)
                .bind(case.sentiment)
                .bind(&case.summary)
                .bind(&case.route)
                .bind(case.opened_at)
                .bind(Json(&case.details))
                .execute(&mut *tx)
                .await?;
                let event = CaseEventKind::Opened;
                sqlx::query($crate::store::sql::INSERT_CASE_EVENT)
                    .bind(case.id.0)
                    .bind(case.opened_at)
                    .bind(Actor::System.label())
                    .bind(event.name())
                    .bind(Json(serde_json::json!({ "reason": case.reason, "reasons": case.reasons, "urgency": case.urgency, "route": case.route })))
                    .execute(&mut *tx)
                    .await?;
                for item in outbox {
                    $crate::store::sql::insert_outbox!(&mut *tx, item, case.opened_at);
                }
                for timer in timers {
                    $crate::store::sql::insert_timer!(&mut *tx, timer, case.opened_at);
                }
                let row: $crate::store::sql::CaseRow = sqlx::query_as($crate::store::sql::case_select!("WHERE id = $1"))
                .bind(case.id.0)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                row.try_into()
            }

            async fn case(&self, id: CaseId) -> Result<Option<Case>, StoreError> {
                self.case_where($crate::store::sql::case_select!("WHERE id = $1"), id.0).await
            }

            async fn latest_case(&self, conversation: ConversationId) -> Result<Option<Case>, StoreError> {
                self.case_where(
                    $crate::store::sql::case_select!("WHERE conversation_id = $1 ORDER BY opened_at DESC, id DESC LIMIT 1"),
                    conversation.0,
                )
                .await
            }

            async fn case_by_card(&self, card: &MessageRef) -> Result<Option<Case>, StoreError> {
                let row: Option<$crate::store::sql::CaseRow> = sqlx::query_as($crate::store::sql::case_select!(
                    "WHERE card_platform = $1 AND card_channel = $2 AND card_message_id = $3"
                ))
                .bind(card.platform.as_str())
                .bind(&card.channel)
                .bind(&card.message_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn commit_transition(
                &self,
                transition: &Transition,
                outbox: &[NewOutbox],
                timers: &[$crate::store::NewTimer],
            ) -> Result<bool, StoreError> {
                let after = &transition.after;
                let mut tx = self.writer.begin_with($begin).await?;
                let updated = sqlx::query(
                    "UPDATE cases SET state = $1, owner = $2, previous_owner = $3, opened_at = $4, claimed_at = $5, \
                       first_agent_reply_at = COALESCE(first_agent_reply_at, $6), resolved_at = $7, reopen_count = $8, version = $9, \
                       route = $12, urgency = $13, intent = $14, details = $15 \
                     WHERE id = $10 AND version = $11",
                )
                .bind(after.state.name())
                .bind(after.state.owner().map(AgentId::as_str))
                .bind(after.previous_owner.as_ref().map(AgentId::as_str))
                .bind(after.opened_at)
                .bind(after.claimed_at)
                .bind(after.first_agent_reply_at)
                .bind(after.resolved_at)
                .bind(after.reopen_count)
                .bind(after.version)
                .bind(after.id.0)
                .bind(transition.before.version)
                .bind(&after.route)
                .bind(after.urgency.as_str())
                .bind(&after.intent)
                .bind(Json(&after.details))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query($crate::store::sql::INSERT_CASE_EVENT)
                    .bind(after.id.0)
                    .bind(transition.at)
                    .bind(transition.actor.label())
                    .bind(transition.event.name())
                    .bind(Json(&transition.event))
                    .execute(&mut *tx)
                    .await?;
                for item in outbox {
                    $crate::store::sql::insert_outbox!(&mut *tx, item, transition.at);
                }
                if $crate::sla::supersedes(transition) {
                    sqlx::query("UPDATE case_timers SET done_at = $1, outcome = 'superseded' WHERE case_id = $2 AND done_at IS NULL")
                        .bind(transition.at)
                        .bind(after.id.0)
                        .execute(&mut *tx)
                        .await?;
                }
                for timer in timers {
                    $crate::store::sql::insert_timer!(&mut *tx, timer, transition.at);
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn case_events(&self, case: CaseId) -> Result<Vec<CaseEvent>, StoreError> {
                let rows: Vec<$crate::store::sql::CaseEventRow> = sqlx::query_as(
                    "SELECT id, case_id, at, actor, kind, detail FROM case_events WHERE case_id = $1 ORDER BY id",
                )
                .bind(case.0)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn enqueue(&self, outbox: &[NewOutbox], now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                for item in outbox {
                    $crate::store::sql::insert_outbox!(&mut *tx, item, now);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn claim_outbox(
                &self,
                worker: &str,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<OutboxItem>, StoreError> {
                let rows: Vec<$crate::store::sql::OutboxRow> = sqlx::query_as($claim)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.writer)
                    .await?;
                let mut items = rows
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<Result<Vec<OutboxItem>, StoreError>>()?;
                // RETURNING gives no order; deliver oldest first.
                items.sort_by_key(|i| i.id);
                Ok(items)
            }

            async fn outbox_delivered(
                &self,
                id: i64,
                reference: Option<&MessageRef>,
                completion: &Completion,
                follow_up: &[NewOutbox],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                sqlx::query(
                    "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, reference = $1, finished_at = $2, \
                       locked_by = NULL, locked_until = NULL WHERE id = $3 AND state = 'pending'",
                )
                .bind(reference.map(Json))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                for item in follow_up {
                    $crate::store::sql::insert_outbox!(&mut *tx, item, now);
                }
                if let Some(r) = reference {
                    match completion {
                        Completion::Nothing => {}
                        Completion::CardPosted { case } => {
                            sqlx::query(
                                "UPDATE cases SET card_platform = $1, card_channel = $2, card_message_id = $3 WHERE id = $4",
                            )
                            .bind(r.platform.as_str())
                            .bind(&r.channel)
                            .bind(&r.message_id)
                            .bind(case.0)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Completion::MessageRelayed { message } => {
                            sqlx::query(
                                "UPDATE messages SET relayed_platform = $1, relayed_channel = $2, relayed_message_id = $3 WHERE id = $4",
                            )
                            .bind(r.platform.as_str())
                            .bind(&r.channel)
                            .bind(&r.message_id)
                            .bind(message.0)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn outbox_retry(
                &self,
                id: i64,
                attempts: i64,
                next_attempt_at: DateTime<Utc>,
                error: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, locked_by = NULL, locked_until = NULL \
                     WHERE id = $4 AND state = 'pending'",
                )
                .bind(attempts)
                .bind(next_attempt_at)
                .bind(error)
                .bind(id)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn outbox_dead(
                &self,
                id: i64,
                attempts: i64,
                error: &str,
                follow_up: &[NewOutbox],
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                for item in follow_up {
                    $crate::store::sql::insert_outbox!(&mut *tx, item, now);
                }
                let case: Option<Option<Uuid>> = sqlx::query_scalar(
                    "UPDATE outbox SET state = 'dead', attempts = $1, last_error = $2, finished_at = $3, \
                       locked_by = NULL, locked_until = NULL WHERE id = $4 AND state = 'pending' RETURNING case_id",
                )
                .bind(attempts)
                .bind(error)
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(Some(case)) = case {
                    sqlx::query("UPDATE cases SET last_delivery_error = $1 WHERE id = $2")
                        .bind(error)
                        .bind(case)
                        .execute(&mut *tx)
                        .await?;
                    let event = CaseEventKind::DeliveryFailed { outbox_id: id, reason: error.to_owned() };
                    sqlx::query($crate::store::sql::INSERT_CASE_EVENT)
                        .bind(case)
                        .bind(now)
                        .bind(Actor::System.label())
                        .bind(event.name())
                        .bind(Json(&event))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn outbox_depth(&self) -> Result<Vec<OutboxDepth>, StoreError> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT platform, \
                       SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), \
                       SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) \
                     FROM outbox WHERE state <> 'delivered' GROUP BY platform ORDER BY platform",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(p, pending, dead)| {
                        Ok(OutboxDepth { platform: $crate::store::sql::platform(&p)?, pending, dead })
                    })
                    .collect()
            }

            async fn previous_agent(&self, customer: CustomerId, since: DateTime<Utc>) -> Result<Option<AgentId>, StoreError> {
                let row: Option<(Option<String>,)> = sqlx::query_as(
                    "SELECT k.previous_owner FROM cases k JOIN conversations c ON c.id = k.conversation_id \
                     WHERE c.customer_id = $1 AND k.state = 'resolved' AND k.resolved_at >= $2 \
                       AND k.previous_owner IS NOT NULL \
                     ORDER BY k.resolved_at DESC LIMIT 1",
                )
                .bind(customer.0)
                .bind(since)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.and_then(|(owner,)| owner).map(AgentId::new))
            }

            async fn conversation_cursors(
                &self,
                platform: Platform,
                since: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<(String, Option<String>)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT c.external_ref, \
                       (SELECT m.platform_message_id FROM messages m WHERE m.conversation_id = c.id \
                          AND m.author_kind = 'customer' AND m.platform_message_id IS NOT NULL \
                        ORDER BY m.created_at DESC, m.id DESC LIMIT 1) \
                     FROM conversations c WHERE c.platform = $1 AND c.last_message_at >= $2 \
                     ORDER BY c.last_message_at DESC LIMIT $3",
                )
                .bind(platform.as_str())
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn quiet_conversations(
                &self,
                from: DateTime<Utc>,
                until: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<QuietConversation>, StoreError> {
                let rows: Vec<(Uuid, Uuid, String, Json<serde_json::Map<String, serde_json::Value>>)> = sqlx::query_as(
                    "SELECT c.id, c.customer_id, c.platform, u.metadata FROM conversations c \
                     JOIN customers u ON u.id = c.customer_id \
                     WHERE c.last_message_at >= $1 AND c.last_message_at <= $2 \
                       AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.conversation_id = c.id) \
                       AND (SELECT m.author_kind FROM messages m WHERE m.conversation_id = c.id \
                            ORDER BY m.created_at DESC, m.id DESC LIMIT 1) = 'customer' \
                     ORDER BY c.last_message_at LIMIT $3",
                )
                .bind(from)
                .bind(until)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(id, customer, platform, Json(metadata))| {
                        Ok(QuietConversation {
                            conversation: ConversationId(id),
                            customer: CustomerId(customer),
                            platform: $crate::store::sql::platform(&platform)?,
                            metadata,
                        })
                    })
                    .collect()
            }

            async fn case_outbox(&self, case: CaseId) -> Result<Vec<OutboxRecord>, StoreError> {
                let rows: Vec<$crate::store::sql::OutboxRecordRow> = sqlx::query_as(
                    "SELECT id, platform, ordering_key, case_id, idempotency_key, command, attempts, created_at, \
                       state, last_error, next_attempt_at, reference \
                     FROM outbox WHERE case_id = $1 ORDER BY id",
                )
                .bind(case.0)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn clear_delivery_error(&self, case: CaseId) -> Result<bool, StoreError> {
                let cleared = sqlx::query(
                    "UPDATE cases SET last_delivery_error = NULL WHERE id = $1 AND last_delivery_error IS NOT NULL",
                )
                .bind(case.0)
                .execute(&self.writer)
                .await?;
                Ok(cleared.rows_affected() > 0)
            }

            async fn conversation_by_ref(&self, platform: Platform, external_ref: &str) -> Result<Option<Conversation>, StoreError> {
                let row: Option<$crate::store::sql::ConversationRow> = sqlx::query_as(
                    "SELECT id, customer_id, platform, external_ref, created_at, last_message_at FROM conversations \
                     WHERE platform = $1 AND external_ref = $2",
                )
                .bind(platform.as_str())
                .bind(external_ref)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn conversation_by_id(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
                let row: Option<$crate::store::sql::ConversationRow> = sqlx::query_as(
                    "SELECT id, customer_id, platform, external_ref, created_at, last_message_at FROM conversations WHERE id = $1",
                )
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn setting(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
                sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(fresh)
                    .execute(&self.writer)
                    .await?;
                Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.writer)
                    .await?)
            }

            async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
                    .bind(name)
                    .bind(value)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn inbound_progress(
                &self,
                platform: Platform,
                event_id: &str,
            ) -> Result<Option<$crate::store::InboundProgress>, StoreError> {
                let row: Option<(Option<DateTime<Utc>>, Option<String>)> = sqlx::query_as(
                    "SELECT processed_at, error FROM inbound_events WHERE platform = $1 AND event_id = $2",
                )
                .bind(platform.as_str())
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(processed, problem)| match processed {
                    None => $crate::store::InboundProgress::Pending,
                    Some(_) => $crate::store::InboundProgress::Processed { problem },
                }))
            }

            async fn webchat_create_session(&self, s: &$crate::store::NewSession) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO webchat_sessions (id, token_hash, conversation, user_id, display_name, email, created_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(&s.id)
                .bind(&s.token_hash)
                .bind(&s.conversation)
                .bind(&s.user_id)
                .bind(&s.display_name)
                .bind(&s.email)
                .bind(s.created_at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn webchat_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<$crate::store::Session>, StoreError> {
                let row: Option<(String, String, Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                    "UPDATE webchat_sessions SET last_seen_at = $1 WHERE token_hash = $2 \
                     RETURNING id, conversation, user_id, display_name, email",
                )
                .bind(now)
                .bind(token_hash)
                .fetch_optional(&self.writer)
                .await?;
                Ok(row.map(|(id, conversation, user_id, display_name, email)| $crate::store::Session {
                    id, conversation, user_id, display_name, email,
                }))
            }

            async fn webchat_accept(
                &self,
                entry: &$crate::store::NewFeedEntry,
                event: &InboundEvent,
            ) -> Result<(InboundRecord, i64), StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                let seq = $crate::store::sql::insert_feed!(&mut *tx, entry);
                let inbound = $crate::store::sql::insert_inbound!(&mut *tx, event);
                tx.commit().await?;
                Ok((
                    match inbound {
                        Some(seq) => InboundRecord::Accepted { seq },
                        None => InboundRecord::Duplicate,
                    },
                    seq,
                ))
            }

            async fn webchat_append(&self, entry: &$crate::store::NewFeedEntry) -> Result<i64, StoreError> {
                let mut tx = self.writer.begin_with($begin).await?;
                let seq = $crate::store::sql::insert_feed!(&mut *tx, entry);
                tx.commit().await?;
                Ok(seq)
            }

            async fn webchat_feed(&self, conversation: &str, after: i64, limit: i64) -> Result<Vec<$crate::store::FeedEntry>, StoreError> {
                let rows: Vec<(i64, String, String, Option<String>, String, String, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT seq, dedupe, author, author_name, kind, body, created_at FROM webchat_feed \
                     WHERE conversation = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(conversation)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(seq, dedupe, author, author_name, kind, body, created_at)| $crate::store::FeedEntry {
                        seq,
                        entry: $crate::store::NewFeedEntry {
                            conversation: conversation.to_owned(), dedupe, author, author_name, kind, body, created_at,
                        },
                    })
                    .collect())
            }

            async fn inbox_put_card(&self, card: &$crate::store::InboxCard) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO inbox_cards (case_id, channel, content, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (case_id) DO UPDATE SET channel = excluded.channel, content = excluded.content, \
                       updated_at = excluded.updated_at",
                )
                .bind(card.case.to_string())
                .bind(&card.channel)
                .bind(Json(&card.content))
                .bind(card.updated_at)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn inbox_cards(&self, limit: i64) -> Result<Vec<$crate::store::InboxCard>, StoreError> {
                let rows: Vec<(String, String, Json<handoff_core::Content>, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT case_id, channel, content, updated_at FROM inbox_cards ORDER BY updated_at DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(case, channel, Json(content), updated_at)| {
                        Ok($crate::store::InboxCard {
                            case: case.parse().map_err(|_| StoreError::Corrupt(format!("inbox card for {case:?}")))?,
                            channel,
                            content,
                            updated_at,
                        })
                    })
                    .collect()
            }


            async fn due_timers(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<$crate::store::Timer>, StoreError> {
                let rows: Vec<$crate::store::sql::TimerRow> = sqlx::query_as(
                    "SELECT id, case_id, kind, message_id, due_at, created_at, done_at, outcome FROM case_timers \
                     WHERE done_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(|r| r.try_into().map(|r: $crate::store::TimerRecord| r.timer)).collect()
            }

            async fn finish_timer(&self, id: i64, now: DateTime<Utc>, outcome: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE case_timers SET done_at = $1, outcome = $2 WHERE id = $3 AND done_at IS NULL")
                    .bind(now)
                    .bind(outcome)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn case_timers(&self, case: CaseId) -> Result<Vec<$crate::store::TimerRecord>, StoreError> {
                let rows: Vec<$crate::store::sql::TimerRow> = sqlx::query_as(
                    "SELECT id, case_id, kind, message_id, due_at, created_at, done_at, outcome FROM case_timers \
                     WHERE case_id = $1 ORDER BY id",
                )
                .bind(case.0)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn cases_since(&self, since: DateTime<Utc>, limit: i64) -> Result<Vec<Case>, StoreError> {
                let rows: Vec<$crate::store::sql::CaseRow> = sqlx::query_as($crate::store::sql::case_select!(
                    "WHERE opened_at >= $1 ORDER BY opened_at DESC LIMIT $2"
                ))
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }

        impl $store {
            async fn case_where(&self, sql: &'static str, id: Uuid) -> Result<Option<Case>, StoreError> {
                let row: Option<$crate::store::sql::CaseRow> = sqlx::query_as(sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }
        }
    };
}
pub(super) use impl_sql_store;

/// Inserts one outbox row inside an open transaction.
/// Stores an inbound event unless its (platform, event id) is known;
/// evaluates to its log position, `None` for a redelivery.
macro_rules! insert_inbound {
    ($conn:expr, $event:expr) => {{
        let event = $event;
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO inbound_events (platform, event_id, payload, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (platform, event_id) DO NOTHING RETURNING seq",
        )
        .bind(event.platform.as_str())
        .bind(&event.event_id)
        .bind(Json(event))
        .bind(event.received_at)
        .fetch_optional($conn)
        .await?;
        seq
    }};
}
pub(super) use insert_inbound;

/// Inserts a feed entry unless its `dedupe` is known in its conversation,
/// and evaluates to the entry's position either way.
macro_rules! insert_feed {
    ($conn:expr, $entry:expr) => {{
        let entry = $entry;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO webchat_feed (conversation, dedupe, author, author_name, kind, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (conversation, dedupe) DO NOTHING RETURNING seq",
        )
        .bind(&entry.conversation)
        .bind(&entry.dedupe)
        .bind(&entry.author)
        .bind(&entry.author_name)
        .bind(&entry.kind)
        .bind(&entry.body)
        .bind(entry.created_at)
        .fetch_optional(&mut *$conn)
        .await?;
        match inserted {
            Some(seq) => seq,
            None => {
                sqlx::query_scalar("SELECT seq FROM webchat_feed WHERE conversation = $1 AND dedupe = $2")
                    .bind(&entry.conversation)
                    .bind(&entry.dedupe)
                    .fetch_one(&mut *$conn)
                    .await?
            }
        }
    }};
}
pub(super) use insert_feed;

/// Arms one timer inside an open transaction, once per key.
macro_rules! insert_timer {
    ($conn:expr, $timer:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO case_timers (case_id, kind, key, message_id, due_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
        )
        .bind($timer.case.0)
        .bind($timer.kind.as_str())
        .bind(&$timer.key)
        .bind($timer.message.map(|m| m.0))
        .bind($timer.due_at)
        .bind($now)
        .execute($conn)
        .await?
    };
}
pub(super) use insert_timer;

macro_rules! insert_outbox {
    ($conn:expr, $item:expr, $now:expr) => {
        sqlx::query($crate::store::sql::INSERT_OUTBOX)
            .bind($item.platform.as_str())
            .bind(&$item.ordering_key)
            .bind($item.case.map(|c| c.0))
            .bind(&$item.idempotency_key)
            .bind(Json(&$item.command))
            .bind($now)
            .execute($conn)
            .await?
    };
}
pub(super) use insert_outbox;

/// Applies migrations, turning "the database knows a migration this binary
/// does not" into [`StoreError::SchemaTooNew`] before anything is applied.
pub(super) async fn run_migrations<'a, A>(
    migrator: &sqlx::migrate::Migrator,
    pool: A,
) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    let known = known_version(migrator);
    migrator.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMissing(found) => {
            StoreError::SchemaTooNew { found, known }
        }
        other => StoreError::Migrate(other.to_string()),
    })
}

fn known_version(migrator: &sqlx::migrate::Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or_default()
}

/// Compares the database's schema version with this binary's.
pub(super) fn check_version(
    migrator: &sqlx::migrate::Migrator,
    found: i64,
) -> Result<(), StoreError> {
    let known = known_version(migrator);
    match found.cmp(&known) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::SchemaTooNew { found, known }),
        std::cmp::Ordering::Less => Err(StoreError::NotMigrated {
            found,
            needed: known,
        }),
    }
}
