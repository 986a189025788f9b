//! Discord as a customer side: a customer DMs the bot or posts in a
//! support channel (or forum), the conversation is analysed and escalated
//! like web chat, and the team's replies come back in the same place.
//!
//! - [`gateway`] listens through serenity's gateway client, turns messages,
//!   edits, deletions and CSAT clicks into events ([`inbound`], pure) and
//!   stores each through [`DiscordBackend`]; on every (re)connect it reads
//!   the history of each recent conversation after the last message stored,
//!   so nothing said while handoff was down is lost.
//! - [`DiscordAdapter`] carries out the outbox's commands over Discord's REST
//!   API ([`api`]): messages with mentions disabled, split at Discord's
//!   limit ([`markdown`]), and the threads support conversations move into.
//! - [`doctor`] checks the token, the intent and each support channel's
//!   permissions ([`permissions`]); [`doctor::invite_url`] makes the invite.
#![forbid(unsafe_code)]

/// The outbox's commands, carried out on Discord.
pub mod adapter;
/// Discord's REST API.
pub mod api;
/// `handoff doctor` and the invite URL.
pub mod doctor;
/// The gateway connection, its events, and the catch-up.
pub mod gateway;
/// What Discord events mean to handoff (pure).
pub mod inbound;
/// Text for Discord messages: escaping, Slack emphasis, splitting (pure).
pub mod markdown;
/// Discord's permission arithmetic (pure).
pub mod permissions;

use async_trait::async_trait;
use handoff_core::InboundEvent;

pub use adapter::DiscordAdapter;
pub use api::DiscordApi;
pub use gateway::Discord;

/// How handoff talks to Discord.
#[derive(Clone, PartialEq, Eq)]
pub struct DiscordSettings {
    /// Discord's base URL (`https://discord.com`); REST is under
    /// `/api/v10` and the gateway's address is asked from there.
    pub api_url: String,
    /// `DISCORD_TOKEN`, the bot token.
    pub token: String,
    /// Text or forum channels where customers post publicly; each post
    /// continues in a thread.
    pub support_channels: Vec<String>,
    /// User ids shown and routed as VIP.
    pub vip_users: Vec<String>,
    /// Role ids whose members are VIP.
    pub vip_roles: Vec<String>,
    /// How far back, in days, a restart catches up on conversations.
    pub catch_up_days: u32,
}

impl std::fmt::Debug for DiscordSettings {
    // The token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordSettings")
            .field("api_url", &self.api_url)
            .field("support_channels", &self.support_channels)
            .field("catch_up_days", &self.catch_up_days)
            .finish_non_exhaustive()
    }
}

/// The engine or store behind this crate failed.
pub use handoff_core::BackendError;

/// What the Discord side needs from the rest of handoff.
#[async_trait]
pub trait DiscordBackend: Send + Sync + 'static {
    /// Stores one event for processing; a duplicate event id is a no-op.
    async fn ingest(&self, event: &InboundEvent) -> Result<(), BackendError>;

    /// Recently active Discord conversations, each with the id of the last
    /// customer message stored in it (if any): where the catch-up resumes.
    async fn cursors(&self, days: u32) -> Result<Vec<(String, Option<String>)>, BackendError>;

    /// The right to hold the gateway connection, so that of several
    /// replicas exactly one listens (and answers button clicks); `None`
    /// while another replica has it.
    async fn lead(&self) -> Result<Option<Box<dyn Leadership>>, BackendError>;
}

/// Held while this replica owns the gateway connection.
#[async_trait]
pub trait Leadership: Send {
    /// Whether it is still held (the store connection behind it is alive).
    async fn alive(&mut self) -> bool;
}
