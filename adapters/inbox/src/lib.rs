//! The built-in agent inbox: handoff's team side with no tokens at all.
//!
//! It plays the same part Slack and Teams play: the outbox delivers handoff
//! cards to it ([`InboxAdapter`]), and agents' clicks and replies come back
//! as [`InboundEvent`]s that the engine stores before it acts on them. So
//! every rule (claim races, internal notes, card updates) runs through the
//! one engine path whichever team side an agent uses.
//!
//! Pages are plain HTML and JavaScript that render card data with
//! `textContent` only; live updates are server-sent events. Agents sign in
//! with the argon2 password hash from their config entry; the session is a
//! signed cookie (`HttpOnly`, `SameSite=Strict`), and every state-changing
//! request must also carry the `X-Handoff-Inbox` header, which a cross-site
//! form cannot add.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::Stream;
use handoff_core::limits::SlidingWindow;
use handoff_core::{
    Adapter, AgentAction, AgentId, AgentReply, CaseAction, CaseId, Content, Delivered, Delivery,
    DeliveryError, InboundEvent, InboundKind, MessageRef, OutboundCommand, Platform, PlatformUser,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

pub mod auth;

/// Every inbox card lives in this one "channel"; the queue (route) is kept
/// beside the card for filtering.
pub const INBOX_CHANNEL: &str = "inbox";

/// An agent who may sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxAgent {
    /// Their config key (owner of cases).
    pub id: String,
    /// Login name.
    pub login: String,
    /// Name shown to colleagues.
    pub name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
}

/// How the inbox behaves.
#[derive(Debug, Clone)]
pub struct InboxSettings {
    /// Who may sign in.
    pub agents: Vec<InboxAgent>,
    /// Signs session cookies; generated once and kept in the database.
    pub cookie_key: Vec<u8>,
    /// How long a sign-in lasts.
    pub session_hours: i64,
    /// Mark the cookie `Secure` (when served over HTTPS).
    pub secure_cookie: bool,
    /// The taxonomy's intents, offered when an agent corrects one.
    pub intents: Vec<String>,
}

/// A card as the inbox keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct CardRecord {
    /// The case.
    pub case: CaseId,
    /// Its queue.
    pub channel: String,
    /// The card as last delivered.
    pub content: Content,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One line of a case's transcript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptLine {
    /// `customer`, `agent`, `bot` or `system`.
    pub author: String,
    /// Who, as shown.
    pub name: Option<String>,
    /// The text.
    pub text: String,
    /// An internal note (never sent to the customer).
    pub internal: bool,
    /// For agent replies: whether the customer side confirmed delivery.
    pub delivered: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// The engine or store behind this crate failed.
pub use handoff_core::BackendError;

/// What the inbox needs from the rest of handoff; implemented by the root
/// package over its engine and store.
#[async_trait]
pub trait InboxBackend: Send + Sync + 'static {
    /// Stores an agent's action or reply for the engine (before answering).
    async fn ingest(&self, event: &InboundEvent) -> Result<(), BackendError>;
    /// Stores the inbox's copy of a card.
    async fn put_card(&self, card: &CardRecord) -> Result<(), BackendError>;
    /// The most recently changed cards.
    async fn cards(&self, limit: i64) -> Result<Vec<CardRecord>, BackendError>;
    /// A case's whole conversation, notes included; `None` for no such case.
    async fn transcript(&self, case: CaseId) -> Result<Option<Vec<TranscriptLine>>, BackendError>;
}

/// A live update for open inbox pages.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A card changed: reload it.
    Card {
        /// The case.
        case: CaseId,
    },
    /// A case's transcript grew.
    Thread {
        /// The case.
        case: CaseId,
    },
    /// A message for one agent only (the loser of a claim race).
    Notice {
        /// The agent's login.
        #[serde(skip)]
        login: String,
        /// The text.
        text: String,
    },
}

/// The inbox: settings, backend and the live-update channel.
#[derive(Debug)]
pub struct Inbox<B> {
    backend: B,
    settings: InboxSettings,
    by_login: HashMap<String, InboxAgent>,
    live: broadcast::Sender<LiveEvent>,
    /// Sign-in attempts per login and per client address, so a password
    /// cannot be guessed at argon2's pace, nor many accounts sprayed.
    attempts: std::sync::Mutex<(SlidingWindow, SlidingWindow)>,
    /// Verified against for unknown logins, so the answer takes as long
    /// as for a real one and does not reveal which logins exist.
    decoy_hash: String,
    /// Ends the live streams when the server stops: an open page would
    /// otherwise hold the graceful shutdown forever.
    shutdown: CancellationToken,
}

const COOKIE: &str = "handoff_inbox";
/// Sign-in attempts allowed per login, and per client address, per window.
const LOGIN_ATTEMPTS_PER_LOGIN: u32 = 10;
const LOGIN_ATTEMPTS_PER_ADDRESS: u32 = 30;
const LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);
const CSRF_HEADER: &str = "x-handoff-inbox";
/// Cards listed at most (open ones first in the page).
const CARD_LIMIT: i64 = 500;
/// Longest reply accepted, in characters.
const MAX_REPLY_CHARS: usize = 8000;

impl<B: InboxBackend> Inbox<B> {
    /// An inbox over `backend`.
    pub fn new(backend: B, settings: InboxSettings) -> Self {
        let by_login = settings
            .agents
            .iter()
            .map(|a| (a.login.clone(), a.clone()))
            .collect();
        Self {
            backend,
            settings,
            by_login,
            live: broadcast::channel(1024).0,
            attempts: std::sync::Mutex::new((
                SlidingWindow::new(LOGIN_ATTEMPTS_PER_LOGIN, LOGIN_WINDOW),
                SlidingWindow::new(LOGIN_ATTEMPTS_PER_ADDRESS, LOGIN_WINDOW),
            )),
            decoy_hash: auth::hash_password("not a real password"),
            shutdown: CancellationToken::new(),
        }
    }

    /// Ends every live stream when `shutdown` fires (pages reconnect).
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Counts a sign-in attempt; `Err(wait)` when one of the limits is hit.
    fn take_attempt(&self, login: &str, peer: IpAddr) -> Result<(), std::time::Duration> {
        let mut guard = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (per_login, per_address) = &mut *guard;
        let now = std::time::Instant::now();
        per_address.try_take(&peer.to_string(), now)?;
        per_login.try_take(&login.to_lowercase(), now)
    }

    fn publish(&self, event: LiveEvent) {
        // No receiver means no open page: nothing to tell.
        let _ = self.live.send(event);
    }

    /// The signed-in agent of a request, if any.
    fn agent(&self, headers: &HeaderMap) -> Option<&InboxAgent> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)?
            .1;
        let login = auth::check_cookie(&self.settings.cookie_key, value, Utc::now().timestamp())?;
        self.by_login.get(&login)
    }
}

/// `GET /inbox` and its API.
pub fn routes<B: InboxBackend>(inbox: Arc<Inbox<B>>) -> Router {
    Router::new()
        .route("/inbox", get(page))
        .route("/inbox/login", post(login::<B>))
        .route("/inbox/logout", post(logout::<B>))
        .route("/inbox/api/me", get(me::<B>))
        .route("/inbox/api/cards", get(cards::<B>))
        .route("/inbox/api/cases/{case}/transcript", get(transcript::<B>))
        .route("/inbox/api/cases/{case}/action", post(action::<B>))
        .route("/inbox/api/cases/{case}/reply", post(reply::<B>))
        .route("/inbox/events", get(events::<B>))
        .with_state(inbox)
}

const PAGE: &str = include_str!("../assets/inbox.html");

async fn page() -> Response {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(PAGE),
    )
        .into_response()
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// A request refused before any work: a status and a sentence.
#[derive(Debug)]
struct Refusal(StatusCode, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        problem(self.0, self.1)
    }
}

/// Refuses requests without a session, and state changes without the
/// header a cross-site form cannot send.
fn guard<'a, B: InboxBackend>(
    inbox: &'a Inbox<B>,
    headers: &HeaderMap,
    changes_state: bool,
) -> Result<&'a InboxAgent, Refusal> {
    if changes_state && headers.get(CSRF_HEADER).is_none() {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "missing X-Handoff-Inbox header",
        ));
    }
    inbox
        .agent(headers)
        .ok_or(Refusal(StatusCode::UNAUTHORIZED, "sign in first"))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    login: String,
    password: String,
}

async fn login<B: InboxBackend>(
    State(inbox): State<Arc<Inbox<B>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(form): Json<LoginForm>,
) -> Response {
    if headers.get(CSRF_HEADER).is_none() {
        return problem(StatusCode::FORBIDDEN, "missing X-Handoff-Inbox header");
    }
    if let Err(wait) = inbox.take_attempt(&form.login, peer.ip()) {
        tracing::warn!(login = %form.login, peer = %peer.ip(), "Inbox sign-in refused: too many attempts.");
        let secs = wait.as_secs().max(1);
        let mut r = problem(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "too many sign-in attempts; try again in {} min",
                secs.div_ceil(60)
            ),
        );
        if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let hash = inbox
        .by_login
        .get(&form.login)
        .map_or_else(|| inbox.decoy_hash.clone(), |a| a.password_hash.clone());
    let known = inbox.by_login.contains_key(&form.login);
    let password = form.password;
    // argon2 is slow on purpose: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false)
        && known;
    if !ok {
        tracing::warn!(login = %form.login, "Inbox sign-in refused.");
        return problem(StatusCode::UNAUTHORIZED, "wrong login or password");
    }
    let expires = Utc::now().timestamp() + inbox.settings.session_hours * 3600;
    let value = auth::session_cookie(&inbox.settings.cookie_key, &form.login, expires);
    let secure = if inbox.settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    tracing::info!(login = %form.login, "Agent signed in to the inbox.");
    (
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}={value}; Path=/inbox; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                inbox.settings.session_hours * 3600
            ),
        )],
        Json(serde_json::json!({ "ok": true })),
    )
        .into_response()
}

async fn logout<B: InboxBackend>(State(_): State<Arc<Inbox<B>>>) -> Response {
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/inbox; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        Json(serde_json::json!({ "ok": true })),
    )
        .into_response()
}

async fn me<B: InboxBackend>(State(inbox): State<Arc<Inbox<B>>>, headers: HeaderMap) -> Response {
    let agent = match guard(&inbox, &headers, false) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let mut team: Vec<_> = inbox
        .settings
        .agents
        .iter()
        .map(|a| serde_json::json!({ "id": a.id, "name": a.name }))
        .collect();
    team.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Json(serde_json::json!({
        "id": agent.id,
        "login": agent.login,
        "name": agent.name,
        "team": team,
        "intents": inbox.settings.intents,
    }))
    .into_response()
}

async fn cards<B: InboxBackend>(
    State(inbox): State<Arc<Inbox<B>>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = guard(&inbox, &headers, false) {
        return r.into_response();
    }
    match inbox.backend.cards(CARD_LIMIT).await {
        Ok(cards) => Json(
            cards
                .into_iter()
                .map(|c| {
                    serde_json::json!({
                        "case": c.case,
                        "queue": c.channel,
                        "text": c.content.text,
                        "card": c.content.rich,
                        "updated_at": c.updated_at,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Could not list inbox cards.");
            problem(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable")
        }
    }
}

fn parse_case(raw: &str) -> Result<CaseId, Refusal> {
    raw.parse()
        .map_err(|_| Refusal(StatusCode::NOT_FOUND, "no such case"))
}

async fn transcript<B: InboxBackend>(
    State(inbox): State<Arc<Inbox<B>>>,
    headers: HeaderMap,
    Path(case): Path<String>,
) -> Response {
    if let Err(r) = guard(&inbox, &headers, false) {
        return r.into_response();
    }
    let case = match parse_case(&case) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    match inbox.backend.transcript(case).await {
        Ok(Some(lines)) => Json(lines).into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, "no such case"),
        Err(e) => {
            tracing::error!(error = %e, case_id = %case, "Could not read a transcript.");
            problem(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable")
        }
    }
}

/// The signed-in agent and the case of a state-changing request.
fn changing<B: InboxBackend>(
    inbox: &Inbox<B>,
    headers: &HeaderMap,
    case: &str,
) -> Result<(InboxAgent, CaseId), Refusal> {
    let agent = guard(inbox, headers, true)?.clone();
    Ok((agent, parse_case(case)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionForm {
    action: String,
    #[serde(default)]
    to: Option<String>,
    /// The intent, for `correct_intent`.
    #[serde(default)]
    intent: Option<String>,
    /// The page's id for this click, so a retried request is one event.
    #[serde(default)]
    request_id: Option<String>,
}

fn event_id(request_id: Option<String>) -> String {
    request_id
        .filter(|r| !r.is_empty() && r.len() <= 64)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

async fn store_event<B: InboxBackend>(inbox: &Inbox<B>, event: InboundEvent) -> Response {
    match inbox.backend.ingest(&event).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "ok": true })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Could not store an inbox event.");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable; try again",
            )
        }
    }
}

async fn action<B: InboxBackend>(
    State(inbox): State<Arc<Inbox<B>>>,
    headers: HeaderMap,
    Path(case): Path<String>,
    Json(form): Json<ActionForm>,
) -> Response {
    let (agent, case) = match changing(&inbox, &headers, &case) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let action = match (form.action.as_str(), form.to, form.intent) {
        ("claim", _, _) => CaseAction::Claim,
        ("release", _, _) => CaseAction::Release,
        ("resolve", _, _) => CaseAction::Resolve,
        ("reassign", Some(to), _) if inbox.settings.agents.iter().any(|a| a.id == to) => {
            CaseAction::Reassign {
                to: AgentId::new(to),
            }
        }
        ("correct_intent", _, Some(intent)) if inbox.settings.intents.contains(&intent) => {
            CaseAction::CorrectIntent { intent }
        }
        _ => {
            tracing::info!(agent = %agent.login, action = %form.action, "Refused an inbox action: unknown action, agent or intent.");
            return problem(StatusCode::BAD_REQUEST, "unknown action, agent or intent");
        }
    };
    let event = InboundEvent {
        platform: Platform::Inbox,
        event_id: event_id(form.request_id),
        received_at: Utc::now(),
        kind: InboundKind::AgentAction(AgentAction {
            case,
            actor: PlatformUser {
                user_id: agent.login.clone(),
                display_name: Some(agent.name.clone()),
            },
            action,
        }),
    };
    store_event(&inbox, event).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyForm {
    text: String,
    #[serde(default)]
    request_id: Option<String>,
}

async fn reply<B: InboxBackend>(
    State(inbox): State<Arc<Inbox<B>>>,
    headers: HeaderMap,
    Path(case): Path<String>,
    Json(form): Json<ReplyForm>,
) -> Response {
    let (agent, case) = match changing(&inbox, &headers, &case) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if form.text.trim().is_empty() || form.text.chars().count() > MAX_REPLY_CHARS {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("a reply must be 1 to {MAX_REPLY_CHARS} characters"),
        );
    }
    let id = event_id(form.request_id);
    let event = InboundEvent {
        platform: Platform::Inbox,
        event_id: id.clone(),
        received_at: Utc::now(),
        kind: InboundKind::AgentReply(AgentReply {
            thread: MessageRef::new(Platform::Inbox, INBOX_CHANNEL, case.to_string()),
            actor: PlatformUser {
                user_id: agent.login.clone(),
                display_name: Some(agent.name.clone()),
            },
            text: form.text,
            platform_message_id: id,
            attachments: Vec::new(),
            withheld: Vec::new(),
        }),
    };
    store_event(&inbox, event).await
}

async fn events<B: InboxBackend>(
    State(inbox): State<Arc<Inbox<B>>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Refusal> {
    let login = guard(&inbox, &headers, false)?.login.clone();
    let stream = BroadcastStream::new(inbox.live.subscribe()).filter_map(move |e| match e {
        Ok(LiveEvent::Notice { login: to, .. }) if to != login => None,
        Ok(event) => Some(Ok(Event::default()
            .json_data(&event)
            .expect("live events serialise"))),
        // Missed events (a slow page): tell it to reload everything.
        Err(_) => Some(Ok(Event::default().data(r#"{"type":"reload"}"#))),
    });
    let stream = futures::StreamExt::take_until(stream, inbox.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The queue a card belongs to: its route, as the card says.
fn queue_of(content: &Content) -> String {
    content
        .rich
        .as_ref()
        .and_then(|r| r.get("route"))
        .and_then(|r| r.as_str())
        .unwrap_or(INBOX_CHANNEL)
        .to_owned()
}

/// Delivers cards, thread posts and private notices into the inbox.
#[derive(Debug)]
pub struct InboxAdapter<B> {
    inbox: Arc<Inbox<B>>,
}

impl<B> InboxAdapter<B> {
    /// The adapter for `inbox`.
    pub fn new(inbox: Arc<Inbox<B>>) -> Self {
        Self { inbox }
    }
}

fn transient(e: BackendError) -> DeliveryError {
    DeliveryError::Transient {
        reason: e.0,
        retry_after: None,
    }
}

#[async_trait]
impl<B: InboxBackend> Adapter for InboxAdapter<B> {
    fn platform(&self) -> Platform {
        Platform::Inbox
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        let inbox = &self.inbox;
        match &delivery.command {
            OutboundCommand::PostCard {
                case,
                channel,
                content,
            } => {
                let card = CardRecord {
                    case: *case,
                    channel: channel.clone(),
                    content: content.clone(),
                    updated_at: Utc::now(),
                };
                inbox.backend.put_card(&card).await.map_err(transient)?;
                inbox.publish(LiveEvent::Card { case: *case });
                Ok(Delivered {
                    reference: Some(MessageRef::new(
                        Platform::Inbox,
                        INBOX_CHANNEL,
                        case.to_string(),
                    )),
                })
            }
            OutboundCommand::UpdateCard { case, content, .. } => {
                let card = CardRecord {
                    case: *case,
                    channel: queue_of(content),
                    content: content.clone(),
                    updated_at: Utc::now(),
                };
                inbox.backend.put_card(&card).await.map_err(transient)?;
                inbox.publish(LiveEvent::Card { case: *case });
                Ok(Delivered::default())
            }
            // The transcript is read from the store; open pages reload it.
            OutboundCommand::PostInThread { case, .. } => {
                inbox.publish(LiveEvent::Thread { case: *case });
                Ok(Delivered::default())
            }
            OutboundCommand::Ephemeral { user, content, .. } => {
                inbox.publish(LiveEvent::Notice {
                    login: user.clone(),
                    text: content.text.clone(),
                });
                Ok(Delivered::default())
            }
            other => Err(DeliveryError::Permanent {
                reason: format!("the inbox cannot carry out {}", other.name()),
            }),
        }
    }
}
