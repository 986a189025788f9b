//! Helpers shared by the black-box tests: a fresh database per test on
//! either backend, and a macro that runs one generic test on both.
#![allow(dead_code)]

pub mod discord;
pub mod double;
pub mod slack;
pub mod story;
pub mod teams;

use chrono::{DateTime, TimeZone, Utc};
use handoff::cases::Urgency;
use handoff::store::{NewCase, PgStore, SqliteStore, Store};
use handoff_core::{CaseId, ConversationId, CustomerIdentity, Platform};
use sqlx::Connection;

/// A fresh, migrated SQLite store in its own temporary folder.
pub async fn sqlite_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("handoff.db").display());
    let store = SqliteStore::connect(&url, 8).await.unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

/// The throwaway cluster's URL, from `scripts/test`. In CI a missing
/// cluster is a failure, never a skip.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("TEST_PG_URL is not set: run the tests through ./scripts/test")
        }
        Err(_) => {
            eprintln!("TEST_PG_URL is not set; PostgreSQL tests need ./scripts/test");
            None
        }
    }
}

/// A new, empty database on the throwaway cluster; returns its URL.
pub async fn pg_database() -> Option<String> {
    Some(pg_database_at(&pg_admin_url()?).await)
}

/// A new, empty database on the cluster at `admin`; returns its URL.
pub async fn pg_database_at(admin: &str) -> String {
    let name = format!("handoff_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

/// A fresh, migrated PostgreSQL store in its own database.
pub async fn pg_store() -> Option<PgStore> {
    let url = pg_database().await?;
    let store = PgStore::connect(&url, 20).await.unwrap();
    store.migrate().await.unwrap();
    Some(store)
}

/// The web chat conversation `session` of visitor `visitor`, created on first use.
pub async fn web_conversation<S: Store>(store: &S, visitor: &str, session: &str) -> ConversationId {
    let customer = store
        .upsert_customer(
            Platform::Webchat,
            &CustomerIdentity {
                external_id: visitor.into(),
                ..Default::default()
            },
            t0(),
        )
        .await
        .unwrap();
    store
        .conversation(customer.id, Platform::Webchat, session, t0())
        .await
        .unwrap()
        .id
}

/// A plain case to open on `conversation` at `t0`.
pub fn sample_case(conversation: ConversationId) -> NewCase {
    NewCase {
        id: CaseId::new(),
        conversation,
        reason: "human_requested".into(),
        reasons: vec!["human_requested".into()],
        urgency: Urgency::Normal,
        intent: None,
        sentiment: None,
        summary: String::new(),
        route: "default".into(),
        previous_owner: None,
        opened_at: t0(),
        details: Default::default(),
    }
}

/// Opens a plain case on the web chat conversation `session`.
pub async fn open_web_case<S: Store>(store: &S, session: &str) -> CaseId {
    let conv = web_conversation(store, &format!("visitor-{session}"), session).await;
    store
        .open_case(&sample_case(conv), &[], &[])
        .await
        .unwrap()
        .id
}

/// A fixed instant to build test times from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::TimeDelta::seconds(secs)
}

/// Runs each listed generic `async fn(store)` as one test per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (store, _dir) = $crate::common::sqlite_store().await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(store) = $crate::common::pg_store().await {
                        super::$name(store).await;
                    }
                }
            )*
        }
    };
}

/// An engine over `store` with one agent, Alice (Slack user `U_ALICE`),
/// the rules of `config`, and its clock.
pub fn engine_with<S: Store>(
    store: S,
    clock: handoff::clock::Clock,
    config: &handoff::config::Config,
) -> handoff::engine::Engine<S> {
    let agents = handoff::engine::AgentDirectory::new(&[handoff::config::AgentConfig {
        id: "alice".into(),
        name: "Alice".into(),
        slack_user: Some("U_ALICE".into()),
        teams_user: None,
        inbox_login: None,
        password_hash: None,
    }]);
    handoff::engine::Engine::new(
        store,
        clock,
        std::sync::Arc::new(handoff::metrics::Metrics::default()),
        agents,
        std::sync::Arc::new(handoff::escalation::Intelligence::new(config).unwrap()),
        config.relay.clone(),
        std::sync::Arc::new(tokio::sync::Notify::new()),
    )
}

/// Visitor 1 (Ada) writes `text` in web chat `session`; `id` is the
/// event's and the message's id.
pub fn customer_in(session: &str, id: &str, text: &str) -> handoff_core::InboundEvent {
    use handoff_core::{CustomerMessage, InboundEvent, InboundKind};
    InboundEvent {
        platform: Platform::Webchat,
        event_id: id.into(),
        received_at: t0(),
        kind: InboundKind::CustomerMessage(CustomerMessage {
            customer: CustomerIdentity {
                external_id: "visitor-1".into(),
                display_name: Some("Ada".into()),
                ..Default::default()
            },
            conversation: session.into(),
            text: text.into(),
            platform_message_id: Some(id.into()),
            attachments: vec![],
            open_thread: None,
        }),
    }
}
