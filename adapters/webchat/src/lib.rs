//! The web chat: handoff's built-in customer side.
//!
//! A company puts one `<script>` tag on its site (`GET /chat/widget.js`);
//! the widget talks to `GET /chat/ws` with the frames in [`protocol`]. Every
//! customer message is stored (feed row and inbound event, one transaction,
//! through [`ChatBackend::accept`]) before it is acknowledged; everything the
//! team sends arrives through the outbox as [`OutboundCommand::SendToCustomer`],
//! is appended to the same feed, and is pushed to the visitor's open
//! connections. A reconnecting widget says the last feed position it showed
//! and receives what it missed; resent messages are acknowledged again from
//! the feed, never stored twice.
//!
//! This crate knows no database: the root package implements
//! [`ChatBackend`] over its store.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use handoff_core::{
    Adapter, CustomerIdentity, CustomerMessage, Delivered, Delivery, DeliveryError, InboundEvent,
    InboundKind, MessageRef, OutboundCommand, Platform,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub mod protocol;
pub mod session;

use handoff_core::limits::SlidingWindow;
use protocol::{ClientFrame, Entry, ErrorCode, Limits, ServerFrame};

/// How the web chat behaves; from the `[webchat]` config section.
#[derive(Debug, Clone)]
pub struct WebchatSettings {
    /// Longest customer message, in characters.
    pub max_message_chars: usize,
    /// Messages one session may send per minute.
    pub messages_per_minute: u32,
    /// New sessions one address may start per hour.
    pub sessions_per_ip_per_hour: u32,
    /// The secret host sites sign identity claims with; without it every
    /// claim is refused.
    pub identity_secret: Option<Vec<u8>>,
    /// Shown above an empty conversation.
    pub greeting: Option<String>,
    /// The widget's title.
    pub title: String,
    /// Take the client address from `X-Forwarded-For` (behind a proxy you
    /// run); otherwise the socket's peer address counts.
    pub trust_forwarded_for: bool,
    /// Most history entries sent on connect.
    pub history_limit: i64,
}

impl Default for WebchatSettings {
    fn default() -> Self {
        Self {
            max_message_chars: 4000,
            messages_per_minute: 20,
            sessions_per_ip_per_hour: 30,
            identity_secret: None,
            greeting: Some("Hi! How can we help?".into()),
            title: "Support".into(),
            trust_forwarded_for: false,
            history_limit: 500,
        }
    }
}

/// The storage the web chat needs; implemented by the root package.
#[async_trait]
pub trait ChatBackend: Send + Sync + 'static {
    /// Stores a new session.
    async fn create_session(&self, session: &NewSession) -> Result<(), BackendError>;
    /// The session a token hash belongs to (and marks it seen at `now`).
    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, BackendError>;
    /// Stores a customer message: its feed entry and the inbound event for
    /// the engine, in one transaction. Returns the entry's `seq`; a message
    /// stored before returns its existing `seq` and stores nothing.
    async fn accept(&self, entry: &NewFeedEntry, event: &InboundEvent)
    -> Result<i64, BackendError>;
    /// Appends an entry for the visitor (idempotent on `dedupe`); its `seq`.
    async fn append(&self, entry: &NewFeedEntry) -> Result<i64, BackendError>;
    /// Entries of a conversation after `after`, oldest first.
    async fn feed(
        &self,
        conversation: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, BackendError>;
}

/// The engine or store behind this crate failed.
pub use handoff_core::BackendError;

/// A session to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Public id.
    pub id: String,
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The conversation key.
    pub conversation: String,
    /// The verified site user, if any.
    pub user_id: Option<String>,
    /// The name shown to agents.
    pub display_name: Option<String>,
    /// The email shown to agents.
    pub email: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public id.
    pub id: String,
    /// The conversation key (`session:…` or `user:…`).
    pub conversation: String,
    /// The verified site user, if any.
    pub user_id: Option<String>,
    /// The name shown to agents.
    pub display_name: Option<String>,
    /// The email shown to agents.
    pub email: Option<String>,
}

/// A feed entry to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeedEntry {
    /// The conversation key.
    pub conversation: String,
    /// `c:{client id}` for customer messages, the outbox idempotency key
    /// for deliveries.
    pub dedupe: String,
    /// `customer`, `agent` or `bot`.
    pub author: String,
    /// Agent display name.
    pub author_name: Option<String>,
    /// `message` or `notice`.
    pub kind: String,
    /// The text.
    pub body: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A stored feed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// Position.
    pub seq: i64,
    /// The row as stored.
    pub entry: NewFeedEntry,
}

impl FeedEntry {
    /// The entry as a protocol frame.
    pub fn to_entry(&self) -> Entry {
        Entry {
            seq: self.seq,
            author: self.entry.author.clone(),
            name: self.entry.author_name.clone(),
            kind: self.entry.kind.clone(),
            text: self.entry.body.clone(),
            client_id: self.entry.dedupe.strip_prefix("c:").map(str::to_owned),
            at: self.entry.created_at.to_rfc3339(),
        }
    }
}

/// The open connections of each conversation: (connection id, its queue).
type Connections = HashMap<String, Vec<(u64, mpsc::Sender<ServerFrame>)>>;

/// Open connections per conversation, so deliveries reach every tab.
#[derive(Debug, Default)]
struct Hub {
    next: AtomicU64,
    open: Mutex<Connections>,
}

/// Frames queued for one slow connection before it is dropped (it resumes
/// from the feed when it reconnects).
const CONNECTION_QUEUE: usize = 256;

impl Hub {
    fn join(&self, conversation: &str) -> (u64, mpsc::Receiver<ServerFrame>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(CONNECTION_QUEUE);
        self.lock()
            .entry(conversation.to_owned())
            .or_default()
            .push((id, tx));
        (id, rx)
    }

    fn leave(&self, conversation: &str, id: u64) {
        let mut open = self.lock();
        if let Some(list) = open.get_mut(conversation) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                open.remove(conversation);
            }
        }
    }

    fn push(&self, conversation: &str, frame: &ServerFrame) {
        let mut open = self.lock();
        if let Some(list) = open.get_mut(conversation) {
            // A full or closed queue drops that connection; it resumes.
            list.retain(|(_, tx)| tx.try_send(frame.clone()).is_ok());
        }
    }

    fn connections(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        // A panic while holding the lock leaves the map consistent (every
        // operation is one statement), so a poisoned lock is still usable.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The web chat: settings, storage, live connections and limits.
#[derive(Debug)]
pub struct Webchat<B> {
    backend: B,
    settings: WebchatSettings,
    hub: Hub,
    message_rate: Mutex<SlidingWindow>,
    session_rate: Mutex<SlidingWindow>,
    /// Fired when the server stops: open connections are closed so the
    /// widget reconnects (to this instance restarted, or another one)
    /// instead of talking to a process that no longer processes.
    shutdown: CancellationToken,
}

/// Largest websocket message accepted; bigger ones close the connection
/// before any parsing.
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The websocket read buffer per connection.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);

impl<B: ChatBackend> Webchat<B> {
    /// A web chat over `backend`.
    pub fn new(backend: B, settings: WebchatSettings) -> Self {
        Self {
            message_rate: Mutex::new(SlidingWindow::new(
                settings.messages_per_minute,
                Duration::from_secs(60),
            )),
            session_rate: Mutex::new(SlidingWindow::new(
                settings.sessions_per_ip_per_hour,
                Duration::from_secs(3600),
            )),
            backend,
            settings,
            hub: Hub::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Closes every connection when `shutdown` fires.
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Open websocket connections right now.
    pub fn connections(&self) -> usize {
        self.hub.connections()
    }

    fn limits(&self) -> Limits {
        Limits {
            max_message_chars: self.settings.max_message_chars,
            messages_per_minute: self.settings.messages_per_minute,
        }
    }

    /// Finds or starts the session a `hello` asks for. `Err` carries the
    /// frame to send before closing.
    async fn start(
        &self,
        hello: HelloParts,
        ip: IpAddr,
        out: &mut Vec<ServerFrame>,
    ) -> Result<(Session, Option<String>, bool), ServerFrame> {
        let now = Utc::now();
        let verified = match &hello.identity {
            None => None,
            Some(claim) => match session::verify(
                self.settings.identity_secret.as_deref(),
                claim,
                now.timestamp(),
            ) {
                Ok(user) => Some(user),
                Err(e) => {
                    tracing::warn!(error = %e, %ip, "Refused a web chat identity claim.");
                    out.push(error_frame(
                        ErrorCode::IdentityRejected,
                        "We could not confirm your account; you are chatting as a guest.",
                    ));
                    None
                }
            },
        };
        if let Some(token) = &hello.token {
            match self.backend.session(&session::token_hash(token), now).await {
                Ok(Some(s)) => {
                    let same_user = match &verified {
                        Some(v) => s.user_id.as_deref() == Some(v.user_id.as_str()),
                        None => s.user_id.is_none(),
                    };
                    if same_user {
                        return Ok((s, None, verified.is_some()));
                    }
                }
                Ok(None) => out.push(error_frame(
                    ErrorCode::UnknownSession,
                    "Your earlier chat could not be found; this is a new one.",
                )),
                Err(e) => {
                    tracing::error!(error = %e, "Could not read a web chat session.");
                    return Err(unavailable(None));
                }
            }
        }
        let allowed = self
            .session_rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_take(&ip.to_string(), Instant::now());
        if let Err(wait) = allowed {
            tracing::warn!(%ip, "Refused a new web chat session: too many from this address.");
            return Err(ServerFrame::Error {
                code: ErrorCode::TooManySessions,
                message: "Too many new chats from your network. Please try again later.".into(),
                id: None,
                retry_after: Some(wait.as_secs().max(1)),
            });
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let token = session::new_token();
        let new = NewSession {
            conversation: match &verified {
                Some(v) => format!("user:{}", v.user_id),
                None => format!("session:{id}"),
            },
            id,
            token_hash: session::token_hash(&token),
            user_id: verified.as_ref().map(|v| v.user_id.clone()),
            display_name: verified
                .as_ref()
                .and_then(|v| v.name.clone())
                .or(clean_field(hello.name.as_deref())),
            email: verified
                .as_ref()
                .and_then(|v| v.email.clone())
                .or(clean_field(hello.email.as_deref())),
            created_at: now,
        };
        if let Err(e) = self.backend.create_session(&new).await {
            tracing::error!(error = %e, "Could not store a web chat session.");
            return Err(unavailable(None));
        }
        tracing::info!(session = %new.id, verified = verified.is_some(), "Web chat session started.");
        let session = Session {
            id: new.id,
            conversation: new.conversation,
            user_id: new.user_id,
            display_name: new.display_name,
            email: new.email,
        };
        Ok((session, Some(token), verified.is_some()))
    }

    /// Checks, stores and acknowledges one customer message.
    async fn receive(&self, session: &Session, id: String, text: String) -> ServerFrame {
        if let Some(refused) = bad_id(&id) {
            return refused;
        }
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > self.settings.max_message_chars {
            tracing::info!(session = %session.id, chars, "Refused a web chat message: empty or too long.");
            return ServerFrame::Error {
                code: ErrorCode::TooLarge,
                message: format!(
                    "Messages can be up to {} characters. Please shorten it or split it.",
                    self.settings.max_message_chars
                ),
                id: Some(id),
                retry_after: None,
            };
        }
        if let Some(refused) = self.over_rate(session, &id) {
            return refused;
        }
        let now = Utc::now();
        let event = customer_event(session, &id, text.clone(), now);
        self.store_customer_entry(session, id, "message", text, &event)
            .await
    }

    /// Checks, stores and acknowledges a rating (CSAT).
    async fn rate(&self, session: &Session, id: String, score: u8) -> ServerFrame {
        if let Some(refused) = bad_id(&id) {
            return refused;
        }
        if !(1..=5).contains(&score) {
            tracing::info!(session = %session.id, score, "Refused a web chat rating out of range.");
            return ServerFrame::Error {
                code: ErrorCode::BadFrame,
                message: "A rating is a whole number from 1 to 5.".into(),
                id: Some(id),
                retry_after: None,
            };
        }
        if let Some(refused) = self.over_rate(session, &id) {
            return refused;
        }
        let now = Utc::now();
        let event = InboundEvent {
            platform: Platform::Webchat,
            event_id: format!("{}:{id}", session.conversation),
            received_at: now,
            kind: InboundKind::CustomerRating(handoff_core::CustomerRating {
                customer: customer_identity(session),
                conversation: session.conversation.clone(),
                score,
            }),
        };
        self.store_customer_entry(session, id, "rating", score.to_string(), &event)
            .await
    }

    /// The per-session message rate limit (ratings count as messages).
    fn over_rate(&self, session: &Session, id: &str) -> Option<ServerFrame> {
        let allowed = self
            .message_rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_take(&session.id, Instant::now());
        let wait = allowed.err()?;
        tracing::info!(session = %session.id, "Refused a web chat frame: rate limit.");
        Some(ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: "You are sending messages too fast. Please wait a moment.".into(),
            id: Some(id.to_owned()),
            retry_after: Some(wait.as_secs().max(1)),
        })
    }

    /// Stores what the customer sent (feed entry and inbound event in one
    /// transaction), shows it on their other tabs, and acknowledges it.
    async fn store_customer_entry(
        &self,
        session: &Session,
        id: String,
        kind: &str,
        body: String,
        event: &InboundEvent,
    ) -> ServerFrame {
        let entry = NewFeedEntry {
            conversation: session.conversation.clone(),
            dedupe: format!("c:{id}"),
            author: "customer".into(),
            author_name: None,
            kind: kind.into(),
            body,
            created_at: event.received_at,
        };
        match self.backend.accept(&entry, event).await {
            Ok(seq) => {
                let stored = FeedEntry { seq, entry };
                self.hub.push(
                    &session.conversation,
                    &ServerFrame::Entry(stored.to_entry()),
                );
                ServerFrame::Ack { id, seq }
            }
            Err(e) => {
                tracing::error!(error = %e, session = %session.id, "Could not store a web chat message.");
                unavailable(Some(id))
            }
        }
    }

    /// Appends what the team sent and pushes it to open connections.
    async fn deliver_to(
        &self,
        conversation: &str,
        dedupe: &str,
        content: &handoff_core::Content,
    ) -> Result<i64, BackendError> {
        let rich = content.rich.as_ref();
        let field = |k: &str| rich.and_then(|r| r.get(k)).and_then(|v| v.as_str());
        let entry = NewFeedEntry {
            conversation: conversation.to_owned(),
            dedupe: dedupe.to_owned(),
            author: match field("author") {
                Some("agent") => "agent",
                _ => "bot",
            }
            .to_owned(),
            author_name: field("name").map(str::to_owned),
            kind: match field("kind") {
                Some("notice") => "notice",
                Some("csat") => "csat",
                _ => "message",
            }
            .to_owned(),
            body: content.text.clone(),
            created_at: Utc::now(),
        };
        let seq = self.backend.append(&entry).await?;
        self.hub.push(
            conversation,
            &ServerFrame::Entry(FeedEntry { seq, entry }.to_entry()),
        );
        Ok(seq)
    }
}

struct HelloParts {
    token: Option<String>,
    name: Option<String>,
    email: Option<String>,
    identity: Option<protocol::SignedIdentity>,
}

/// A visitor-typed name or email: trimmed, bounded, never empty.
fn clean_field(v: Option<&str>) -> Option<String> {
    let v = v?.trim();
    (!v.is_empty()).then(|| v.chars().take(120).collect())
}

fn error_frame(code: ErrorCode, message: &str) -> ServerFrame {
    ServerFrame::Error {
        code,
        message: message.into(),
        id: None,
        retry_after: None,
    }
}

fn unavailable(id: Option<String>) -> ServerFrame {
    ServerFrame::Error {
        code: ErrorCode::Unavailable,
        message: "We could not save that just now; it will be sent again.".into(),
        id,
        retry_after: Some(2),
    }
}

/// The customer behind a session, as agents see them.
fn customer_identity(session: &Session) -> CustomerIdentity {
    let mut metadata = serde_json::Map::new();
    if let Some(user) = &session.user_id {
        metadata.insert("verified".into(), true.into());
        metadata.insert("user_id".into(), user.clone().into());
    }
    CustomerIdentity {
        external_id: session.conversation.clone(),
        display_name: session.display_name.clone(),
        email: session.email.clone(),
        metadata,
    }
}

/// A refusal for a client id outside 1 to 64 characters.
fn bad_id(id: &str) -> Option<ServerFrame> {
    (id.is_empty() || id.chars().count() > 64).then(|| ServerFrame::Error {
        code: ErrorCode::BadFrame,
        message: "A message id must be 1 to 64 characters.".into(),
        id: None,
        retry_after: None,
    })
}

/// The inbound event for a customer message. The event id is the
/// conversation and the client's id, so a resend is recognised.
fn customer_event(session: &Session, id: &str, text: String, now: DateTime<Utc>) -> InboundEvent {
    let event_id = format!("{}:{id}", session.conversation);
    InboundEvent {
        platform: Platform::Webchat,
        event_id: event_id.clone(),
        received_at: now,
        kind: InboundKind::CustomerMessage(CustomerMessage {
            customer: customer_identity(session),
            conversation: session.conversation.clone(),
            text,
            platform_message_id: Some(event_id),
            attachments: Vec::new(),
            open_thread: None,
        }),
    }
}

/// `GET /chat`, `GET /chat/widget.js` and `GET /chat/ws`.
pub fn routes<B: ChatBackend>(chat: Arc<Webchat<B>>) -> Router {
    Router::new()
        .route("/chat", get(page::<B>))
        .route("/chat/widget.js", get(widget))
        .route("/chat/ws", get(upgrade::<B>))
        .with_state(chat)
}

const PAGE: &str = include_str!("../assets/chat.html");
const WIDGET: &str = include_str!("../assets/widget.js");

async fn page<B: ChatBackend>(State(chat): State<Arc<Webchat<B>>>) -> Html<String> {
    Html(PAGE.replace(
        "{{title}}",
        &handoff_core::markup::escape_html(&chat.settings.title),
    ))
}

async fn widget() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        WIDGET,
    )
        .into_response()
}

async fn upgrade<B: ChatBackend>(
    State(chat): State<Arc<Webchat<B>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let ip = client_ip(&headers, peer, chat.settings.trust_forwarded_for);
    // A small read buffer: the default 128 KiB is zero-filled on the first
    // read and stays resident, which made it most of an idle session's
    // memory; frames larger than the buffer still arrive (it grows).
    ws.max_message_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move { connection(chat, socket, ip).await })
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop when
/// the operator says a proxy they run sets it.
fn client_ip(headers: &HeaderMap, peer: SocketAddr, trust_forwarded: bool) -> IpAddr {
    if trust_forwarded {
        let first = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = first {
            return ip;
        }
    }
    peer.ip()
}

async fn send(socket: &mut WebSocket, frame: &ServerFrame) -> bool {
    let text = serde_json::to_string(frame).expect("server frames serialise");
    socket.send(WsMessage::Text(text.into())).await.is_ok()
}

/// One websocket connection, from `hello` to close.
async fn connection<B: ChatBackend>(chat: Arc<Webchat<B>>, mut socket: WebSocket, ip: IpAddr) {
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(WsMessage::Text(t)))) => serde_json::from_str::<ClientFrame>(&t).ok(),
        _ => None,
    };
    let Some(ClientFrame::Hello {
        token,
        last_seq,
        name,
        email,
        identity,
    }) = hello
    else {
        let _ = send(
            &mut socket,
            &error_frame(ErrorCode::BadFrame, "The first frame must be hello."),
        )
        .await;
        return;
    };
    let mut early = Vec::new();
    let parts = HelloParts {
        token,
        name,
        email,
        identity,
    };
    let (session, token, verified) = match chat.start(parts, ip, &mut early).await {
        Ok(s) => s,
        Err(frame) => {
            for f in &early {
                send(&mut socket, f).await;
            }
            let _ = send(&mut socket, &frame).await;
            return;
        }
    };
    // Join before reading history: anything stored after the read is
    // pushed live, anything before is in the history; the client shows
    // each seq once.
    let (conn, mut live) = chat.hub.join(&session.conversation);
    let greeting = chat.settings.greeting.clone();
    let mut ok = true;
    for f in &early {
        ok &= send(&mut socket, f).await;
    }
    ok &= send(
        &mut socket,
        &ServerFrame::Welcome {
            token,
            verified,
            greeting,
            limits: chat.limits(),
        },
    )
    .await;
    match chat
        .backend
        .feed(
            &session.conversation,
            last_seq.max(0),
            chat.settings.history_limit,
        )
        .await
    {
        Ok(entries) => {
            for e in entries {
                if !ok {
                    break;
                }
                ok &= send(&mut socket, &ServerFrame::Entry(e.to_entry())).await;
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "Could not read web chat history.");
            ok = false;
        }
    }
    while ok {
        tokio::select! {
            incoming = socket.recv() => {
                let reply = match incoming {
                    Some(Ok(WsMessage::Text(t))) => match serde_json::from_str::<ClientFrame>(&t) {
                        Ok(ClientFrame::Message { id, text }) => chat.receive(&session, id, text).await,
                        Ok(ClientFrame::Rate { id, score }) => chat.rate(&session, id, score).await,
                        Ok(ClientFrame::Ping) => ServerFrame::Pong,
                        Ok(ClientFrame::Hello { .. }) | Err(_) => {
                            tracing::info!(session = %session.id, "Refused a malformed web chat frame.");
                            error_frame(ErrorCode::BadFrame, "That frame was not understood.")
                        }
                    },
                    Some(Ok(WsMessage::Binary(_))) => error_frame(ErrorCode::BadFrame, "Frames must be JSON text."),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                };
                ok = send(&mut socket, &reply).await;
            }
            pushed = live.recv() => match pushed {
                Some(frame) => ok = send(&mut socket, &frame).await,
                // Dropped for being slow: close, the client resumes.
                None => break,
            },
            () = chat.shutdown.cancelled() => {
                // 1012 "service restart": the widget reconnects and resends
                // what was not acknowledged.
                let close = axum::extract::ws::CloseFrame {
                    code: 1012,
                    reason: "server restarting".into(),
                };
                let _ = socket.send(WsMessage::Close(Some(close))).await;
                break;
            }
        }
    }
    chat.hub.leave(&session.conversation, conn);
}

/// Delivers [`OutboundCommand::SendToCustomer`] into web chat feeds.
#[derive(Debug)]
pub struct WebchatAdapter<B> {
    chat: Arc<Webchat<B>>,
}

impl<B> WebchatAdapter<B> {
    /// The adapter for `chat`.
    pub fn new(chat: Arc<Webchat<B>>) -> Self {
        Self { chat }
    }
}

#[async_trait]
impl<B: ChatBackend> Adapter for WebchatAdapter<B> {
    fn platform(&self) -> Platform {
        Platform::Webchat
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        match &delivery.command {
            OutboundCommand::SendToCustomer {
                conversation,
                content,
                ..
            } => {
                let seq = self
                    .chat
                    .deliver_to(conversation, &delivery.idempotency_key, content)
                    .await
                    .map_err(|e| DeliveryError::Transient {
                        reason: e.0,
                        retry_after: None,
                    })?;
                Ok(Delivered {
                    reference: Some(MessageRef::new(
                        Platform::Webchat,
                        conversation.clone(),
                        seq.to_string(),
                    )),
                })
            }
            other => Err(DeliveryError::Permanent {
                reason: format!("the web chat cannot carry out {}", other.name()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_when_trusted() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(client_ip(&h, peer, false), peer.ip());
        assert_eq!(
            client_ip(&h, peer, true),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }
}
