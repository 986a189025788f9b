//! The outbox's way into Teams: a card starts a new thread in its route's
//! channel; customer messages and team notes are replies in that thread;
//! every card change replaces the card in place (PUT).
//!
//! A bot cannot react to a message in Teams, so the delivery receipt on an
//! agent's reply is a short reply of the bot's in the same thread. A
//! failed delivery needs no second sign: the outbox already posts a note
//! there saying why.
//!
//! The connector has no idempotency keys and a bot cannot read a channel's
//! history back, so a post whose answer was lost may be repeated on retry;
//! that is the price of never losing one.

use std::sync::Arc;

use async_trait::async_trait;
use handoff_core::{
    Adapter, Delivered, Delivery, DeliveryError, MessageRef, OutboundCommand, Platform,
};
use serde_json::json;

use crate::TeamsSettings;
use crate::api::{ApiError, TeamsApi};
use crate::card::{CardRenderer, card_activity, thread_post};
use crate::http::ServiceUrls;

/// The receipt reaction that means "delivered" (the engine's
/// `TeamReactions` for Teams names it).
pub const DELIVERED: &str = "delivered";
/// The receipt reaction that means "given up".
pub const FAILED: &str = "failed";

/// Delivers outbox commands to Teams.
pub struct TeamsAdapter {
    api: TeamsApi,
    settings: Arc<TeamsSettings>,
    cards: CardRenderer,
    urls: Arc<dyn ServiceUrls>,
}

impl std::fmt::Debug for TeamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsAdapter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TeamsAdapter {
    /// Over `api`, posting to the service URL `urls` knows.
    pub fn new(
        api: TeamsApi,
        settings: Arc<TeamsSettings>,
        urls: Arc<dyn ServiceUrls>,
    ) -> Result<Self, crate::card::CardTemplateError> {
        Ok(Self {
            api,
            settings,
            cards: CardRenderer::new()?,
            urls,
        })
    }

    /// Where Teams wants this tenant's calls: what an activity named last,
    /// else the configured default.
    async fn service_url(&self) -> String {
        match self.urls.service_url().await {
            Ok(Some(url)) => url,
            Ok(None) => self.settings.service_url.clone(),
            Err(e) => {
                tracing::warn!(error = %e, "Could not read the learned Teams service URL; using the configured one.");
                self.settings.service_url.clone()
            }
        }
    }

    async fn run(&self, delivery: &Delivery) -> Result<Option<MessageRef>, ApiError> {
        let url = self.service_url().await;
        match &delivery.command {
            OutboundCommand::PostCard {
                channel, content, ..
            } => {
                let card = self.cards.card(content, &self.settings, None);
                let summary = content.text.lines().next().unwrap_or_default();
                let created = self
                    .api
                    .create_thread(&url, channel, &card_activity(card, summary))
                    .await?;
                Ok(Some(MessageRef::new(
                    Platform::Teams,
                    created.conversation,
                    created.activity,
                )))
            }
            OutboundCommand::UpdateCard {
                card: Some(card),
                content,
                ..
            } => {
                let rendered = self.cards.card(content, &self.settings, None);
                let summary = content.text.lines().next().unwrap_or_default();
                let mut activity = card_activity(rendered, summary);
                activity["id"] = json!(card.message_id);
                self.api
                    .update(&url, &card.channel, &card.message_id, &activity)
                    .await?;
                Ok(None)
            }
            OutboundCommand::PostInThread {
                thread: Some(thread),
                content,
                ..
            } => {
                let id = self
                    .api
                    .send(
                        &url,
                        &thread.channel,
                        &thread_post(content, &self.settings.mentions),
                    )
                    .await?;
                Ok(Some(MessageRef::new(Platform::Teams, &thread.channel, id)))
            }
            OutboundCommand::React { target, name } if name == DELIVERED => {
                let receipt = json!({
                    "type": "message",
                    "textFormat": "plain",
                    "text": "✓ Delivered to the customer.",
                    "replyToId": target.message_id,
                });
                self.api.send(&url, &target.channel, &receipt).await?;
                Ok(None)
            }
            OutboundCommand::React { .. } => Ok(None),
            // The agent already saw this on the card their click answered.
            OutboundCommand::Ephemeral { .. } => Ok(None),
            OutboundCommand::UpdateCard { card: None, .. }
            | OutboundCommand::PostInThread { thread: None, .. } => Err(ApiError::Unreachable {
                what: "A card change".into(),
                reason: "the card is not posted yet".into(),
            }),
            OutboundCommand::SendToCustomer { .. } | OutboundCommand::OpenThread { .. } => {
                Err(ApiError::Refused {
                    what: delivery.command.name().into(),
                    status: 400,
                    code: String::new(),
                    message: "Teams is a team side; it has no customers to send to".into(),
                    retry_after: None,
                })
            }
        }
    }
}

#[async_trait]
impl Adapter for TeamsAdapter {
    fn platform(&self) -> Platform {
        Platform::Teams
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        match self.run(delivery).await {
            Ok(reference) => Ok(Delivered { reference }),
            Err(e) => Err(e.into()),
        }
    }
}
