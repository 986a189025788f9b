//! Teams' way in: `POST /api/messages`.
//!
//! Every request is checked before anything else: no valid Bot Framework
//! token, no processing and nothing stored (401). A verified activity is
//! classified ([`crate::inbound`]) and, when it means something, stored
//! (deduplicated by its id, so Teams' retries change nothing) before the
//! 200. The service URL it names is remembered: that is where replies go.
//!
//! A card button (`Action.Execute`) must be answered with what the clicking
//! agent should see, so its answer waits (briefly) for the engine to act
//! and then shows the card as it now stands, with a line for that agent
//! alone when the click did nothing (someone else claimed first). Everyone
//! else's copy is updated through the outbox like any card change.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use handoff_core::{CaseId, Content, InboundError, InboundEvent, InboundKind, MessageRef};
use serde_json::{Value, json};

use crate::TeamsSettings;
use crate::auth::Verifier;
use crate::card::CardRenderer;
use crate::inbound::{self, Context, Parsed};

/// Teams' activities are a few kilobytes; anything this big is not one.
const MAX_BODY: usize = 1024 * 1024;

/// How long a card button's answer waits for the engine. Teams gives an
/// invoke about 15 s before it tells the agent something went wrong; the
/// engine usually acts within milliseconds.
const ACTION_WAIT: Duration = Duration::from_secs(5);

/// The engine or store behind this crate failed.
pub use handoff_core::BackendError;

/// How far a stored event has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Not processed within the wait.
    Pending,
    /// Processed; with what the clicking agent should be told when nothing
    /// was done.
    Done(Option<String>),
}

/// Where the service URL Teams names is kept, so every replica posts to
/// the one Teams last named.
#[async_trait]
pub trait ServiceUrls: Send + Sync + 'static {
    /// The URL last learned, if any.
    async fn service_url(&self) -> Result<Option<String>, BackendError>;
    /// Remembers `url`.
    async fn learn_service_url(&self, url: &str) -> Result<(), BackendError>;
}

/// Where parsed events go: the engine, through the root crate.
#[async_trait]
pub trait TeamsBackend: ServiceUrls {
    /// Stores `event` for processing (a repeat of a stored event id is a
    /// success that changes nothing). Returns once it is durable.
    async fn ingest(&self, event: &InboundEvent) -> Result<(), BackendError>;
    /// Waits up to `wait` for the stored event `event_id` to be processed.
    async fn settled(&self, event_id: &str, wait: Duration) -> Result<Settled, BackendError>;
    /// The case's card as the engine renders it now; `None` for an unknown
    /// case.
    async fn card(&self, case: CaseId) -> Result<Option<Content>, BackendError>;
    /// Whether `thread` is the thread of a handoff card.
    async fn is_card(&self, thread: &MessageRef) -> Result<bool, BackendError>;
}

/// The Teams side's inbound half.
pub struct Teams<B> {
    backend: B,
    verifier: Verifier,
    settings: Arc<TeamsSettings>,
    cards: CardRenderer,
    /// The service URL last stored, so it is written only when it changes.
    known_service_url: RwLock<Option<String>>,
}

impl<B> std::fmt::Debug for Teams<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Teams")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The answer to a refused request: 401, 413, 400, or 503 when it could
/// not be stored (the platform sends it again).
fn refusal(e: &InboundError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match e {
        // Why a token failed is for the log, not for whoever sent it.
        InboundError::Unauthorized(_) => (status, "unauthorized").into_response(),
        _ => (status, e.to_string()).into_response(),
    }
}

impl<B: TeamsBackend> Teams<B> {
    /// The Teams side over `backend`.
    pub fn new(
        backend: B,
        http: reqwest::Client,
        settings: Arc<TeamsSettings>,
    ) -> Result<Self, crate::card::CardTemplateError> {
        Ok(Self {
            backend,
            verifier: Verifier::new(http, &settings.openid_url, &settings.app_id),
            settings,
            cards: CardRenderer::new()?,
            known_service_url: RwLock::new(None),
        })
    }

    /// Checks, stores and answers one activity.
    async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Result<Response, InboundError> {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        // The header is looked at before the body is even parsed: a request
        // without one is refused whatever it carries.
        if authorization.is_none() {
            return Err(InboundError::Unauthorized("no bearer token".into()));
        }
        let activity: Value = serde_json::from_slice(body)
            .map_err(|e| InboundError::Malformed(format!("not JSON: {e}")))?;
        let channel = activity["channelId"].as_str().unwrap_or_default();
        let service_url = activity["serviceUrl"].as_str().unwrap_or_default();
        let verified = self
            .verifier
            .verify(authorization, channel, service_url)
            .await
            .map_err(|e| InboundError::Unauthorized(e.to_string()))?;
        // A real Bot Framework token says nothing of whose Teams sent it:
        // any organisation can install an app that names this bot.
        let tenant = inbound::tenant_of(&activity);
        if !self.settings.admits(tenant) {
            return Err(InboundError::Unauthorized(format!(
                "the activity comes from the tenant {tenant:?}, which [teams] tenants does not list"
            )));
        }
        self.learn(&verified.service_url).await?;
        let cx = Context {
            received_at: chrono::Utc::now(),
        };
        let parsed = match inbound::activity(&activity, cx) {
            // A button whose data makes no sense is answered the way Teams
            // shows an invoke's error to the person who pressed it.
            Err(InboundError::Malformed(why)) if activity["type"] == "invoke" => {
                tracing::warn!(reason = %why, "A Teams card action was refused; nothing was stored.");
                return Ok(axum::Json(json!({
                    "statusCode": 400,
                    "type": "application/vnd.microsoft.error",
                    "value": {"code": "BadRequest", "message": why},
                }))
                .into_response());
            }
            other => other?,
        };
        match parsed {
            Parsed::Ignored(why) => {
                tracing::debug!(
                    kind = activity["type"].as_str().unwrap_or_default(),
                    reason = why,
                    "Teams activity set aside."
                );
                Ok(StatusCode::OK.into_response())
            }
            Parsed::Event(event) => {
                // With the channel-message permission Teams sends every
                // message in the team's channels; only what is said under
                // a handoff card is handoff's to keep.
                if let Some(thread) = thread_of(&event)
                    && !self.backend.is_card(thread).await?
                {
                    tracing::debug!("Teams message outside any card's thread set aside.");
                    return Ok(StatusCode::OK.into_response());
                }
                self.store(&event).await?;
                Ok(StatusCode::OK.into_response())
            }
            Parsed::Action { event, case } => {
                self.store(&event).await?;
                Ok(axum::Json(self.action_answer(&event, case).await?).into_response())
            }
        }
    }

    async fn store(&self, event: &InboundEvent) -> Result<(), InboundError> {
        self.backend
            .ingest(event)
            .await
            .map_err(InboundError::from)?;
        tracing::debug!(event_id = %event.event_id, "Teams activity stored.");
        Ok(())
    }

    /// Stores the service URL a verified activity named, when it differs
    /// from what is known.
    async fn learn(&self, url: &str) -> Result<(), InboundError> {
        if url.is_empty()
            || self
                .known_service_url
                .read()
                .is_ok_and(|k| k.as_deref() == Some(url))
        {
            return Ok(());
        }
        self.backend
            .learn_service_url(url)
            .await
            .map_err(InboundError::from)?;
        tracing::info!(service_url = url, "Learned the Teams service URL.");
        if let Ok(mut known) = self.known_service_url.write() {
            *known = Some(url.to_owned());
        }
        Ok(())
    }

    /// The invoke response for a card button: the card after the engine
    /// acted, for the clicking agent. Someone who is not an agent, or a
    /// click the engine has not got to yet, gets a line of text instead: a
    /// stranger is not shown the case, and a card from before the click
    /// would contradict the update that follows.
    async fn action_answer(
        &self,
        event: &InboundEvent,
        case: CaseId,
    ) -> Result<Value, InboundError> {
        let message = |text: &str| {
            json!({
                "statusCode": 200,
                "type": "application/vnd.microsoft.activity.message",
                "value": text,
            })
        };
        let settled = self.backend.settled(&event.event_id, ACTION_WAIT).await?;
        let notice = match settled {
            Settled::Done(problem) => problem,
            Settled::Pending => {
                return Ok(message("Working on it: the card updates in a moment."));
            }
        };
        let agent = match &event.kind {
            InboundKind::AgentAction(a) => self.settings.agent_by_aad(&a.actor.user_id),
            _ => None,
        };
        if agent.is_none() {
            return Ok(message(notice.as_deref().unwrap_or(
                "You are not set up as a handoff agent, so this did nothing.",
            )));
        }
        let Some(content) = self.backend.card(case).await? else {
            return Ok(message("This case no longer exists."));
        };
        Ok(json!({
            "statusCode": 200,
            "type": "application/vnd.microsoft.card.adaptive",
            "value": self.cards.card(&content, &self.settings, notice.as_deref()),
        }))
    }
}

/// The card thread an agent's message or edit was written in.
fn thread_of(event: &InboundEvent) -> Option<&MessageRef> {
    match &event.kind {
        InboundKind::AgentReply(r) => Some(&r.thread),
        InboundKind::AgentEdit(e) => Some(&e.thread),
        _ => None,
    }
}

/// `POST /api/messages`.
pub fn routes<B: TeamsBackend>(teams: Arc<Teams<B>>) -> Router {
    Router::new()
        .route("/api/messages", post(messages::<B>))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(teams)
}

async fn messages<B: TeamsBackend>(
    State(teams): State<Arc<Teams<B>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match teams.handle(&headers, &body).await {
        Ok(answer) => answer,
        Err(e @ InboundError::Unavailable(_)) => {
            tracing::error!(error = %e, "A Teams activity could not be stored; Teams will retry it.");
            refusal(&e)
        }
        Err(e) => {
            tracing::warn!(path = "/api/messages", error = %e, "Teams request refused; nothing was stored.");
            refusal(&e)
        }
    }
}
