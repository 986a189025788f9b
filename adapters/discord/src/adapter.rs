//! Carries out the outbox's commands on Discord: messages to customers
//! (split at Discord's limit, never pinging anyone, CSAT as buttons) and
//! the threads support-channel conversations move into.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use handoff_core::{
    Adapter, Content, Delivered, Delivery, DeliveryError, MessageRef, OutboundCommand, Platform,
};
use serde_json::{Value, json};

use crate::api::{ApiError, DiscordApi, codes};
use crate::inbound::CSAT_PREFIX;
use crate::markdown;

/// Discord refuses message content longer than this many characters.
pub const MAX_CONTENT: usize = 2000;

/// Delivers to Discord.
#[derive(Debug)]
pub struct DiscordAdapter {
    api: DiscordApi,
    /// (channel, permission) pairs already logged, so a channel missing a
    /// permission is reported once, not on every message.
    reported: Mutex<HashSet<(String, &'static str)>>,
}

impl DiscordAdapter {
    /// Delivers through `api`.
    pub fn new(api: DiscordApi) -> Self {
        Self {
            api,
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// Logs a missing permission the first time it is met in a channel.
    pub(crate) fn missing_permission(&self, channel: &str, permission: &'static str, e: &ApiError) {
        report_missing(&self.reported, channel, permission, e);
    }

    async fn send(
        &self,
        delivery: &Delivery,
        channel: &str,
        content: &Content,
    ) -> Result<MessageRef, ApiError> {
        let parts = parts(content);
        let mut last = None;
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            let mut body = json!({
                "content": part,
                // Nobody is ever pinged through the bot: not @everyone, not
                // a role, not a user, whatever an agent wrote.
                "allowed_mentions": {"parse": []},
                // Discord drops a second message with the same nonce in the
                // channel for a few minutes: a retry after a lost answer
                // does not post twice.
                "nonce": nonce(&delivery.idempotency_key, i),
                "enforce_nonce": true,
            });
            if i + 1 == count
                && let Some(buttons) = csat_buttons(content)
            {
                body["components"] = buttons;
            }
            let posted = match self.api.create_message(channel, &body).await {
                Ok(posted) => posted,
                Err(e) => {
                    if e.code() == Some(codes::MISSING_PERMISSIONS) {
                        self.missing_permission(channel, "SEND_MESSAGES_IN_THREADS", &e);
                    }
                    return Err(e);
                }
            };
            last = posted["id"].as_str().map(ToOwned::to_owned);
        }
        Ok(MessageRef::new(
            Platform::Discord,
            channel,
            last.unwrap_or_default(),
        ))
    }

    async fn open_thread(&self, channel: &str, message: &str, name: &str) -> Result<(), ApiError> {
        let Err(e) = self.api.open_thread(channel, message, name).await else {
            return Ok(());
        };
        // Only a refusal retrying cannot fix is worth troubling the
        // customer with; the outbox retries the rest.
        if !matches!(
            DeliveryError::from(e.clone()),
            DeliveryError::Permanent { .. }
        ) {
            return Err(e);
        }
        if e.code() == Some(codes::MISSING_PERMISSIONS) {
            self.missing_permission(channel, "CREATE_PUBLIC_THREADS", &e);
        } else {
            tracing::error!(channel, message, error = %e, "Could not open a support thread.");
        }
        // The customer must not wait in silence for replies that cannot
        // arrive: say so under their post, once (the nonce).
        let body = json!({
            "content": markdown::escape(&format!(
                "Sorry, we could not open a thread for this conversation ({}). \
                 Please send us a direct message instead.",
                refusal(&e)
            )),
            "allowed_mentions": {"parse": []},
            "message_reference": {"message_id": message, "fail_if_not_exists": false},
            "nonce": nonce(&format!("thread-failed:{message}"), 0),
            "enforce_nonce": true,
        });
        if let Err(told) = self.api.create_message(channel, &body).await {
            tracing::error!(channel, error = %told, "Could not tell the customer their thread failed.");
        }
        Err(e)
    }
}

/// Discord's own words for a refusal.
fn refusal(e: &ApiError) -> String {
    match e {
        ApiError::Refused { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn report_missing(
    reported: &Mutex<HashSet<(String, &'static str)>>,
    channel: &str,
    permission: &'static str,
    e: &ApiError,
) {
    let first = reported
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert((channel.to_owned(), permission));
    if first {
        tracing::error!(
            channel,
            permission,
            error = %e,
            "The bot lacks a Discord permission in this channel; grant it (handoff doctor lists what is missing)."
        );
    }
}

/// A nonce for part `part` of a delivery: Discord takes at most 25
/// characters, so the key is hashed (FNV-1a, stable across releases).
fn nonce(key: &str, part: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain(part.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("h{h:016x}")
}

/// The text as the customer reads it on Discord, cut into messages. An
/// agent's message is led by their name and keeps the emphasis they wrote
/// in Slack; anything else is shown literally.
fn parts(content: &Content) -> Vec<String> {
    let rich = content.rich.as_ref().unwrap_or(&Value::Null);
    let text = if rich["author"] == "agent" {
        let body = if rich["from"] == "slack" {
            markdown::from_slack(&content.text)
        } else {
            markdown::escape(&content.text)
        };
        let name = rich["name"].as_str().unwrap_or("Support");
        format!("**{}:** {body}", markdown::escape(name))
    } else {
        markdown::escape(&content.text)
    };
    let parts = markdown::split(&text, MAX_CONTENT);
    if parts.is_empty() {
        // Discord refuses an empty message; a notice that rendered empty
        // still says something.
        return vec!["…".to_owned()];
    }
    parts
}

/// The 1-5 buttons under a CSAT question.
fn csat_buttons(content: &Content) -> Option<Value> {
    let rich = content.rich.as_ref()?;
    if rich["kind"] != "csat" {
        return None;
    }
    let buttons: Vec<Value> = (1..=5)
        .map(|n| {
            json!({"type": 2, "style": 2, "label": n.to_string(),
                   "custom_id": format!("{CSAT_PREFIX}{n}")})
        })
        .collect();
    Some(json!([{"type": 1, "components": buttons}]))
}

#[async_trait]
impl Adapter for DiscordAdapter {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        match &delivery.command {
            OutboundCommand::SendToCustomer {
                conversation,
                content,
                ..
            } => Ok(Delivered {
                reference: Some(self.send(delivery, conversation, content).await?),
            }),
            OutboundCommand::OpenThread {
                channel,
                message,
                name,
            } => {
                self.open_thread(channel, message, name).await?;
                Ok(Delivered::default())
            }
            other => Err(DeliveryError::Permanent {
                reason: format!(
                    "Discord is a customer side; it cannot carry out {}",
                    other.name()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_fit_discords_limit_and_differ_per_part() {
        let a = nonce("case:1:v3:notice", 0);
        assert!(a.len() <= 25);
        assert_ne!(a, nonce("case:1:v3:notice", 1));
        assert_eq!(a, nonce("case:1:v3:notice", 0));
    }

    #[test]
    fn agents_are_named_and_their_slack_emphasis_kept() {
        let c = Content {
            text: "*Good news*: it shipped @everyone".into(),
            rich: Some(json!({"author": "agent", "name": "Alice_B", "from": "slack"})),
        };
        let p = parts(&c);
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("**Alice\\_B:** **Good news**"), "{}", p[0]);
        assert!(!p[0].contains(" @everyone"), "{}", p[0]);
    }

    #[test]
    fn notices_are_literal_and_long_text_is_split() {
        let c = Content::text("**not bold** [x](https://evil.example)");
        let p = parts(&c);
        assert!(!p[0].contains("**not"), "{}", p[0]);
        let long = Content::text("A sentence. ".repeat(400));
        let p = parts(&long);
        assert!(p.len() >= 3);
        assert!(p.iter().all(|p| p.chars().count() <= MAX_CONTENT));
        assert_eq!(parts(&Content::text("")), vec!["…".to_owned()]);
    }

    #[test]
    fn csat_questions_get_five_buttons() {
        let c = Content {
            text: "How did we do?".into(),
            rich: Some(json!({"author": "bot", "kind": "csat", "case": "x"})),
        };
        let b = csat_buttons(&c).unwrap();
        assert_eq!(b[0]["components"].as_array().unwrap().len(), 5);
        assert_eq!(b[0]["components"][3]["custom_id"], "csat:4");
        assert!(csat_buttons(&Content::text("hi")).is_none());
    }
}
