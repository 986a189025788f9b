//! Identifiers shared by the engine and the platforms.
//!
//! Engine-owned records (cases, conversations, customers, messages) get UUIDs;
//! things that live on a platform are named by [`MessageRef`], the platform's
//! own channel and message ids, so they can be stored back on a case and found
//! again when the platform reports a reply or a reaction on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every surface handoff talks to. Customer sides and team sides share one
/// list because the outbox, metrics and dedupe key on it alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Slack workspace (team side).
    Slack,
    /// Microsoft Teams through the Bot Framework (team side).
    Teams,
    /// The built-in web inbox (team side).
    Inbox,
    /// Discord DMs and support channels (customer side).
    Discord,
    /// The web chat widget (customer side).
    Webchat,
}

impl Platform {
    /// All platforms, in a stable order (used to pre-register metrics).
    pub const ALL: [Platform; 5] = [
        Platform::Slack,
        Platform::Teams,
        Platform::Inbox,
        Platform::Discord,
        Platform::Webchat,
    ];

    /// The name used in storage, config, logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Teams => "teams",
            Platform::Inbox => "inbox",
            Platform::Discord => "discord",
            Platform::Webchat => "webchat",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name did not match any platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (expected one of slack, teams, inbox, discord, webchat)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlatform(s.to_owned()))
    }
}

/// Declares a UUID newtype so that a case id can never be passed where a
/// conversation id is expected.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh id; v7 so ids sort by creation time in indexes and logs.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A handoff case: one escalation of one conversation to people.
    CaseId
);
uuid_id!(
    /// One customer conversation on one customer-side platform.
    ConversationId
);
uuid_id!(
    /// One customer identity on one customer-side platform.
    CustomerId
);
uuid_id!(
    /// One stored message, whoever wrote it.
    MessageId
);

/// An agent as configured: one person across Slack, Teams and the inbox.
/// The value is the agent's config key (for example `alice`), not a platform
/// user id, so ownership survives a change of surface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub String);

impl AgentId {
    /// Wraps a config key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The config key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message as the platform names it: Slack `channel` + `ts`, Teams
/// conversation id + activity id, Discord channel id + message id. Stored back
/// on cases (the card) and messages (the relayed copy) so later events that
/// point at it can be matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef {
    /// Where the message lives.
    pub platform: Platform,
    /// The platform's channel or conversation id.
    pub channel: String,
    /// The platform's id of the message itself.
    pub message_id: String,
}

impl MessageRef {
    /// Builds a reference from its parts.
    pub fn new(
        platform: Platform,
        channel: impl Into<String>,
        message_id: impl Into<String>,
    ) -> Self {
        Self {
            platform,
            channel: channel.into(),
            message_id: message_id.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert!("irc".parse::<Platform>().is_err());
    }

    #[test]
    fn ids_parse_what_they_print() {
        let id = CaseId::new();
        assert_eq!(id.to_string().parse::<CaseId>().unwrap(), id);
        assert!("not-a-uuid".parse::<CaseId>().is_err());
    }
}
