//! Slack's way in: the Events API endpoints and Socket Mode.
//!
//! Whichever way a payload comes, it goes through the same steps: check it
//! is Slack's (the request signature, or the app token's own websocket),
//! parse it ([`crate::inbound`]), look up the names it needs, and hand it to
//! the engine, which stores it (deduplicated by Slack's event id, so
//! Slack's retries change nothing) before Slack hears back. Everything else
//! happens later from the stored copy, so the answer comes well inside
//! Slack's 3 seconds.
//!
//! Socket Mode is spoken here over tokio-tungstenite rather than through
//! slack-morphism's listener: that listener hands over its typed models,
//! which drop fields handoff needs (`thread_ts` of an edited message), and
//! acknowledges payloads it cannot model. Here the raw JSON reaches the
//! one parser, and an envelope is acknowledged only once stored.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::{SinkExt as _, StreamExt as _};
use handoff_core::{InboundError, InboundEvent};
use serde_json::{Value, json};
use slack_morphism::prelude::SlackSigningSecret;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::SlackSettings;
use crate::api::SlackApi;
use crate::inbound::{self, Context, Parsed};

/// Slack's own payloads are a few kilobytes; anything this big is not one.
const MAX_BODY: usize = 1024 * 1024;

/// The engine or store behind this crate failed.
pub use handoff_core::BackendError;

/// Where parsed events go: the engine's store, through the root crate.
#[async_trait]
pub trait SlackBackend: Send + Sync + 'static {
    /// Stores `event` for processing (a repeat of a stored event id is a
    /// success that changes nothing). Returns once it is durable.
    async fn ingest(&self, event: &InboundEvent) -> Result<(), BackendError>;
}

/// The Slack side's inbound half.
pub struct Slack<B> {
    backend: B,
    api: SlackApi,
    settings: Arc<SlackSettings>,
    bot_user: OnceLock<String>,
    shutdown: CancellationToken,
}

impl<B> std::fmt::Debug for Slack<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("settings", &self.settings)
            .field("bot_user", &self.bot_user.get())
            .finish_non_exhaustive()
    }
}

/// The answer to a refused request: 401, 413, 400, or 503 when it could
/// not be stored (the platform sends it again).
fn refusal(e: &InboundError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, e.to_string()).into_response()
}

impl<B: SlackBackend> Slack<B> {
    /// The Slack side over `backend`.
    pub fn new(backend: B, api: SlackApi, settings: Arc<SlackSettings>) -> Self {
        Self {
            backend,
            api,
            settings,
            bot_user: OnceLock::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Stops Socket Mode when `token` fires.
    pub fn with_shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }

    /// Learns who the bot is (`auth.test`), so its own messages and
    /// reactions are never taken for an agent's. A failure is logged loudly
    /// and `handoff doctor` explains it; cards still go out and events from
    /// other bots are still recognised by their `bot_id`.
    pub async fn connect(&self) {
        match self.api.whoami().await {
            Ok(me) => {
                if let Some(user) = me["user_id"].as_str() {
                    let _ = self.bot_user.set(user.to_owned());
                }
                tracing::info!(
                    team = me["team"].as_str().unwrap_or_default(),
                    bot_user = me["user_id"].as_str().unwrap_or_default(),
                    "Connected to Slack."
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "Slack's auth.test failed: cards may not be posted. Run `handoff doctor` for what to fix.");
            }
        }
    }

    fn context(&self) -> Context<'_> {
        Context {
            bot_user: self.bot_user.get().map(String::as_str),
            received_at: chrono::Utc::now(),
        }
    }

    /// Names what needs naming and stores the event; the challenge of the
    /// set-up handshake is handed back.
    async fn accept(&self, parsed: Parsed) -> Result<Option<String>, InboundError> {
        match parsed {
            Parsed::Challenge(c) => Ok(Some(c)),
            Parsed::Ignored(why) => {
                tracing::debug!(reason = why, "Slack payload set aside.");
                Ok(None)
            }
            Parsed::Event(mut event) => {
                let names = self.api.names(&inbound::users_to_name(&event)).await;
                inbound::name_users(&mut event, &|u| names.get(u).cloned());
                self.backend
                    .ingest(&event)
                    .await
                    .map_err(InboundError::from)?;
                tracing::debug!(event_id = %event.event_id, "Slack event stored.");
                Ok(None)
            }
        }
    }

    /// Checks Slack's request signature over the raw body.
    fn verify<'b>(&self, headers: &HeaderMap, body: &'b [u8]) -> Result<&'b str, InboundError> {
        let unauthorized = |why: &str| InboundError::Unauthorized(why.to_owned());
        let Some(secret) = self.settings.signing_secret.as_deref() else {
            return Err(unauthorized(
                "SLACK_SIGNING_SECRET is not set, so no request can be checked",
            ));
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(ts), Some(signature)) = (
            header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
            header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
        ) else {
            return Err(unauthorized("the request is not signed"));
        };
        let body = std::str::from_utf8(body)
            .map_err(|_| InboundError::Malformed("the body is not UTF-8".into()))?;
        SlackEventSignatureVerifier::new(&SlackSigningSecret::new(secret.to_owned()))
            .verify(signature, body, ts)
            .map_err(|e| unauthorized(&format!("bad or stale signature ({e})")))?;
        Ok(body)
    }

    /// Runs Socket Mode until shutdown, on `settings.socket_connections`
    /// connections (Slack sends each payload to one of them, so a second
    /// connection covers the first one's reconnects).
    pub async fn run_socket_mode(self: Arc<Self>) {
        let loops = (0..self.settings.socket_connections.max(1)).map(|n| {
            let me = Arc::clone(&self);
            async move { me.socket_loop(n).await }
        });
        futures::future::join_all(loops).await;
    }

    async fn socket_loop(&self, connection: u32) {
        let mut backoff = Duration::from_secs(1);
        while !self.shutdown.is_cancelled() {
            match self.socket_session(connection).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(connection, error = %e, retry_in = ?backoff, "Slack Socket Mode connection failed; reconnecting.");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// One websocket connection, until Slack asks for a new one, it drops,
    /// or handoff stops.
    async fn socket_session(&self, connection: u32) -> Result<(), String> {
        let url = self.api.socket_url().await.map_err(|e| e.to_string())?;
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| format!("websocket: {e}"))?;
        let (mut tx, mut rx) = ws.split();
        loop {
            let frame = tokio::select! {
                frame = rx.next() => frame,
                () = self.shutdown.cancelled() => {
                    let _ = tx.send(Message::Close(None)).await;
                    return Ok(());
                }
            };
            let text = match frame {
                None | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Err(e)) => return Err(format!("websocket: {e}")),
                Some(Ok(Message::Ping(p))) => {
                    tx.send(Message::Pong(p)).await.map_err(|e| e.to_string())?;
                    continue;
                }
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(_)) => continue,
            };
            let Ok(envelope) = serde_json::from_str::<Value>(&text) else {
                tracing::warn!(
                    connection,
                    "Slack Socket Mode sent a frame that is not JSON; ignored."
                );
                continue;
            };
            let ack = match envelope["type"].as_str() {
                Some("hello") => {
                    tracing::info!(connection, "Slack Socket Mode connected.");
                    continue;
                }
                // Slack is about to close this connection (refresh or
                // maintenance): open a fresh one.
                Some("disconnect") => return Ok(()),
                Some(kind @ ("events_api" | "interactive")) => {
                    self.socket_payload(kind, &envelope["payload"]).await
                }
                _ => true,
            };
            if let Some(id) = envelope["envelope_id"].as_str().filter(|_| ack) {
                tx.send(Message::Text(json!({"envelope_id": id}).to_string().into()))
                    .await
                    .map_err(|e| format!("websocket: {e}"))?;
            }
        }
    }

    /// Handles one envelope's payload; false when it must not be
    /// acknowledged (it was not stored, so Slack should send it again).
    async fn socket_payload(&self, kind: &str, payload: &Value) -> bool {
        let parsed = if kind == "events_api" {
            inbound::event(payload, self.context())
        } else {
            inbound::interaction(payload, self.context())
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                // Acknowledged: sending it again would not make it valid.
                tracing::warn!(kind, error = %e, "Slack Socket Mode payload refused.");
                return true;
            }
        };
        match self.accept(parsed).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(kind, error = ?e, "A Slack event could not be stored; Slack will send it again.");
                false
            }
        }
    }
}

/// `POST /slack/events` and `POST /slack/interactions`.
pub fn routes<B: SlackBackend>(slack: Arc<Slack<B>>) -> Router {
    Router::new()
        .route("/slack/events", post(events::<B>))
        .route("/slack/interactions", post(interactions::<B>))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(slack)
}

fn refused(path: &str, headers: &HeaderMap, e: InboundError) -> Response {
    tracing::warn!(
        path,
        retry = headers.get("x-slack-retry-num").and_then(|v| v.to_str().ok()).unwrap_or("0"),
        error = %e,
        "Slack request refused; nothing was stored."
    );
    refusal(&e)
}

async fn events<B: SlackBackend>(
    State(slack): State<Arc<Slack<B>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const PATH: &str = "/slack/events";
    let body = match slack.verify(&headers, &body) {
        Ok(b) => b,
        Err(e) => return refused(PATH, &headers, e),
    };
    let parsed = serde_json::from_str::<Value>(body)
        .map_err(|e| InboundError::Malformed(format!("not JSON: {e}")))
        .and_then(|v| inbound::event(&v, slack.context()));
    match parsed {
        Err(e) => refused(PATH, &headers, e),
        Ok(p) => match slack.accept(p).await {
            Ok(Some(challenge)) => axum::Json(json!({"challenge": challenge})).into_response(),
            Ok(None) => StatusCode::OK.into_response(),
            Err(e) => {
                tracing::error!(path = PATH, error = ?e, "A Slack event could not be stored; Slack will retry it.");
                refusal(&e)
            }
        },
    }
}

async fn interactions<B: SlackBackend>(
    State(slack): State<Arc<Slack<B>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const PATH: &str = "/slack/interactions";
    let body = match slack.verify(&headers, &body) {
        Ok(b) => b,
        Err(e) => return refused(PATH, &headers, e),
    };
    let payload = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned());
    let parsed = payload
        .ok_or_else(|| InboundError::Malformed("no payload field".into()))
        .and_then(|p| {
            serde_json::from_str::<Value>(&p)
                .map_err(|e| InboundError::Malformed(format!("payload is not JSON: {e}")))
        })
        .and_then(|v| inbound::interaction(&v, slack.context()));
    match parsed {
        Err(e) => refused(PATH, &headers, e),
        // An empty 200 leaves the message as it is; the card is edited
        // through the outbox once the engine has acted.
        Ok(p) => match slack.accept(p).await {
            Ok(_) => StatusCode::OK.into_response(),
            Err(e) => {
                tracing::error!(path = PATH, error = ?e, "A Slack interaction could not be stored.");
                refusal(&e)
            }
        },
    }
}
