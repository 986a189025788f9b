//! What the engine asks a platform to do.
//!
//! Commands are plain data so they can sit in the durable outbox, in the same
//! transaction as the state change that caused them, and be delivered (and
//! redelivered after a crash) later by the outbox worker.

use serde::{Deserialize, Serialize};

use crate::refs::{CaseId, MessageId, MessageRef};

/// Something to show a person, already rendered for one platform by the
/// templates: plain `text` always (notifications, fallbacks, screen readers),
/// and the platform's rich form (Block Kit, Adaptive Card, HTML) when it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// Plain-text form.
    pub text: String,
    /// The platform's structured form, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rich: Option<serde_json::Value>,
}

impl Content {
    /// Plain text with no rich form.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            rich: None,
        }
    }
}

/// Where an agent sees whether their message reached the customer: a
/// reaction on it, one name for delivered and one for failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The agent's message.
    pub target: MessageRef,
    /// The reaction added once delivered.
    pub delivered: String,
    /// The reaction added when delivery is given up.
    pub failed: String,
}

/// One outgoing platform call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum OutboundCommand {
    /// Post a handoff card into a team channel. The reference the platform
    /// returns is stored on the case as its card.
    PostCard {
        /// The case the card shows.
        case: CaseId,
        /// The team channel (route) to post into.
        channel: String,
        /// The rendered card.
        content: Content,
    },
    /// Replace a posted card with a new rendering.
    UpdateCard {
        /// The case the card shows.
        case: CaseId,
        /// The card to replace; filled in by the outbox worker from the case
        /// when the command was queued before the card existed.
        card: Option<MessageRef>,
        /// The new rendering.
        content: Content,
    },
    /// Post into a card's thread (customer follow-ups, notes, warnings).
    PostInThread {
        /// The case whose card is the thread root.
        case: CaseId,
        /// The thread root; filled in from the case like `UpdateCard::card`.
        thread: Option<MessageRef>,
        /// What to post.
        content: Content,
        /// The stored message this relays, so its relayed copy can be recorded.
        message: Option<MessageId>,
    },
    /// Send a message to a customer in their conversation.
    SendToCustomer {
        /// The platform's conversation key (DM channel, session id).
        conversation: String,
        /// What to send.
        content: Content,
        /// The stored message this relays, so its relayed copy can be recorded.
        message: Option<MessageId>,
        /// The agent's own message on the team side, marked when this
        /// delivery succeeds or finally fails.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipt: Option<Receipt>,
    },
    /// Add a reaction (delivery receipt, warning) to a message.
    React {
        /// The message to react to.
        target: MessageRef,
        /// The reaction name.
        name: String,
    },
    /// Open a thread from a customer's message in a public support channel;
    /// the thread carries the conversation from then on.
    OpenThread {
        /// The channel the message is in.
        channel: String,
        /// The message the thread starts from.
        message: String,
        /// The thread's title.
        name: String,
    },
    /// Show a message to one user only (the loser of a claim race).
    Ephemeral {
        /// The channel it appears in.
        channel: String,
        /// The platform user who sees it.
        user: String,
        /// What they see.
        content: Content,
    },
}

impl OutboundCommand {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            OutboundCommand::PostCard { .. } => "post_card",
            OutboundCommand::UpdateCard { .. } => "update_card",
            OutboundCommand::PostInThread { .. } => "post_in_thread",
            OutboundCommand::SendToCustomer { .. } => "send_to_customer",
            OutboundCommand::React { .. } => "react",
            OutboundCommand::OpenThread { .. } => "open_thread",
            OutboundCommand::Ephemeral { .. } => "ephemeral",
        }
    }

    /// The case whose card this command needs resolved before delivery, if
    /// its card reference is still missing.
    pub fn unresolved_card(&self) -> Option<CaseId> {
        match self {
            OutboundCommand::UpdateCard {
                case, card: None, ..
            }
            | OutboundCommand::PostInThread {
                case, thread: None, ..
            } => Some(*case),
            _ => None,
        }
    }

    /// Fills in the card reference that [`Self::unresolved_card`] asked for.
    pub fn resolve_card(&mut self, card_ref: MessageRef) {
        match self {
            OutboundCommand::UpdateCard { card, .. } => *card = Some(card_ref),
            OutboundCommand::PostInThread { thread, .. } => *thread = Some(card_ref),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refs::Platform;

    #[test]
    fn commands_survive_storage_as_json() {
        let cmd = OutboundCommand::UpdateCard {
            case: CaseId::new(),
            card: None,
            content: Content::text("claimed by Alice"),
        };
        let json = serde_json::to_string(&cmd).unwrap();
        assert!(json.contains("\"command\":\"update_card\""));
        assert_eq!(serde_json::from_str::<OutboundCommand>(&json).unwrap(), cmd);
    }

    #[test]
    fn card_references_are_filled_in_once_known() {
        let case = CaseId::new();
        let mut cmd = OutboundCommand::PostInThread {
            case,
            thread: None,
            content: Content::text("hi"),
            message: None,
        };
        assert_eq!(cmd.unresolved_card(), Some(case));
        cmd.resolve_card(MessageRef::new(Platform::Slack, "C1", "1.2"));
        assert_eq!(cmd.unresolved_card(), None);
    }
}
