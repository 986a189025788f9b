//! handoff: hands customer conversations to a support team and carries the
//! conversation both ways until the case is resolved.
//!
//! Read this crate top-down:
//! an inbound event enters through [`http`] (platform webhooks), is stored
//! and deduplicated by the [`engine`], which asks [`escalation`] (built on
//! [`analysis`], [`triggers`] and [`routing`]) whether a conversation
//! needs a person, drives the [`cases`] state
//! machine and writes state changes together with their outgoing commands
//! through the [`store`]; the [`outbox`] worker then delivers those commands
//! through each platform's adapter. [`config`] is the one typed
//! configuration, [`clock`] the injectable time source, [`metrics`] the
//! Prometheus counters, and [`app`] wires it all into `handoff serve`.
#![forbid(unsafe_code)]

/// Offline message analysis: sentiment, intent, entities, summary.
pub mod analysis;
/// Wiring: builds the parts from config and runs them until shutdown.
pub mod app;
/// `handoff analyze` and `handoff replay` over JSON lines.
pub mod batch;
/// The case state machine: pure transitions, no I/O.
pub mod cases;
/// The web chat's and the inbox's storage over the engine.
pub mod channels;
/// The source of "now", real or hand-driven in tests.
pub mod clock;
/// One typed configuration: defaults, then `handoff.toml`, then environment.
pub mod config;
/// The path of an inbound event: store, dedupe, act, queue.
pub mod engine;
/// Whether, why and where a conversation escalates.
pub mod escalation;
/// The HTTP surface: health, readiness, metrics, platform endpoints.
pub mod http;
/// Prometheus counters and gauges.
pub mod metrics;
/// Durable, retried, ordered delivery of every outgoing platform call.
pub mod outbox;
/// Who may say what to whom: agent replies and internal notes.
pub mod relay;
/// The card's content and the customer notices.
pub mod render;
/// Case figures: metrics and `handoff report`.
pub mod report;
/// Which team channel a case goes to.
pub mod routing;
/// SLA timers: re-announce, escalate, remind the owner.
pub mod sla;
/// Durable state behind one trait, SQLite and PostgreSQL.
pub mod store;
/// Signed transcript links and the transcript page.
pub mod transcript;
/// Escalation rules over a conversation.
pub mod triggers;
