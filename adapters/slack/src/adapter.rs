//! The outbox's way into Slack: cards posted and edited in place, thread
//! posts, reactions and ephemeral messages.
//!
//! Slack has no idempotency keys, so a post is tagged with its outbox key
//! in the message's `metadata`; a retry (which may follow a post whose
//! answer was lost) first looks for a message with that key and reports it
//! instead of posting a second card.

use std::sync::Arc;

use async_trait::async_trait;
use handoff_core::markup::escape_mrkdwn;
use handoff_core::{
    Adapter, Delivered, Delivery, DeliveryError, MessageRef, OutboundCommand, Platform,
};
use serde_json::json;

use crate::SlackSettings;
use crate::api::{ApiError, SlackApi};
use crate::card::{CardRenderer, SlackMessage, thread_post};

/// The `metadata.event_type` handoff tags its posts with.
const EVENT_TYPE: &str = "handoff_post";

/// How far back a retry looks for its own earlier post.
const LOOK_BACK: &str = "50";

/// Delivers outbox commands to Slack.
#[derive(Debug)]
pub struct SlackAdapter {
    api: SlackApi,
    settings: Arc<SlackSettings>,
    cards: CardRenderer,
}

impl SlackAdapter {
    /// Over `api`, rendering cards with the built-in template.
    pub fn new(
        api: SlackApi,
        settings: Arc<SlackSettings>,
    ) -> Result<Self, crate::card::CardTemplateError> {
        Ok(Self {
            api,
            settings,
            cards: CardRenderer::new()?,
        })
    }

    async fn post(
        &self,
        delivery: &Delivery,
        channel: &str,
        thread: Option<&str>,
        message: SlackMessage,
    ) -> Result<MessageRef, ApiError> {
        let key = &delivery.idempotency_key;
        if delivery.attempt > 1
            && let Some(found) = self.find_posted(channel, thread, key).await?
        {
            tracing::info!(channel, ts = %found.message_id, "Found the earlier post of this retry; not posting again.");
            return Ok(found);
        }
        let mut args = json!({
            "channel": channel,
            "text": message.text,
            // Customer text may hold URLs; previews would show content the
            // team never chose to load.
            "unfurl_links": false,
            "unfurl_media": false,
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"key": key}},
        });
        if let Some(blocks) = message.blocks {
            args["blocks"] = blocks;
        }
        if let Some(ts) = thread {
            args["thread_ts"] = json!(ts);
        }
        let answer = self.api.post("chat.postMessage", &args).await?;
        let ts = answer["ts"].as_str().ok_or_else(|| {
            ApiError::Unreachable("chat.postMessage answered without a ts".into())
        })?;
        let channel = answer["channel"].as_str().unwrap_or(channel);
        Ok(MessageRef::new(Platform::Slack, channel, ts))
    }

    async fn find_posted(
        &self,
        channel: &str,
        thread: Option<&str>,
        key: &str,
    ) -> Result<Option<MessageRef>, ApiError> {
        let answer = match thread {
            Some(ts) => {
                self.api
                    .get(
                        "conversations.replies",
                        &[
                            ("channel", channel),
                            ("ts", ts),
                            ("limit", LOOK_BACK),
                            ("include_all_metadata", "true"),
                        ],
                    )
                    .await
            }
            None => {
                self.api
                    .get(
                        "conversations.history",
                        &[
                            ("channel", channel),
                            ("limit", LOOK_BACK),
                            ("include_all_metadata", "true"),
                        ],
                    )
                    .await
            }
        };
        let answer = match answer {
            Ok(a) => a,
            // Without history access the retry posts again: a possible
            // duplicate beats a lost message.
            Err(ApiError::Refused { code, .. }) => {
                tracing::warn!(channel, code = %code, "Could not read back earlier posts before a retry.");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        Ok(answer["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| {
                m["metadata"]["event_type"] == EVENT_TYPE
                    && m["metadata"]["event_payload"]["key"] == key
            })
            .and_then(|m| m["ts"].as_str())
            .map(|ts| MessageRef::new(Platform::Slack, channel, ts)))
    }

    async fn run(&self, delivery: &Delivery) -> Result<Option<MessageRef>, ApiError> {
        match &delivery.command {
            OutboundCommand::PostCard {
                channel, content, ..
            } => {
                let message = self.cards.card(content, &self.settings);
                self.post(delivery, channel, None, message).await.map(Some)
            }
            OutboundCommand::UpdateCard {
                card: Some(card),
                content,
                ..
            } => {
                let message = self.cards.card(content, &self.settings);
                let mut args =
                    json!({"channel": card.channel, "ts": card.message_id, "text": message.text});
                if let Some(blocks) = message.blocks {
                    args["blocks"] = blocks;
                }
                self.api.post("chat.update", &args).await?;
                Ok(None)
            }
            OutboundCommand::PostInThread {
                thread: Some(thread),
                content,
                ..
            } => {
                let message = thread_post(content);
                self.post(delivery, &thread.channel, Some(&thread.message_id), message)
                    .await
                    .map(Some)
            }
            OutboundCommand::React { target, name } => {
                let args = json!({"channel": target.channel, "timestamp": target.message_id, "name": name});
                match self.api.post("reactions.add", &args).await {
                    Err(ApiError::Refused { code, .. }) if code == "already_reacted" => Ok(None),
                    other => other.map(|_| None),
                }
            }
            OutboundCommand::Ephemeral {
                channel,
                user,
                content,
            } => {
                let args =
                    json!({"channel": channel, "user": user, "text": escape_mrkdwn(&content.text)});
                self.api.post("chat.postEphemeral", &args).await?;
                Ok(None)
            }
            OutboundCommand::UpdateCard { card: None, .. }
            | OutboundCommand::PostInThread { thread: None, .. } => {
                Err(ApiError::Unreachable("the card is not posted yet".into()))
            }
            OutboundCommand::SendToCustomer { .. } | OutboundCommand::OpenThread { .. } => {
                Err(ApiError::Refused {
                    code: "Slack is a team side; it has no customers to send to".into(),
                    needed: None,
                })
            }
        }
    }
}

#[async_trait]
impl Adapter for SlackAdapter {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        match self.run(delivery).await {
            Ok(reference) => Ok(Delivered { reference }),
            Err(e) => Err(e.delivery_error()),
        }
    }
}
