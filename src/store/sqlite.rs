//! The embedded default: a SQLite file, no server.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use handoff_core::{
    AgentId, CaseId, ConversationId, CustomerId, CustomerIdentity, InboundEvent, MessageRef,
    Platform,
};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use uuid::Uuid;

use super::sql::{claim_outbox_sql, impl_sql_store};
use super::{
    CaseEvent, Completion, Conversation, Customer, InboundRecord, Message, NewCase, NewMessage,
    NewOutbox, OutboxDepth, OutboxItem, OutboxRecord, QuietConversation, StoreError, StoredInbound,
    redact_url,
};
use crate::cases::{Actor, Case, CaseEventKind, Transition};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A [`Store`](super::Store) in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// One connection: SQLite has one writer at a time anyway, and queuing
    /// writers fairly here beats SQLite's busy handler, which sleeps and
    /// polls (measured: about 5x the outbox throughput, docs/benchmarks.md).
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite:` URL. WAL lets
    /// readers (the inbox, `/readyz`) run beside the one writer; the busy
    /// timeout covers writers in other processes (`handoff migrate`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let connect_error = |source| StoreError::Connect {
            target: redact_url(url),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(connect_error)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(Self { pool, writer })
    }
}

impl SqliteStore {
    /// One process per SQLite file: the lease is always its own.
    async fn take_lease(_: &SqlitePool, _: &str) -> Result<Option<super::Lease>, StoreError> {
        Ok(Some(super::Lease::Local))
    }
}

// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never has
// to upgrade a read lock later (which SQLite refuses with SQLITE_BUSY rather
// than waiting).
impl_sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    name: "sqlite",
    migrator: MIGRATOR,
    begin: "BEGIN IMMEDIATE",
    claim: claim_outbox_sql!("")
);
