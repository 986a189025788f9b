//! What a platform reports to the engine, already verified and normalised.
//!
//! Events are serialisable because the engine stores each one, keyed by the
//! platform's own event id, before the platform gets its acknowledgement:
//! processing then runs from the stored copy, and a redelivery of the same id
//! is recognised and dropped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::refs::{AgentId, CaseId, MessageRef, Platform};

/// One verified event from one platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// Which platform sent it.
    pub platform: Platform,
    /// The platform's id for this delivery (Slack `event_id`, Teams activity
    /// id, Discord message id, web chat client message id). Same id again
    /// means a retry of the same event.
    pub event_id: String,
    /// When handoff received it.
    pub received_at: DateTime<Utc>,
    /// What happened.
    pub kind: InboundKind,
}

/// The kinds of event the engine understands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundKind {
    /// A customer wrote something.
    CustomerMessage(CustomerMessage),
    /// An agent pressed a button or chose a menu entry on a card.
    AgentAction(AgentAction),
    /// An agent wrote in a card's thread.
    AgentReply(AgentReply),
    /// An agent edited or deleted what they wrote in a card's thread.
    AgentEdit(AgentEdit),
    /// Someone added or removed a reaction on a message handoff knows.
    Reaction(Reaction),
    /// A customer rated the help they got (CSAT, 1-5).
    CustomerRating(CustomerRating),
    /// A customer edited or deleted a message they wrote earlier.
    CustomerEdit(CustomerEdit),
}

/// A customer changed or deleted one of their messages (Discord lets them;
/// the team should see the new version, or that it was withdrawn).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerEdit {
    /// Who changed it, when the platform says (Discord does not for a
    /// deletion).
    pub customer: Option<CustomerIdentity>,
    /// The platform's key for the conversation, as in [`CustomerMessage`].
    pub conversation: String,
    /// The platform's id of the message that changed.
    pub platform_message_id: String,
    /// The new text; `None` when deleted.
    pub text: Option<String>,
}

/// A customer's satisfaction rating of their latest case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRating {
    /// Who rates.
    pub customer: CustomerIdentity,
    /// The platform's key for the conversation, as in [`CustomerMessage`].
    pub conversation: String,
    /// 1 (bad) to 5 (great); anything else is refused by the engine.
    pub score: u8,
}

/// A customer's message, with who they are as far as the platform can say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerMessage {
    /// Who wrote it.
    pub customer: CustomerIdentity,
    /// The platform's key for the conversation: a DM channel id, a support
    /// thread id, a web chat session id. Replies go back there.
    pub conversation: String,
    /// The text as the customer wrote it (never trusted as markup).
    pub text: String,
    /// The platform's id of the message, for edits, deletes and dedupe.
    pub platform_message_id: Option<String>,
    /// Files the customer attached, as links.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Set when the message was posted in a public support channel: the
    /// conversation continues in a thread opened from it, and the
    /// conversation key is that thread's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_thread: Option<ThreadStart>,
}

/// A thread to open from a customer's message before anything is said to
/// them, so the conversation leaves the public channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadStart {
    /// The channel the message was posted in.
    pub channel: String,
    /// The message to open the thread from.
    pub message: String,
    /// The thread's title.
    pub name: String,
}

/// A customer as one platform knows them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerIdentity {
    /// The platform's stable id (Discord user id, verified site user id, or
    /// the anonymous web chat session).
    pub external_id: String,
    /// A name to show agents.
    pub display_name: Option<String>,
    /// An email address, where the platform vouches for one.
    pub email: Option<String>,
    /// Plan, VIP flag, account id and similar, for triggers and routing.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A file a customer or agent shared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name as shown.
    pub name: String,
    /// Where it can be fetched.
    pub url: String,
}

/// A person on a team-side platform, before the engine maps them to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformUser {
    /// The platform's user id (Slack `U…`, Teams AAD object id, inbox login).
    pub user_id: String,
    /// The platform's display name, when the event carried one.
    pub display_name: Option<String>,
}

/// A button or menu choice on a handoff card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentAction {
    /// The case the card belongs to (carried in the button's value).
    pub case: CaseId,
    /// Who clicked.
    pub actor: PlatformUser,
    /// What they asked for.
    pub action: CaseAction,
}

/// What an agent can ask of a case from its card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CaseAction {
    /// Take ownership.
    Claim,
    /// Give ownership back to the queue.
    Release,
    /// Close the case.
    Resolve,
    /// Give the case to another agent.
    Reassign {
        /// The agent who should own it.
        to: AgentId,
    },
    /// Say what the customer really wants (the detected intent was wrong).
    CorrectIntent {
        /// One of the taxonomy's intent names.
        intent: String,
    },
}

/// A message an agent wrote in a card's thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReply {
    /// The card (thread root) it was written under.
    pub thread: MessageRef,
    /// Who wrote it.
    pub actor: PlatformUser,
    /// The text as the customer may read it: the adapter has already
    /// turned the platform's markup (mentions, links, entities) into text.
    pub text: String,
    /// The platform's id of the reply, for receipts, edits and deletes.
    pub platform_message_id: String,
    /// Files shared with it that a customer can open, as links.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Names of files shared with it that a customer could not open (a
    /// Slack file private to the workspace): they are not sent, and the
    /// agent is told.
    #[serde(default)]
    pub withheld: Vec<String>,
}

/// An agent changed or deleted a message they wrote under a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEdit {
    /// The card (thread root) the message is under.
    pub thread: MessageRef,
    /// Who changed it.
    pub actor: PlatformUser,
    /// The platform's id of the message that changed.
    pub platform_message_id: String,
    /// The new text, as the customer may read it; `None` when deleted.
    pub text: Option<String>,
}

/// A reaction added to or removed from a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The message reacted to.
    pub message: MessageRef,
    /// Who reacted.
    pub actor: PlatformUser,
    /// The reaction's name (`eyes`, `white_check_mark`).
    pub name: String,
    /// True when added, false when removed.
    pub added: bool,
}
