//! The contract between the handoff engine and every platform crate.
//!
//! A platform crate (Slack, Teams, Discord, web chat, inbox) turns what its
//! platform sends into [`InboundEvent`]s and carries out [`OutboundCommand`]s
//! through the [`Adapter`] trait. It never imports the engine: everything the
//! two sides share is defined here, so the dependency runs one way only.
#![forbid(unsafe_code)]

/// The adapter trait and what a delivery can report back.
pub mod adapter;
/// What every team side's handoff card shows.
pub mod card;
/// Commands the engine asks a platform to carry out.
pub mod command;
/// What `handoff doctor` reports.
pub mod doctor;
/// Events a platform reports to the engine.
pub mod event;
/// In-memory rate limits (web chat messages and sessions, inbox sign-ins).
pub mod limits;
/// Escaping customer text for HTML and the platforms' markups.
pub mod markup;
/// Identifiers and references to things that live on a platform.
pub mod refs;
/// Handlebars for the team sides' JSON cards.
pub mod template;

pub use adapter::{Adapter, BackendError, Delivered, Delivery, DeliveryError, InboundError};
pub use command::{Content, OutboundCommand, Receipt};
pub use event::{
    AgentAction, AgentEdit, AgentReply, Attachment, CaseAction, CustomerEdit, CustomerIdentity,
    CustomerMessage, CustomerRating, InboundEvent, InboundKind, PlatformUser, Reaction,
    ThreadStart,
};
pub use refs::{AgentId, CaseId, ConversationId, CustomerId, MessageId, MessageRef, Platform};
