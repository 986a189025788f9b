//! The production store: PostgreSQL, safe for several replicas.

use std::time::Duration;

use chrono::{DateTime, Utc};
use handoff_core::{
    AgentId, CaseId, ConversationId, CustomerId, CustomerIdentity, InboundEvent, MessageRef,
    Platform,
};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sqlx::types::Json;
use uuid::Uuid;

use super::sql::{claim_outbox_sql, impl_sql_store};
use super::{
    CaseEvent, Completion, Conversation, Customer, InboundRecord, Message, NewCase, NewMessage,
    NewOutbox, OutboxDepth, OutboxItem, OutboxRecord, QuietConversation, StoreError, StoredInbound,
    redact_url,
};
use crate::cases::{Actor, Case, CaseEventKind, Transition};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A [`Store`](super::Store) in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// The pool for reads.
    pool: PgPool,
    /// The same pool: PostgreSQL runs writers concurrently.
    writer: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL. Fails fast (5 s) when the server is
    /// unreachable so a wrong `DATABASE_URL` is reported, not waited on.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect {
                target: redact_url(url),
                source,
            })?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }
}

impl PgStore {
    /// A session advisory lock on a connection of its own, keyed by a
    /// stable hash of `name`.
    async fn take_lease(pool: &PgPool, name: &str) -> Result<Option<super::Lease>, StoreError> {
        let mut conn = pool.acquire().await?.detach();
        let key = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(i64::from_ne_bytes(key.to_ne_bytes()))
            .fetch_one(&mut conn)
            .await?;
        Ok(held.then_some(super::Lease::Postgres(conn)))
    }
}

// Replicas claim outbox rows with SKIP LOCKED so they never wait on, or
// take, each other's rows.
impl_sql_store!(
    PgStore,
    sqlx::Postgres,
    name: "postgres",
    migrator: MIGRATOR,
    begin: "BEGIN",
    claim: claim_outbox_sql!("FOR UPDATE SKIP LOCKED")
);
