//! The built-in surfaces' storage, over the engine and the store: the web
//! chat's sessions and feed, the inbox's cards and transcripts. The platform
//! crates define what they need as traits (they never import the engine);
//! these bridges implement them.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use handoff_core::{CaseId, InboundEvent};
use handoff_inbox::{CardRecord, InboxBackend, TranscriptLine};
use handoff_webchat::{ChatBackend, FeedEntry, NewFeedEntry, NewSession, Session};

use crate::engine::Engine;
use crate::store::{InboundProgress, InboxCard, Store};

/// The web chat's storage.
#[derive(Debug)]
pub struct WebchatBridge<S> {
    engine: Arc<Engine<S>>,
}

impl<S> WebchatBridge<S> {
    /// Over `engine` and its store.
    pub fn new(engine: Arc<Engine<S>>) -> Self {
        Self { engine }
    }
}

fn chat_error(e: impl std::fmt::Display) -> handoff_webchat::BackendError {
    handoff_webchat::BackendError(e.to_string())
}

#[async_trait]
impl<S: Store> ChatBackend for WebchatBridge<S> {
    async fn create_session(
        &self,
        session: &NewSession,
    ) -> Result<(), handoff_webchat::BackendError> {
        self.engine
            .store()
            .webchat_create_session(session)
            .await
            .map_err(chat_error)
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, handoff_webchat::BackendError> {
        self.engine
            .store()
            .webchat_session(token_hash, now)
            .await
            .map_err(chat_error)
    }

    async fn accept(
        &self,
        entry: &NewFeedEntry,
        event: &InboundEvent,
    ) -> Result<i64, handoff_webchat::BackendError> {
        let (record, seq) = self
            .engine
            .store()
            .webchat_accept(entry, event)
            .await
            .map_err(chat_error)?;
        self.engine.recorded(event, record);
        Ok(seq)
    }

    async fn append(&self, entry: &NewFeedEntry) -> Result<i64, handoff_webchat::BackendError> {
        self.engine
            .store()
            .webchat_append(entry)
            .await
            .map_err(chat_error)
    }

    async fn feed(
        &self,
        conversation: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, handoff_webchat::BackendError> {
        self.engine
            .store()
            .webchat_feed(conversation, after, limit)
            .await
            .map_err(chat_error)
    }
}

/// Slack's way into the engine.
#[derive(Debug)]
pub struct SlackBridge<S> {
    engine: Arc<Engine<S>>,
}

impl<S> SlackBridge<S> {
    /// Over `engine`.
    pub fn new(engine: Arc<Engine<S>>) -> Self {
        Self { engine }
    }
}

#[async_trait]
impl<S: Store> handoff_slack::SlackBackend for SlackBridge<S> {
    async fn ingest(&self, event: &InboundEvent) -> Result<(), handoff_slack::http::BackendError> {
        self.engine
            .ingest(event)
            .await
            .map_err(|e| handoff_slack::http::BackendError(e.to_string()))?;
        Ok(())
    }
}

/// Discord's way into the engine, and where its catch-up resumes.
#[derive(Debug)]
pub struct DiscordBridge<S> {
    engine: Arc<Engine<S>>,
}

impl<S> DiscordBridge<S> {
    /// Over `engine`.
    pub fn new(engine: Arc<Engine<S>>) -> Self {
        Self { engine }
    }
}

fn discord_error(e: impl std::fmt::Display) -> handoff_discord::BackendError {
    handoff_discord::BackendError(e.to_string())
}

#[async_trait]
impl<S: Store> handoff_discord::DiscordBackend for DiscordBridge<S> {
    async fn ingest(&self, event: &InboundEvent) -> Result<(), handoff_discord::BackendError> {
        self.engine.ingest(event).await.map_err(discord_error)?;
        Ok(())
    }

    async fn cursors(
        &self,
        days: u32,
    ) -> Result<Vec<(String, Option<String>)>, handoff_discord::BackendError> {
        let since = Utc::now() - chrono::Duration::days(i64::from(days));
        self.engine
            .store()
            .conversation_cursors(handoff_core::Platform::Discord, since, 500)
            .await
            .map_err(discord_error)
    }

    async fn lead(
        &self,
    ) -> Result<Option<Box<dyn handoff_discord::Leadership>>, handoff_discord::BackendError> {
        let lease = self
            .engine
            .store()
            .lease("discord-gateway")
            .await
            .map_err(discord_error)?;
        Ok(lease.map(|l| Box::new(LeaseHeld(l)) as Box<dyn handoff_discord::Leadership>))
    }
}

/// The store's lease as Discord's leadership.
struct LeaseHeld(crate::store::Lease);

#[async_trait]
impl handoff_discord::Leadership for LeaseHeld {
    async fn alive(&mut self) -> bool {
        self.0.alive().await
    }
}

/// Teams' way into the engine, and where the learned service URL is kept.
#[derive(Debug)]
pub struct TeamsBridge<S> {
    engine: Arc<Engine<S>>,
}

impl<S> TeamsBridge<S> {
    /// Over `engine`.
    pub fn new(engine: Arc<Engine<S>>) -> Self {
        Self { engine }
    }
}

fn teams_error(e: impl std::fmt::Display) -> handoff_teams::http::BackendError {
    handoff_teams::http::BackendError(e.to_string())
}

/// How often a card action's answer looks whether the engine has acted.
const SETTLE_POLL: std::time::Duration = std::time::Duration::from_millis(25);

#[async_trait]
impl<S: Store> handoff_teams::http::ServiceUrls for TeamsBridge<S> {
    async fn service_url(&self) -> Result<Option<String>, handoff_teams::http::BackendError> {
        self.engine
            .store()
            .get_setting(handoff_teams::SERVICE_URL_SETTING)
            .await
            .map_err(teams_error)
    }

    async fn learn_service_url(&self, url: &str) -> Result<(), handoff_teams::http::BackendError> {
        self.engine
            .store()
            .put_setting(handoff_teams::SERVICE_URL_SETTING, url)
            .await
            .map_err(teams_error)
    }
}

#[async_trait]
impl<S: Store> handoff_teams::TeamsBackend for TeamsBridge<S> {
    async fn ingest(&self, event: &InboundEvent) -> Result<(), handoff_teams::http::BackendError> {
        self.engine.ingest(event).await.map_err(teams_error)?;
        Ok(())
    }

    async fn settled(
        &self,
        event_id: &str,
        wait: std::time::Duration,
    ) -> Result<handoff_teams::http::Settled, handoff_teams::http::BackendError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let progress = self
                .engine
                .store()
                .inbound_progress(handoff_core::Platform::Teams, event_id)
                .await
                .map_err(teams_error)?;
            if let Some(InboundProgress::Processed { problem }) = progress {
                return Ok(handoff_teams::http::Settled::Done(problem));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(handoff_teams::http::Settled::Pending);
            }
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }

    async fn card(
        &self,
        case: CaseId,
    ) -> Result<Option<handoff_core::Content>, handoff_teams::http::BackendError> {
        self.engine.card_now(case).await.map_err(teams_error)
    }

    async fn is_card(
        &self,
        thread: &handoff_core::MessageRef,
    ) -> Result<bool, handoff_teams::http::BackendError> {
        Ok(self
            .engine
            .store()
            .case_by_card(thread)
            .await
            .map_err(teams_error)?
            .is_some())
    }
}

/// The inbox's storage and its way into the engine.
#[derive(Debug)]
pub struct InboxBridge<S> {
    engine: Arc<Engine<S>>,
}

impl<S> InboxBridge<S> {
    /// Over `engine` and its store.
    pub fn new(engine: Arc<Engine<S>>) -> Self {
        Self { engine }
    }
}

fn inbox_error(e: impl std::fmt::Display) -> handoff_inbox::BackendError {
    handoff_inbox::BackendError(e.to_string())
}

#[async_trait]
impl<S: Store> InboxBackend for InboxBridge<S> {
    async fn ingest(&self, event: &InboundEvent) -> Result<(), handoff_inbox::BackendError> {
        self.engine.ingest(event).await.map_err(inbox_error)?;
        Ok(())
    }

    async fn put_card(&self, card: &CardRecord) -> Result<(), handoff_inbox::BackendError> {
        self.engine
            .store()
            .inbox_put_card(&InboxCard {
                case: card.case,
                channel: card.channel.clone(),
                content: card.content.clone(),
                updated_at: card.updated_at,
            })
            .await
            .map_err(inbox_error)
    }

    async fn cards(&self, limit: i64) -> Result<Vec<CardRecord>, handoff_inbox::BackendError> {
        Ok(self
            .engine
            .store()
            .inbox_cards(limit)
            .await
            .map_err(inbox_error)?
            .into_iter()
            .map(|c| CardRecord {
                case: c.case,
                channel: c.channel,
                content: c.content,
                updated_at: c.updated_at,
            })
            .collect())
    }

    async fn transcript(
        &self,
        case: CaseId,
    ) -> Result<Option<Vec<TranscriptLine>>, handoff_inbox::BackendError> {
        let Some((_, entries)) = self.engine.transcript(case).await.map_err(inbox_error)? else {
            return Ok(None);
        };
        Ok(Some(
            entries
                .into_iter()
                .map(|e| TranscriptLine {
                    author: e.author.to_owned(),
                    name: e.name,
                    text: e.text,
                    internal: e.internal,
                    delivered: e.delivered,
                    at: e.at,
                })
                .collect(),
        ))
    }
}
