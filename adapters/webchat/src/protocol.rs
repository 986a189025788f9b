//! The web chat websocket protocol: JSON text frames, one object each,
//! tagged by `type`. `docs/webchat-protocol.md` is the prose version; the
//! tests there and here keep them in step.

use serde::{Deserialize, Serialize};

/// What the widget (or any client) sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame on every connection: resume a session (token) or start
    /// one, and say the last feed position already shown.
    Hello {
        /// The session token from an earlier `welcome`, if any.
        #[serde(default)]
        token: Option<String>,
        /// The highest `seq` the client has shown; entries after it are sent.
        #[serde(default)]
        last_seq: i64,
        /// A name the visitor typed (shown to agents, not verified).
        #[serde(default)]
        name: Option<String>,
        /// An email the visitor typed (not verified).
        #[serde(default)]
        email: Option<String>,
        /// The host site's signed claim about its logged-in user.
        #[serde(default)]
        identity: Option<SignedIdentity>,
    },
    /// A customer message. `id` is the client's own id for it: sending the
    /// same id again (after a reconnect) is acknowledged, never stored twice.
    Message {
        /// Client-chosen id, 1 to 64 characters.
        id: String,
        /// The text, shown to agents as text.
        text: String,
    },
    /// The customer's rating (CSAT) of their latest case, answering a
    /// `csat` entry. Acknowledged like a message; rating again replaces it.
    Rate {
        /// Client-chosen id, 1 to 64 characters.
        id: String,
        /// 1 (bad) to 5 (great).
        score: u8,
    },
    /// Keeps idle connections open through proxies; answered with `pong`.
    Ping,
}

/// A host site's statement about its logged-in user, signed with the shared
/// secret (`webchat.identity_secret`): `sig` is the lowercase hex
/// HMAC-SHA256 of `user_id`, `email`, `name` and `expires` joined by `\n`
/// (absent fields as empty strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIdentity {
    /// The site's id for the user.
    pub user_id: String,
    /// Their email.
    #[serde(default)]
    pub email: Option<String>,
    /// Their name.
    #[serde(default)]
    pub name: Option<String>,
    /// Unix seconds after which the claim is refused.
    pub expires: i64,
    /// The signature.
    pub sig: String,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The answer to `hello`. `token` is present when a new session was
    /// started: the client keeps it to resume.
    Welcome {
        /// A new session's token (keep it), or absent when resuming.
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Whether the host site's identity claim was accepted.
        verified: bool,
        /// The greeting to show above an empty conversation.
        #[serde(skip_serializing_if = "Option::is_none")]
        greeting: Option<String>,
        /// Limits the client should respect.
        limits: Limits,
    },
    /// The message with client id `id` is stored, at feed position `seq`.
    Ack {
        /// The client's id.
        id: String,
        /// Its position in the feed.
        seq: i64,
    },
    /// One entry of the conversation, from history or live. Clients show
    /// each `seq` once.
    Entry(Entry),
    /// Something was refused; `id` names the message when it was one.
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// A sentence to show the visitor.
        message: String,
        /// The refused message's client id.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Seconds to wait before trying again, for rate limits.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// Answer to `ping`.
    Pong,
}

/// Limits announced in `welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest message, in characters.
    pub max_message_chars: usize,
    /// Messages allowed per minute.
    pub messages_per_minute: u32,
}

/// One line of the conversation as the visitor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the conversation's feed; strictly increasing.
    pub seq: i64,
    /// `customer`, `agent` or `bot`.
    pub author: String,
    /// The agent's display name, for agent entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `message` or `notice` (status lines such as "Alice joined").
    pub kind: String,
    /// The text. Always shown as text, never as HTML.
    pub text: String,
    /// For the customer's own messages: the client id it was sent with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// When it was stored (RFC 3339).
    pub at: String,
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, an unknown type, or `message` before `hello`.
    BadFrame,
    /// The message is longer than `max_message_chars` (or empty).
    TooLarge,
    /// Too many messages in the last minute.
    RateLimited,
    /// Too many new sessions from this address.
    TooManySessions,
    /// The session token is unknown; a new session was started.
    UnknownSession,
    /// The identity claim's signature or expiry did not check out; the
    /// visitor continues anonymously.
    IdentityRejected,
    /// The server could not store the message; resend it later.
    Unavailable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_documented_shape() {
        let hello: ClientFrame =
            serde_json::from_str(r#"{"type":"hello","token":"t","last_seq":4}"#).unwrap();
        assert_eq!(
            hello,
            ClientFrame::Hello {
                token: Some("t".into()),
                last_seq: 4,
                name: None,
                email: None,
                identity: None
            }
        );
        let ack = serde_json::to_value(ServerFrame::Ack {
            id: "c1".into(),
            seq: 7,
        })
        .unwrap();
        assert_eq!(
            ack,
            serde_json::json!({"type": "ack", "id": "c1", "seq": 7})
        );
        let entry = serde_json::to_value(ServerFrame::Entry(Entry {
            seq: 1,
            author: "agent".into(),
            name: Some("Alice".into()),
            kind: "message".into(),
            text: "hi".into(),
            client_id: None,
            at: "2026-01-01T00:00:00Z".into(),
        }))
        .unwrap();
        assert_eq!(entry["type"], "entry");
        assert_eq!(entry["name"], "Alice");
    }

    #[test]
    fn unknown_frames_and_fields_are_refused() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientFrame>(
                r#"{"type":"message","id":"1","text":"x","html":"<b>"}"#
            )
            .is_err()
        );
    }
}
