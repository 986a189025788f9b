//! Slack as handoff's team side.
//!
//! Cards are posted as Block Kit into each route's channel and edited in
//! place on every change ([`SlackAdapter`], through the outbox). Agents
//! press Claim / Release / Resolve, pick from the Reassign and Correct
//! intent menus, react with the configured emoji, and reply in the card's
//! thread. Those arrive over the Events API (`POST /slack/events`,
//! `POST /slack/interactions`, signed with `SLACK_SIGNING_SECRET`) or over
//! Socket Mode (`SLACK_APP_TOKEN`), are parsed by one function whichever way
//! they came ([`inbound`]), and are handed to the engine, which stores them
//! before Slack gets its acknowledgement.
//!
//! Nothing customer-written reaches Slack unescaped ([`card`]), and nothing
//! in Slack markup reaches a customer ([`mrkdwn::to_plain`]).
#![forbid(unsafe_code)]

pub mod adapter;
pub mod api;
pub mod card;
pub mod doctor;
pub mod http;
pub mod inbound;
pub mod mrkdwn;

pub use adapter::SlackAdapter;
pub use api::SlackApi;
pub use http::{Slack, SlackBackend, routes};

use handoff_core::CaseAction;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// An agent as the Slack side needs to know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAgent {
    /// Their config key (owner of cases).
    pub id: String,
    /// The name shown in menus.
    pub name: String,
    /// Their Slack user id, when they work in Slack.
    pub slack_user: Option<String>,
}

/// The verb for a card action, for the card's reaction hint.
fn verb(action: &CaseAction) -> &'static str {
    match action {
        CaseAction::Claim => "claim",
        CaseAction::Release => "release",
        CaseAction::Resolve => "resolve",
        CaseAction::Reassign { .. } => "reassign",
        CaseAction::CorrectIntent { .. } => "correct the intent",
    }
}

/// How the Slack side is set up. Built from `[slack]` and the secrets.
#[derive(Clone)]
pub struct SlackSettings {
    /// The Web API base, without a trailing slash (a test double's in tests).
    pub api_url: String,
    /// `SLACK_BOT_TOKEN` (xoxb-…).
    pub bot_token: String,
    /// `SLACK_SIGNING_SECRET`: without it the Events API endpoints refuse
    /// every request.
    pub signing_secret: Option<String>,
    /// `SLACK_APP_TOKEN` (xapp-…): with it, events also come over Socket Mode.
    pub app_token: Option<String>,
    /// The team, for the Reassign menu and `<@U…>` owners on cards.
    pub agents: Vec<SlackAgent>,
    /// The taxonomy's intents, for the Correct intent menu.
    pub intents: Vec<String>,
    /// Reaction name (without colons) -> what it does on a card (the
    /// engine acts on it; the card shows the hint).
    pub reactions: Vec<(String, CaseAction)>,
    /// Added to an agent's message once it reached the customer.
    pub delivered_reaction: String,
    /// Added to an agent's message that could not be delivered.
    pub failed_reaction: String,
    /// Socket Mode websocket connections to keep open.
    pub socket_connections: u32,
}

impl std::fmt::Debug for SlackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are never printed.
        f.debug_struct("SlackSettings")
            .field("api_url", &self.api_url)
            .field(
                "signing_secret",
                &self.signing_secret.as_ref().map(|_| "set"),
            )
            .field("app_token", &self.app_token.as_ref().map(|_| "set"))
            .field("agents", &self.agents.len())
            .field("reactions", &self.reactions)
            .finish_non_exhaustive()
    }
}

impl SlackSettings {
    /// The Slack user of an agent, by config key.
    pub fn slack_user_of(&self, agent: &str) -> Option<&str> {
        self.agents
            .iter()
            .find(|a| a.id == agent)
            .and_then(|a| a.slack_user.as_deref())
    }

    /// "React :eyes: to claim, :white_check_mark: to resolve", for the card.
    pub fn reaction_hint(&self) -> Option<String> {
        if self.reactions.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .reactions
            .iter()
            .map(|(n, a)| format!(":{n}: to {}", verb(a)))
            .collect();
        Some(format!("React {}", parts.join(", ")))
    }

    /// A small, complete set-up for unit tests.
    #[doc(hidden)]
    pub fn for_tests() -> Self {
        Self {
            api_url: "http://127.0.0.1:9/api".into(),
            bot_token: "xoxb-test".into(),
            signing_secret: Some("secret".into()),
            app_token: None,
            agents: vec![
                SlackAgent {
                    id: "alice".into(),
                    name: "Alice".into(),
                    slack_user: Some("UALICE".into()),
                },
                SlackAgent {
                    id: "bob".into(),
                    name: "Bob".into(),
                    slack_user: Some("UBOB".into()),
                },
            ],
            intents: vec!["billing".into(), "refund".into()],
            reactions: vec![
                ("eyes".into(), CaseAction::Claim),
                ("white_check_mark".into(), CaseAction::Resolve),
            ],
            delivered_reaction: "incoming_envelope".into(),
            failed_reaction: "warning".into(),
            socket_connections: 2,
        }
    }
}
