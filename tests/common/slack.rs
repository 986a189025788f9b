//! A local Slack for the integration tests: the Web API and Socket Mode
//! served on 127.0.0.1, answering the way Slack does, plus the test-side
//! helpers that build Slack's event and interaction payloads and post
//! them to handoff signed the way Slack signs them.
//!
//! The double records every Web API call (refused ones too), so a test can
//! assert what handoff asked of Slack, and it keeps the bot's messages and
//! reactions as Slack would show them afterwards. Answers can be scripted
//! per method (rate limits, error codes, 500s) to drive handoff's retry
//! and give-up paths. Failures look like Slack's: HTTP 200 with
//! `"ok":false` and an error code, except rate limits (429 + Retry-After)
//! and scripted server errors (500).
//!
//! The payload shapes come from slackapi/java-slack-sdk's recorded test
//! resources, copied unchanged into `tests/fixtures/slack/` (see the
//! README there). Those recordings hold every documented field with blank
//! values, so each helper keeps only the fields a real payload of its kind
//! carries and fills every one of them with a realistic value.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures::{SinkExt, StreamExt};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

/// The bot token (`xoxb-`) the double accepts for every method but
/// `apps.connections.open`.
pub const BOT_TOKEN: &str = "xoxb-test-token";
/// The app-level token (`xapp-`) the double accepts for
/// `apps.connections.open` only, as Slack does.
pub const APP_TOKEN: &str = "xapp-test-token";
/// The signing secret the test-side helpers sign requests with.
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The bot's user id: the author of everything the bot posts.
pub const BOT_USER: &str = "U0BOT";
/// The bot's bot id.
pub const BOT_ID: &str = "B0BOT";
/// The workspace id.
pub const TEAM: &str = "T0TEAM";
/// The app id.
pub const APP_ID: &str = "A0APP";
/// The scopes a fresh double grants the bot token.
pub const DEFAULT_SCOPES: &str = "chat:write,reactions:read,reactions:write,users:read,\
channels:history,groups:history,channels:read,groups:read";
/// The bot id of another integration, the author of `bot_thread_message`.
pub const OTHER_BOT_ID: &str = "B0OTHER";
/// The channel name interaction payloads carry (they name the channel,
/// and the free helpers cannot see the double's `set_channel` names).
pub const INTERACTION_CHANNEL_NAME: &str = "support";

/// Slack still puts the app's legacy verification token in payloads.
const VERIFICATION_TOKEN: &str = "Jhj5dZrVaK7ZwHHjRyZWjbDl";
/// The workspace's subdomain, used in URLs Slack hands out.
const DOMAIN: &str = "handoff-test";
/// How often the waiting helpers look again.
const POLL: Duration = Duration::from_millis(20);
/// How long the waiting helpers wait before panicking.
const PATIENCE: Duration = Duration::from_secs(20);
/// Slack refuses a message with more blocks than this (`invalid_blocks`).
const MAX_BLOCKS: usize = 50;
/// Slack refuses a message text longer than this (`msg_too_long`).
const MAX_TEXT_CHARS: usize = 40_000;
/// The first ts the double hands out is this second plus 100 µs.
const TS_EPOCH: u64 = 1_700_000_000;
/// The methods the double serves; anything else is `unknown_method`.
const METHODS: &[&str] = &[
    "apps.connections.open",
    "auth.test",
    "chat.delete",
    "chat.getPermalink",
    "chat.postEphemeral",
    "chat.postMessage",
    "chat.update",
    "conversations.history",
    "conversations.info",
    "conversations.replies",
    "reactions.add",
    "reactions.remove",
    "users.info",
];

/// One Web API call as the double received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method, e.g. `chat.postMessage`.
    pub method: String,
    /// The token presented (Bearer header, else the `token` param).
    pub token: Option<String>,
    /// Query-string and body params merged into one object; form and
    /// query values are strings, JSON bodies keep their types.
    pub args: Value,
    /// How the double answered: `"ok"`, `"ratelimited"`, `"http_500"`, or
    /// the `ok:false` error code.
    pub answer: String,
}

/// A scripted answer that replaces the next matching call's success.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// HTTP 429 with `Retry-After` and `{"ok":false,"error":"ratelimited"}`.
    RateLimited {
        /// The `Retry-After` header value.
        retry_after_secs: u64,
    },
    /// HTTP 200 with `{"ok":false,"error":<code>}`.
    Error(String),
    /// HTTP 500 with a short plain-text body.
    ServerError,
}

/// The running double. Dropping it stops accepting new connections.
#[derive(Debug)]
pub struct SlackDouble {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SlackDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the server tasks and the test share.
#[derive(Debug)]
struct Inner {
    port: u16,
    slack: Mutex<Workspace>,
    sockets: Mutex<Sockets>,
}

impl Inner {
    fn slack(&self) -> MutexGuard<'_, Workspace> {
        lock(&self.slack)
    }

    fn sockets(&self) -> MutexGuard<'_, Sockets> {
        lock(&self.sockets)
    }
}

/// A test that panicked while holding a lock must not turn every later
/// assertion into a confusing PoisonError.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The workspace as Slack would see it.
#[derive(Debug, Default)]
struct Workspace {
    calls: Vec<Call>,
    scripts: HashMap<String, VecDeque<(Option<String>, Scripted)>>,
    /// id → (display name, real name, is_bot)
    users: HashMap<String, (String, String, bool)>,
    /// id → (name, is_member)
    channels: HashMap<String, (String, bool)>,
    scopes: String,
    /// Every message the double knows, in posting order.
    messages: Vec<Stored>,
    last_ts: u64,
    tickets: HashSet<String>,
}

/// One message in a channel.
#[derive(Debug, Clone)]
struct Stored {
    channel: String,
    ts: String,
    user: String,
    /// Posted by the bot through the Web API (else added by the test).
    by_bot: bool,
    text: String,
    blocks: Vec<Value>,
    thread_ts: Option<String>,
    metadata: Option<Value>,
    /// Reaction names the bot added, in order.
    reactions: Vec<String>,
}

/// The open Socket Mode connections and the acks being waited for.
#[derive(Debug, Default)]
struct Sockets {
    next_id: u64,
    /// (connection id, its outgoing frames), oldest first.
    open: Vec<(u64, mpsc::UnboundedSender<Message>)>,
    waiting: HashMap<String, oneshot::Sender<Value>>,
}

impl SlackDouble {
    /// Starts the double on 127.0.0.1 with an OS-chosen port.
    pub async fn start() -> SlackDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the Slack double");
        let addr = listener
            .local_addr()
            .expect("the Slack double's listener has an address");
        let mut workspace = Workspace {
            scopes: DEFAULT_SCOPES.to_owned(),
            ..Workspace::default()
        };
        // Slack knows its own bot user; handoff may look it up.
        workspace.users.insert(
            BOT_USER.to_owned(),
            ("handoff".to_owned(), "handoff".to_owned(), true),
        );
        let inner = Arc::new(Inner {
            port: addr.port(),
            slack: Mutex::new(workspace),
            sockets: Mutex::default(),
        });
        let app = Router::new()
            // A wildcard so a doubled slash in a client's base URL still
            // reaches the method (it is trimmed in the handler).
            .route("/api/{*method}", any(web_api))
            .route("/socket", get(socket_upgrade))
            .with_state(Arc::clone(&inner));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the Slack double's server stopped");
        });
        SlackDouble {
            inner,
            addr,
            server,
        }
    }

    /// The Web API base, `http://127.0.0.1:PORT/api` (no trailing slash).
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Every Web API call so far, in arrival order, refused ones included.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.slack().calls.clone()
    }

    /// The calls to one method, in arrival order.
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.inner
            .slack()
            .calls
            .iter()
            .filter(|call| call.method == method)
            .cloned()
            .collect()
    }

    /// Waits for the first call to `method` that satisfies `pred`, looking
    /// every 20 ms; panics after 20 s listing every call so far.
    pub async fn wait_for(&self, method: &str, pred: impl Fn(&Call) -> bool) -> Call {
        // Real time, not tokio time: a test with paused time would
        // otherwise run out of patience while real I/O is in flight.
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(call) = self.calls_to(method).into_iter().find(|call| pred(call)) {
                return call;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no matching {method} call within {PATIENCE:?}; calls so far:\n{}",
                    describe_calls(&self.calls())
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Queues a scripted answer: the next call to `method` (whose
    /// `args.channel` equals `channel`, when given) gets it instead of
    /// success. Answers for one method are used first in, first out.
    pub fn script(&self, method: &str, channel: Option<&str>, answer: Scripted) {
        self.inner
            .slack()
            .scripts
            .entry(method.to_owned())
            .or_default()
            .push_back((channel.map(str::to_owned), answer));
    }

    /// Adds (or replaces) a user that `users.info` knows.
    pub fn add_user(&self, id: &str, display_name: &str, real_name: &str) {
        self.inner.slack().users.insert(
            id.to_owned(),
            (display_name.to_owned(), real_name.to_owned(), false),
        );
    }

    /// Adds (or replaces) a public channel that `conversations.info` knows.
    pub fn set_channel(&self, id: &str, name: &str, is_member: bool) {
        self.inner
            .slack()
            .channels
            .insert(id.to_owned(), (name.to_owned(), is_member));
    }

    /// Sets the bot token's scopes (comma-separated). `auth.test` reports
    /// them in `x-oauth-scopes`, and a method whose scope is missing
    /// answers `missing_scope` as Slack does.
    pub fn set_scopes(&self, scopes: &str) {
        scopes.clone_into(&mut self.inner.slack().scopes);
    }

    /// Makes a message by someone other than the bot exist in a channel,
    /// as if a person had posted it in Slack, so the bot can react to it
    /// and it shows up in `conversations.history`/`replies`. Not listed by
    /// `messages()`.
    pub fn add_message(
        &self,
        channel: &str,
        ts: &str,
        thread_ts: Option<&str>,
        user: &str,
        text: &str,
    ) {
        self.inner.slack().messages.push(Stored {
            channel: channel.to_owned(),
            ts: ts.to_owned(),
            user: user.to_owned(),
            by_bot: false,
            text: text.to_owned(),
            blocks: vec![rich_text_block(text)],
            thread_ts: thread_ts.map(str::to_owned),
            metadata: None,
            reactions: Vec::new(),
        });
    }

    /// The current state (after updates and deletions) of every message
    /// the bot posted, in posting order: `channel`, `ts`, `text`, `blocks`
    /// (always an array) and, when set, `thread_ts` and `metadata`.
    pub fn messages(&self) -> Vec<Value> {
        self.inner
            .slack()
            .messages
            .iter()
            .filter(|message| message.by_bot)
            .map(Stored::state)
            .collect()
    }

    /// The current state of one message the bot posted.
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.inner
            .slack()
            .messages
            .iter()
            .find(|message| message.by_bot && message.channel == channel && message.ts == ts)
            .map(Stored::state)
    }

    /// The reaction names the bot has on a message, in the order added.
    pub fn reactions_on(&self, channel: &str, ts: &str) -> Vec<String> {
        self.inner
            .slack()
            .messages
            .iter()
            .find(|message| message.channel == channel && message.ts == ts)
            .map(|message| message.reactions.clone())
            .unwrap_or_default()
    }

    /// How many Socket Mode connections are open right now.
    pub async fn socket_connections(&self) -> usize {
        self.inner.sockets().open.len()
    }

    /// Sends an envelope of `kind` (`"events_api"`, `"interactive"`, …)
    /// carrying `payload` to the most recent open connection, waiting up
    /// to 20 s for one to exist, then waits up to 20 s for the client's
    /// ack (the frame with the same `envelope_id`) and returns that frame.
    pub async fn socket_send(&self, kind: &str, payload: Value) -> Value {
        let envelope_id = uuid::Uuid::new_v4().to_string();
        let frame = json!({
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "retry_reason": "",
        })
        .to_string();
        // Registered before sending so a fast ack cannot be missed.
        let (ack_tx, ack_rx) = oneshot::channel();
        self.inner
            .sockets()
            .waiting
            .insert(envelope_id.clone(), ack_tx);

        let deadline = Instant::now() + PATIENCE;
        loop {
            let sent = self
                .inner
                .sockets()
                .open
                .last()
                .is_some_and(|(_, tx)| tx.send(Message::Text(frame.clone().into())).is_ok());
            if sent {
                break;
            }
            if Instant::now() >= deadline {
                self.inner.sockets().waiting.remove(&envelope_id);
                panic!(
                    "no Socket Mode connection to send a {kind} envelope to within {PATIENCE:?}"
                );
            }
            tokio::time::sleep(POLL).await;
        }

        match tokio::time::timeout(PATIENCE, ack_rx).await {
            Ok(Ok(ack)) => ack,
            _ => {
                self.inner.sockets().waiting.remove(&envelope_id);
                panic!(
                    "no ack for {kind} envelope {envelope_id} within {PATIENCE:?} \
                     ({} connection(s) open)",
                    self.inner.sockets().open.len()
                );
            }
        }
    }

    /// Asks every open Socket Mode client to reconnect, as Slack does
    /// before it recycles a host: a `disconnect` frame
    /// (`reason: "refresh_requested"`), then a close frame.
    pub async fn socket_disconnect(&self) {
        let frame = json!({
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "applink-double"},
        })
        .to_string();
        for (_, tx) in &self.inner.sockets().open {
            // A connection that is already going away needs no notice.
            let _ = tx.send(Message::Text(frame.clone().into()));
            let _ = tx.send(Message::Close(None));
        }
    }
}

impl Stored {
    /// What `messages()` reports.
    fn state(&self) -> Value {
        let mut state = json!({
            "channel": self.channel,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        });
        if let Some(thread_ts) = &self.thread_ts {
            state["thread_ts"] = json!(thread_ts);
        }
        if let Some(metadata) = &self.metadata {
            state["metadata"] = metadata.clone();
        }
        state
    }

    /// The message as the Web API returns it (history, replies, answers).
    fn api_view(&self, all: &[Stored]) -> Value {
        let mut message = json!({
            "type": "message",
            "user": self.user,
            "team": TEAM,
            "text": self.text,
            "blocks": self.blocks,
            "ts": self.ts,
        });
        if self.by_bot {
            message["bot_id"] = json!(BOT_ID);
            message["app_id"] = json!(APP_ID);
        }
        if let Some(thread_ts) = &self.thread_ts {
            message["thread_ts"] = json!(thread_ts);
            if let Some(parent) = all
                .iter()
                .find(|m| m.channel == self.channel && &m.ts == thread_ts && m.ts != self.ts)
            {
                message["parent_user_id"] = json!(parent.user);
            }
        }
        // A thread parent carries its thread's summary, as in Slack.
        let replies: Vec<&Stored> = all
            .iter()
            .filter(|m| {
                m.channel == self.channel
                    && m.ts != self.ts
                    && m.thread_ts.as_deref() == Some(self.ts.as_str())
            })
            .collect();
        if let Some(latest) = replies
            .iter()
            .map(|m| m.ts.as_str())
            .max_by_key(|ts| ts_key(ts))
        {
            let mut users: Vec<&str> = Vec::new();
            for reply in &replies {
                if !users.contains(&reply.user.as_str()) {
                    users.push(&reply.user);
                }
            }
            message["thread_ts"] = json!(self.ts);
            message["reply_count"] = json!(replies.len());
            message["reply_users_count"] = json!(users.len());
            message["reply_users"] = json!(users);
            message["latest_reply"] = json!(latest);
        }
        if let Some(metadata) = &self.metadata {
            message["metadata"] = metadata.clone();
        }
        if !self.reactions.is_empty() {
            message["reactions"] = self
                .reactions
                .iter()
                .map(|name| json!({"name": name, "users": [BOT_USER], "count": 1}))
                .collect();
        }
        message
    }
}

// ---------------------------------------------------------------------------
// Web API
// ---------------------------------------------------------------------------

/// How the double answers one call.
#[derive(Debug)]
enum Reply {
    /// HTTP 200, `ok:true` plus these fields.
    Ok(Value),
    /// HTTP 200, `ok:false`, this error plus these extra fields.
    Fail(String, Value),
    /// HTTP 429.
    RateLimited(u64),
    /// HTTP 500.
    ServerError,
}

fn fail(error: &str) -> Reply {
    Reply::Fail(error.to_owned(), json!({}))
}

impl Reply {
    /// What `Call::answer` records.
    fn label(&self) -> String {
        match self {
            Reply::Ok(_) => "ok".to_owned(),
            Reply::Fail(error, _) => error.clone(),
            Reply::RateLimited(_) => "ratelimited".to_owned(),
            Reply::ServerError => "http_500".to_owned(),
        }
    }
}

impl From<Scripted> for Reply {
    fn from(scripted: Scripted) -> Self {
        match scripted {
            Scripted::RateLimited { retry_after_secs } => Reply::RateLimited(retry_after_secs),
            Scripted::Error(code) => Reply::Fail(code, json!({})),
            Scripted::ServerError => Reply::ServerError,
        }
    }
}

async fn web_api(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let method = method.trim_start_matches('/').to_owned();
    let mut args = Map::new();
    for (key, value) in parse_form(query.as_deref().unwrap_or("")) {
        args.insert(key, Value::String(value));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut malformed = false;
    if !body.is_empty() {
        if content_type.starts_with("application/json") {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(fields)) => args.extend(fields),
                _ => malformed = true,
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let body = String::from_utf8_lossy(&body);
            for (key, value) in parse_form(&body) {
                args.insert(key, Value::String(value));
            }
        }
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned())
        .or_else(|| args.get("token").and_then(Value::as_str).map(str::to_owned));

    let mut call = Call {
        method,
        token,
        args: Value::Object(args),
        answer: String::new(),
    };
    // Answer and record under one lock so the call log and the workspace
    // state never disagree about order.
    let mut slack = inner.slack();
    let reply = slack.answer(&call, inner.port, malformed);
    let scopes = (call.token.as_deref() == Some(BOT_TOKEN)).then(|| slack.scopes.clone());
    call.answer = reply.label();
    slack.calls.push(call);
    drop(slack);
    respond(reply, scopes)
}

fn respond(reply: Reply, scopes: Option<String>) -> Response {
    let json_body = |status: StatusCode, body: Value| {
        (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body.to_string(),
        )
            .into_response()
    };
    let mut response = match reply {
        Reply::Ok(mut body) => {
            body["ok"] = json!(true);
            json_body(StatusCode::OK, body)
        }
        Reply::Fail(error, mut body) => {
            body["ok"] = json!(false);
            body["error"] = json!(error);
            json_body(StatusCode::OK, body)
        }
        Reply::RateLimited(secs) => {
            let mut response = json_body(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"ok": false, "error": "ratelimited"}),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            response
        }
        Reply::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            "Internal Server Error",
        )
            .into_response(),
    };
    // Slack reports the token's scopes on every authenticated answer;
    // auth.test is where clients usually read them.
    if let Some(value) = scopes.and_then(|scopes| HeaderValue::from_str(&scopes).ok()) {
        response.headers_mut().insert("x-oauth-scopes", value);
    }
    response
}

/// The scope Slack requires for a method (public channels), if any.
fn needed_scope(method: &str) -> Option<&'static str> {
    Some(match method {
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" | "chat.delete" => "chat:write",
        "reactions.add" | "reactions.remove" => "reactions:write",
        "users.info" => "users:read",
        "conversations.info" => "channels:read",
        "conversations.history" | "conversations.replies" => "channels:history",
        _ => return None,
    })
}

/// A string param, treating an empty one as missing (Slack does).
fn arg(args: &Value, key: &str) -> Option<String> {
    match args.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The text and blocks of a post or update; `None` where not given.
type Content = (Option<String>, Option<Vec<Value>>);

/// Reads and checks `text` and `blocks` the way Slack does. `blocks` may
/// be a JSON array or a JSON-encoded string (form posts must encode it).
fn content(args: &Value) -> Result<Content, Reply> {
    let text = match args.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => Some(other.to_string()),
    };
    if text
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_TEXT_CHARS)
    {
        return Err(fail("msg_too_long"));
    }
    let blocks = match args.get("blocks") {
        None | Some(Value::Null) => None,
        Some(Value::Array(blocks)) => Some(blocks.clone()),
        Some(Value::String(encoded)) if encoded.is_empty() => None,
        Some(Value::String(encoded)) => match serde_json::from_str::<Value>(encoded) {
            Ok(Value::Array(blocks)) => Some(blocks),
            _ => return Err(fail("invalid_blocks_format")),
        },
        Some(_) => return Err(fail("invalid_blocks_format")),
    };
    if let Some(blocks) = &blocks {
        let well_formed = blocks
            .iter()
            .all(|block| block.get("type").and_then(Value::as_str).is_some());
        if blocks.len() > MAX_BLOCKS || !well_formed {
            return Err(fail("invalid_blocks"));
        }
    }
    Ok((text, blocks))
}

/// Message metadata as an object, whether sent as one or JSON-encoded.
fn metadata(args: &Value) -> Result<Option<Value>, Reply> {
    match args.get("metadata") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(_)) => Ok(args.get("metadata").cloned()),
        Some(Value::String(encoded)) => match serde_json::from_str::<Value>(encoded) {
            Ok(object @ Value::Object(_)) => Ok(Some(object)),
            _ => Err(fail("invalid_metadata_format")),
        },
        Some(_) => Err(fail("invalid_metadata_format")),
    }
}

fn has_content((text, blocks): &Content) -> bool {
    text.as_ref().is_some_and(|text| !text.is_empty())
        || blocks.as_ref().is_some_and(|blocks| !blocks.is_empty())
}

impl Workspace {
    fn answer(&mut self, call: &Call, port: u16, malformed: bool) -> Reply {
        let method = call.method.as_str();
        if !METHODS.contains(&method) {
            return fail("unknown_method");
        }
        // apps.connections.open is the one method for app-level tokens;
        // each kind of token is refused where the other belongs.
        let (wanted, other) = if method == "apps.connections.open" {
            (APP_TOKEN, BOT_TOKEN)
        } else {
            (BOT_TOKEN, APP_TOKEN)
        };
        match call.token.as_deref() {
            Some(token) if token == wanted => {}
            Some(token) if token == other => return fail("not_allowed_token_type"),
            _ => return fail("invalid_auth"),
        }
        if malformed {
            return fail("invalid_json");
        }
        if let Some(scripted) = self.take_script(method, arg(&call.args, "channel").as_deref()) {
            return scripted.into();
        }
        if let Some(scope) = needed_scope(method)
            && !self
                .scopes
                .split(',')
                .any(|granted| granted.trim() == scope)
        {
            return Reply::Fail(
                "missing_scope".to_owned(),
                json!({"needed": scope, "provided": self.scopes}),
            );
        }
        let args = &call.args;
        let result = match method {
            "chat.postMessage" => self.post_message(args),
            "chat.update" => self.update(args),
            "chat.postEphemeral" => self.post_ephemeral(args),
            "chat.delete" => self.delete(args),
            "chat.getPermalink" => self.permalink(args),
            "reactions.add" => self.react(args, true),
            "reactions.remove" => self.react(args, false),
            "users.info" => self.user_info(args),
            "auth.test" => Ok(json!({
                "url": format!("https://{DOMAIN}.slack.com/"),
                "team": "Handoff Test",
                "user": "handoff",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": false,
            })),
            "conversations.info" => self.channel_info(args),
            "conversations.history" => self.history(args),
            "conversations.replies" => self.replies(args),
            "apps.connections.open" => {
                let ticket = uuid::Uuid::new_v4().to_string();
                self.tickets.insert(ticket.clone());
                Ok(json!({"url": format!("ws://127.0.0.1:{port}/socket?ticket={ticket}")}))
            }
            _ => Err(fail("unknown_method")),
        };
        result.map_or_else(|refusal| refusal, Reply::Ok)
    }

    /// Takes the first scripted answer for `method` that applies to
    /// `channel` (one scripted without a channel applies to any call).
    fn take_script(&mut self, method: &str, channel: Option<&str>) -> Option<Scripted> {
        let queue = self.scripts.get_mut(method)?;
        let at = queue
            .iter()
            .position(|(wanted, _)| wanted.is_none() || wanted.as_deref() == channel)?;
        queue.remove(at).map(|(_, answer)| answer)
    }

    /// A fresh ts: strictly increasing, Slack-shaped.
    fn next_ts(&mut self) -> String {
        self.last_ts += 1;
        let micros = self.last_ts * 100;
        format!(
            "{}.{:06}",
            TS_EPOCH + micros / 1_000_000,
            micros % 1_000_000
        )
    }

    fn find(&mut self, channel: &str, ts: &str) -> Option<&mut Stored> {
        self.messages
            .iter_mut()
            .find(|message| message.channel == channel && message.ts == ts)
    }

    fn post_message(&mut self, args: &Value) -> Result<Value, Reply> {
        let channel = arg(args, "channel").ok_or_else(|| fail("channel_not_found"))?;
        let content = content(args)?;
        if !has_content(&content) {
            return Err(fail("no_text"));
        }
        let metadata = metadata(args)?;
        let ts = self.next_ts();
        let (text, blocks) = content;
        let stored = Stored {
            channel: channel.clone(),
            ts: ts.clone(),
            user: BOT_USER.to_owned(),
            by_bot: true,
            text: text.unwrap_or_default(),
            blocks: blocks.unwrap_or_default(),
            thread_ts: arg(args, "thread_ts"),
            metadata,
            reactions: Vec::new(),
        };
        let message = stored.api_view(&self.messages);
        self.messages.push(stored);
        Ok(json!({"channel": channel, "ts": ts, "message": message}))
    }

    fn update(&mut self, args: &Value) -> Result<Value, Reply> {
        let (Some(channel), Some(ts)) = (arg(args, "channel"), arg(args, "ts")) else {
            return Err(fail("message_not_found"));
        };
        let content = content(args)?;
        if !has_content(&content) {
            return Err(fail("no_text"));
        }
        let metadata = metadata(args)?;
        let message = self
            .find(&channel, &ts)
            .ok_or_else(|| fail("message_not_found"))?;
        if !message.by_bot {
            return Err(fail("cant_update_message"));
        }
        // Slack keeps whatever the update leaves out.
        let (text, blocks) = content;
        if let Some(text) = text {
            message.text = text;
        }
        if let Some(blocks) = blocks {
            message.blocks = blocks;
        }
        if metadata.is_some() {
            message.metadata = metadata;
        }
        Ok(json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": {
                "type": "message",
                "user": BOT_USER,
                "bot_id": BOT_ID,
                "app_id": APP_ID,
                "text": message.text,
                "blocks": message.blocks,
            },
        }))
    }

    fn post_ephemeral(&mut self, args: &Value) -> Result<Value, Reply> {
        if arg(args, "channel").is_none() {
            return Err(fail("channel_not_found"));
        }
        if arg(args, "user").is_none() {
            return Err(fail("user_not_in_channel"));
        }
        let content = content(args)?;
        if !has_content(&content) {
            return Err(fail("no_text"));
        }
        // Ephemeral messages live only in the call log, as in Slack
        // where nothing can read them back.
        Ok(json!({"message_ts": self.next_ts()}))
    }

    fn delete(&mut self, args: &Value) -> Result<Value, Reply> {
        let (Some(channel), Some(ts)) = (arg(args, "channel"), arg(args, "ts")) else {
            return Err(fail("message_not_found"));
        };
        let at = self
            .messages
            .iter()
            .position(|m| m.channel == channel && m.ts == ts)
            .ok_or_else(|| fail("message_not_found"))?;
        if !self.messages[at].by_bot {
            return Err(fail("cant_delete_message"));
        }
        self.messages.remove(at);
        Ok(json!({"channel": channel, "ts": ts}))
    }

    fn permalink(&mut self, args: &Value) -> Result<Value, Reply> {
        let channel = arg(args, "channel").ok_or_else(|| fail("channel_not_found"))?;
        let ts = arg(args, "message_ts").ok_or_else(|| fail("message_not_found"))?;
        if self.find(&channel, &ts).is_none() {
            return Err(fail("message_not_found"));
        }
        Ok(json!({
            "channel": channel,
            "permalink": format!(
                "https://{DOMAIN}.slack.com/archives/{channel}/p{}",
                ts.replace('.', "")
            ),
        }))
    }

    fn react(&mut self, args: &Value, add: bool) -> Result<Value, Reply> {
        let (Some(channel), Some(ts)) = (arg(args, "channel"), arg(args, "timestamp")) else {
            return Err(fail("no_item_specified"));
        };
        let name = arg(args, "name").ok_or_else(|| fail("invalid_name"))?;
        let message = self
            .find(&channel, &ts)
            .ok_or_else(|| fail("message_not_found"))?;
        let present = message.reactions.contains(&name);
        match (add, present) {
            (true, true) => Err(fail("already_reacted")),
            (true, false) => {
                message.reactions.push(name);
                Ok(json!({}))
            }
            (false, true) => {
                message.reactions.retain(|existing| existing != &name);
                Ok(json!({}))
            }
            (false, false) => Err(fail("no_reaction")),
        }
    }

    fn user_info(&self, args: &Value) -> Result<Value, Reply> {
        let id = arg(args, "user").ok_or_else(|| fail("user_not_found"))?;
        let (display, real, is_bot) = self.users.get(&id).ok_or_else(|| fail("user_not_found"))?;
        Ok(json!({"user": {
            "id": id,
            "team_id": TEAM,
            "name": display.to_lowercase(),
            "deleted": false,
            "real_name": real,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "is_admin": false,
            "is_owner": false,
            "is_bot": is_bot,
            "is_app_user": false,
            "updated": TS_EPOCH,
            "profile": {
                "display_name": display,
                "real_name": real,
                "display_name_normalized": display,
                "real_name_normalized": real,
                "team": TEAM,
            },
        }}))
    }

    fn channel_info(&self, args: &Value) -> Result<Value, Reply> {
        let id = arg(args, "channel").ok_or_else(|| fail("channel_not_found"))?;
        let (name, is_member) = self
            .channels
            .get(&id)
            .ok_or_else(|| fail("channel_not_found"))?;
        Ok(json!({"channel": {
            "id": id,
            "name": name,
            "name_normalized": name,
            // slack-morphism requires `created`.
            "created": TS_EPOCH - 86_400,
            "creator": "U0ADMIN",
            "is_channel": true,
            "is_group": false,
            "is_im": false,
            "is_mpim": false,
            "is_private": false,
            "is_archived": false,
            "is_general": false,
            "is_shared": false,
            "is_org_shared": false,
            "is_member": is_member,
        }}))
    }

    /// Like Slack, history holds top-level messages only; thread replies
    /// are read with `conversations.replies`. Newest first.
    fn history(&self, args: &Value) -> Result<Value, Reply> {
        let channel = arg(args, "channel").ok_or_else(|| fail("channel_not_found"))?;
        let mut found: Vec<&Stored> = self
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .filter(|m| {
                m.thread_ts
                    .as_ref()
                    .is_none_or(|thread_ts| thread_ts == &m.ts)
            })
            .collect();
        found.sort_by_key(|m| std::cmp::Reverse(ts_key(&m.ts)));
        Ok(self.page(found, args, 100))
    }

    /// The thread's parent, then its replies, oldest first.
    fn replies(&self, args: &Value) -> Result<Value, Reply> {
        let channel = arg(args, "channel").ok_or_else(|| fail("channel_not_found"))?;
        let ts = arg(args, "ts").ok_or_else(|| fail("thread_not_found"))?;
        let mut found: Vec<&Stored> = self
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .filter(|m| m.ts == ts || m.thread_ts.as_deref() == Some(ts.as_str()))
            .collect();
        if found.is_empty() {
            return Err(fail("thread_not_found"));
        }
        found.sort_by_key(|m| ts_key(&m.ts));
        Ok(self.page(found, args, 1000))
    }

    fn page(&self, found: Vec<&Stored>, args: &Value, default_limit: usize) -> Value {
        let limit = arg(args, "limit")
            .and_then(|limit| limit.parse::<usize>().ok())
            .filter(|limit| *limit > 0)
            .unwrap_or(default_limit);
        let has_more = found.len() > limit;
        let messages: Vec<Value> = found
            .into_iter()
            .take(limit)
            .map(|m| m.api_view(&self.messages))
            .collect();
        json!({
            "messages": messages,
            "has_more": has_more,
            "response_metadata": {"next_cursor": ""},
        })
    }
}

/// Orders Slack timestamps numerically ("seconds.micros").
fn ts_key(ts: &str) -> (u64, u64) {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    (secs.parse().unwrap_or(0), micros.parse().unwrap_or(0))
}

fn describe_calls(calls: &[Call]) -> String {
    let mut out = String::new();
    for (i, call) in calls.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {i}: {} -> {} {}",
            call.method, call.answer, call.args
        );
    }
    if out.is_empty() {
        out.push_str("  (none)\n");
    }
    out
}

// ---------------------------------------------------------------------------
// Socket Mode
// ---------------------------------------------------------------------------

async fn socket_upgrade(
    State(inner): State<Arc<Inner>>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Slack only lets in tickets that apps.connections.open handed out.
    // Clients may add params of their own (slack-morphism appends
    // `debug_reconnects=true`).
    let ticket = parse_form(query.as_deref().unwrap_or(""))
        .into_iter()
        .find_map(|(key, value)| (key == "ticket").then_some(value));
    let known = ticket.is_some_and(|ticket| inner.slack().tickets.contains(&ticket));
    if !known {
        return (StatusCode::UNAUTHORIZED, "invalid ticket").into_response();
    }
    upgrade.on_upgrade(move |socket| serve_socket(inner, socket))
}

async fn serve_socket(inner: Arc<Inner>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let hello = json!({
        "type": "hello",
        "num_connections": 1,
        "debug_info": {"host": "applink-double", "approximate_connection_time": 18060},
        "connection_info": {"app_id": APP_ID},
    });
    // Queued before the connection is listed, so no envelope can
    // overtake the hello.
    let _ = tx.send(Message::Text(hello.to_string().into()));
    let id = {
        let mut sockets = inner.sockets();
        sockets.next_id += 1;
        let id = sockets.next_id;
        sockets.open.push((id, tx));
        id
    };
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let closing = matches!(frame, Message::Close(_));
            if sink.send(frame).await.is_err() || closing {
                break;
            }
        }
    });
    // Reading keeps pings answered: the websocket queues the pong and
    // flushes it on the next read.
    while let Some(Ok(frame)) = stream.next().await {
        match frame {
            Message::Text(text) => {
                let Ok(ack) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                let waiter = ack
                    .get("envelope_id")
                    .and_then(Value::as_str)
                    .and_then(|envelope_id| inner.sockets().waiting.remove(envelope_id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(ack);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    inner.sockets().open.retain(|(open, _)| *open != id);
    writer.abort();
}

// ---------------------------------------------------------------------------
// Payloads (test side)
// ---------------------------------------------------------------------------

const MESSAGE_FIXTURE: &str = include_str!("../fixtures/slack/MessagePayload.json");
const BOT_MESSAGE_FIXTURE: &str = include_str!("../fixtures/slack/MessageBotPayload.json");
const FILE_SHARE_FIXTURE: &str = include_str!("../fixtures/slack/MessageFileSharePayload.json");
const CHANGED_FIXTURE: &str = include_str!("../fixtures/slack/MessageChangedPayload.json");
const DELETED_FIXTURE: &str = include_str!("../fixtures/slack/MessageDeletedPayload.json");
const REACTION_FIXTURE: &str = include_str!("../fixtures/slack/ReactionAddedPayload.json");
const BLOCK_ACTION_FIXTURE: &str = include_str!("../fixtures/slack/BlockActionPayload.json");

fn fixture(name: &str, raw: &str) -> Value {
    serde_json::from_str(raw)
        .unwrap_or_else(|err| panic!("tests/fixtures/slack/{name} is not valid JSON: {err}"))
}

/// Builds one payload object from a recorded one. Only the fields named
/// survive: kept as recorded, or set. The recordings hold every
/// documented field with blank values, so anything not named is dropped
/// rather than left blank; naming a field the recording lacks panics, so
/// the payloads never drift from Slack's documented shapes.
#[derive(Debug)]
struct Shape {
    name: String,
    recorded: Map<String, Value>,
    built: Map<String, Value>,
}

impl Shape {
    fn of(name: &str, recorded: &Value) -> Shape {
        let recorded = recorded
            .as_object()
            .unwrap_or_else(|| panic!("{name} is not a JSON object in the fixture"))
            .clone();
        Shape {
            name: name.to_owned(),
            recorded,
            built: Map::new(),
        }
    }

    fn check(&self, key: &str) {
        assert!(
            self.recorded.contains_key(key),
            "{} has no field {key:?} in the fixture",
            self.name
        );
    }

    /// Keeps a field as recorded (its recorded value is meaningful, e.g.
    /// `"type": "message"` or `"is_ext_shared_channel": false`).
    fn keep(mut self, key: &str) -> Shape {
        self.check(key);
        self.built
            .insert(key.to_owned(), self.recorded[key].clone());
        self
    }

    fn set(mut self, key: &str, value: impl Into<Value>) -> Shape {
        self.check(key);
        self.built.insert(key.to_owned(), value.into());
        self
    }

    fn build(self) -> Value {
        Value::Object(self.built)
    }
}

/// The fixture's `event` object.
fn recorded_event(name: &str, raw: &str) -> Value {
    fixture(name, raw)["event"].take()
}

/// Now in whole seconds since the epoch.
fn now_secs() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(now.as_secs()).expect("the time fits an i64")
}

/// Now as a Slack ts ("seconds.micros").
fn now_ts() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

/// The one `rich_text` block Slack attaches to a message typed in its
/// composer.
fn rich_text_block(text: &str) -> Value {
    let block_id: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_owned();
    json!({
        "type": "rich_text",
        "block_id": block_id,
        "elements": [{
            "type": "rich_text_section",
            "elements": [{"type": "text", "text": text}],
        }],
    })
}

/// "claim_case" → "Claim case": a label like the one a person sees.
fn label(id: &str) -> String {
    let spaced = id.replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// The Events API envelope (`type: "event_callback"`) around one event,
/// as Slack posts it to the request URL or sends it over Socket Mode.
pub fn event_callback(event_id: &str, event: Value) -> Value {
    let recorded = fixture("ReactionAddedPayload.json", REACTION_FIXTURE);
    let authorization = Shape::of(
        "ReactionAddedPayload.json authorizations[0]",
        &recorded["authorizations"][0],
    )
    .set("enterprise_id", Value::Null)
    .set("team_id", TEAM)
    .set("user_id", BOT_USER)
    .set("is_bot", true)
    .keep("is_enterprise_install")
    .build();
    // Slack's event_context is an opaque token; this is its real form
    // ("4-" + base64url of a small JSON about the event).
    let context = json!({
        "et": event.get("type").and_then(Value::as_str).unwrap_or("message"),
        "tid": TEAM,
        "aid": APP_ID,
        "cid": event
            .get("channel")
            .or_else(|| event.pointer("/item/channel"))
            .and_then(Value::as_str)
            .unwrap_or(""),
    });
    Shape::of("ReactionAddedPayload.json", &recorded)
        .set("token", VERIFICATION_TOKEN)
        .set("team_id", TEAM)
        .set("api_app_id", APP_ID)
        .set("event", event)
        .keep("type")
        .set("event_id", event_id)
        .set("event_time", now_secs())
        .set("authorizations", json!([authorization]))
        .keep("is_ext_shared_channel")
        .set(
            "event_context",
            format!("4-{}", base64url(context.to_string().as_bytes())),
        )
        .set("context_team_id", TEAM)
        .set("context_enterprise_id", Value::Null)
        .build()
}

/// A person's `message` event (channel_type "channel"), top-level when
/// `thread_ts` is `None`.
fn human_message(
    channel: &str,
    thread_ts: Option<&str>,
    ts: &str,
    user: &str,
    text: &str,
) -> Value {
    let event = recorded_event("MessagePayload.json", MESSAGE_FIXTURE);
    let mut shape = Shape::of("MessagePayload.json event", &event)
        .set("client_msg_id", uuid::Uuid::new_v4().to_string())
        .keep("type")
        .set("team", TEAM)
        .set("channel", channel)
        .set("user", user)
        .set("text", text)
        .set("blocks", json!([rich_text_block(text)]))
        .set("ts", ts)
        .set("event_ts", ts)
        .set("channel_type", "channel");
    if let Some(thread_ts) = thread_ts {
        // handoff's case threads start with the bot's message.
        shape = shape
            .set("thread_ts", thread_ts)
            .set("parent_user_id", BOT_USER);
    }
    shape.build()
}

/// A person's reply in a thread: a `message` event shaped like
/// MessagePayload.json (`client_msg_id`, `team`, `text`, `user`, `ts`,
/// `thread_ts`, `parent_user_id` = the bot, one `rich_text` block).
pub fn thread_reply(channel: &str, thread_ts: &str, ts: &str, user: &str, text: &str) -> Value {
    human_message(channel, Some(thread_ts), ts, user, text)
}

/// A person's top-level channel message (no `thread_ts`).
pub fn channel_message(channel: &str, ts: &str, user: &str, text: &str) -> Value {
    human_message(channel, None, ts, user, text)
}

/// Another integration's message in a thread, like MessageBotPayload.json:
/// `subtype: "bot_message"`, `bot_id` = [`OTHER_BOT_ID`], no `user`.
pub fn bot_thread_message(channel: &str, thread_ts: &str, ts: &str, text: &str) -> Value {
    let event = recorded_event("MessageBotPayload.json", BOT_MESSAGE_FIXTURE);
    Shape::of("MessageBotPayload.json event", &event)
        .keep("type")
        .keep("subtype")
        .set("bot_id", OTHER_BOT_ID)
        .set("username", "Status Bot")
        .set("channel", channel)
        .set("text", text)
        .set("thread_ts", thread_ts)
        .set("ts", ts)
        .set("event_ts", ts)
        .set("channel_type", "channel")
        .build()
}

/// The echo of a message the bot itself posted, as Slack delivers it
/// back to the app: `user` = [`BOT_USER`], `bot_id` = [`BOT_ID`], a
/// `bot_profile`, no subtype (shaped like MessagePayload.json).
pub fn bot_echo(channel: &str, thread_ts: Option<&str>, ts: &str, text: &str) -> Value {
    let event = recorded_event("MessagePayload.json", MESSAGE_FIXTURE);
    let profile = Shape::of(
        "MessagePayload.json event.bot_profile",
        &event["bot_profile"],
    )
    .set("id", BOT_ID)
    .keep("deleted")
    .set("name", "handoff")
    .set("updated", TS_EPOCH)
    .set("app_id", APP_ID)
    .set(
        "icons",
        json!({"image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png",
                   "image_48": "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png",
                   "image_72": "https://a.slack-edge.com/80588/img/plugins/app/service_72.png"}),
    )
    .set("team_id", TEAM)
    .build();
    let mut shape = Shape::of("MessagePayload.json event", &event)
        .keep("type")
        .set("team", TEAM)
        .set("channel", channel)
        .set("user", BOT_USER)
        .set("bot_id", BOT_ID)
        .set("bot_profile", profile)
        .set("text", text)
        .set("blocks", json!([]))
        .set("ts", ts)
        .set("event_ts", ts)
        .set("channel_type", "channel");
    if let Some(thread_ts) = thread_ts {
        shape = shape
            .set("thread_ts", thread_ts)
            .set("parent_user_id", BOT_USER);
    }
    shape.build()
}

/// A person's thread reply with a file, like MessageFileSharePayload.json:
/// `subtype: "file_share"` and one `files` entry (`id`, `name`,
/// `url_private`, `permalink`, `public_url_shared`, and
/// `permalink_public` only when `public_url` is given).
pub fn file_share_reply(
    channel: &str,
    thread_ts: &str,
    ts: &str,
    user: &str,
    text: &str,
    file_name: &str,
    public_url: Option<&str>,
) -> Value {
    let event = recorded_event("MessageFileSharePayload.json", FILE_SHARE_FIXTURE);
    let id = format!(
        "F{}",
        uuid::Uuid::new_v4().simple().to_string()[..10].to_uppercase()
    );
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    let (mimetype, filetype, pretty_type) = match extension.as_str() {
        "pdf" => ("application/pdf", "pdf", "PDF"),
        "png" => ("image/png", "png", "PNG"),
        "jpg" | "jpeg" => ("image/jpeg", "jpg", "JPEG"),
        "gif" => ("image/gif", "gif", "GIF"),
        "txt" => ("text/plain", "text", "Plain Text"),
        "csv" => ("text/csv", "csv", "CSV"),
        "zip" => ("application/zip", "zip", "Zip"),
        _ => ("application/octet-stream", "binary", "Binary"),
    };
    let encoded_name = percent_encode(file_name, false);
    let created = now_secs();
    let mut file = Shape::of(
        "MessageFileSharePayload.json event.files[0]",
        &event["files"][0],
    )
    .set("id", id.as_str())
    .set("created", created)
    .set("timestamp", created)
    .set("name", file_name)
    .set("title", file_name)
    .set("mimetype", mimetype)
    .set("filetype", filetype)
    .set("pretty_type", pretty_type)
    .set("user", user)
    .set("user_team", TEAM)
    .set("mode", "hosted")
    .keep("editable")
    .keep("is_external")
    .set("size", 48_213)
    .set(
        "url_private",
        format!("https://files.slack.com/files-pri/{TEAM}-{id}/{encoded_name}"),
    )
    .set(
        "url_private_download",
        format!("https://files.slack.com/files-pri/{TEAM}-{id}/download/{encoded_name}"),
    )
    .set(
        "permalink",
        format!("https://{DOMAIN}.slack.com/files/{user}/{id}/{encoded_name}"),
    )
    .keep("has_rich_preview")
    .set("file_access", "visible")
    // Shared into a public channel, so visible to its members.
    .set("is_public", true)
    .set("public_url_shared", public_url.is_some())
    .keep("display_as_bot");
    if let Some(public_url) = public_url {
        file = file.set("permalink_public", public_url);
    }
    let file = file.build();
    let blocks = if text.is_empty() {
        json!([])
    } else {
        json!([rich_text_block(text)])
    };
    Shape::of("MessageFileSharePayload.json event", &event)
        .keep("type")
        .keep("subtype")
        .set("text", text)
        .set("blocks", blocks)
        .set("files", json!([file]))
        .keep("upload")
        .keep("display_as_bot")
        .set("user", user)
        .set("parent_user_id", BOT_USER)
        .set("ts", ts)
        .set("thread_ts", thread_ts)
        .set("channel", channel)
        .set("event_ts", ts)
        .set("channel_type", "channel")
        .build()
}

/// A person's message as it sits inside a `message_changed` or
/// `message_deleted` event. An empty `thread_ts` means top-level.
fn inner_message(
    name: &str,
    recorded: &Value,
    client_msg_id: &str,
    ts: &str,
    thread_ts: &str,
    user: &str,
    text: &str,
) -> Shape {
    let mut shape = Shape::of(name, recorded)
        .set("client_msg_id", client_msg_id)
        .keep("type")
        .set("user", user)
        .set("team", TEAM)
        .set("text", text)
        .set("blocks", json!([rich_text_block(text)]))
        .set("ts", ts)
        .set("user_team", TEAM)
        .set("source_team", TEAM);
    if !thread_ts.is_empty() {
        shape = shape.set("thread_ts", thread_ts);
        if thread_ts != ts {
            shape = shape.set("parent_user_id", BOT_USER);
        }
    }
    shape
}

/// A person edited a message, like MessageChangedPayload.json:
/// `subtype: "message_changed"`, `hidden: true`, `message` (the new
/// text, with `edited {user, ts}`) and `previous_message` (the old).
/// An empty `thread_ts` means a top-level message.
pub fn message_changed(
    channel: &str,
    ts: &str,
    thread_ts: &str,
    user: &str,
    new_text: &str,
    old_text: &str,
) -> Value {
    let event = recorded_event("MessageChangedPayload.json", CHANGED_FIXTURE);
    let client_msg_id = uuid::Uuid::new_v4().to_string();
    let edit_ts = now_ts();
    let edited = Shape::of(
        "MessageChangedPayload.json event.message.edited",
        &event["message"]["edited"],
    )
    .set("user", user)
    .set("ts", edit_ts.as_str())
    .build();
    let message = inner_message(
        "MessageChangedPayload.json event.message",
        &event["message"],
        &client_msg_id,
        ts,
        thread_ts,
        user,
        new_text,
    )
    .set("edited", edited)
    .build();
    let previous = inner_message(
        "MessageChangedPayload.json event.previous_message",
        &event["previous_message"],
        &client_msg_id,
        ts,
        thread_ts,
        user,
        old_text,
    )
    .build();
    Shape::of("MessageChangedPayload.json event", &event)
        .keep("type")
        .keep("subtype")
        .set("channel", channel)
        .set("hidden", true)
        .set("message", message)
        .set("previous_message", previous)
        .set("event_ts", edit_ts.as_str())
        .set("ts", edit_ts.as_str())
        .set("channel_type", "channel")
        .build()
}

/// A person deleted a message, like MessageDeletedPayload.json:
/// `subtype: "message_deleted"`, `hidden: true`, `deleted_ts` and
/// `previous_message`. An empty `thread_ts` means a top-level message.
pub fn message_deleted(
    channel: &str,
    ts: &str,
    thread_ts: &str,
    user: &str,
    old_text: &str,
) -> Value {
    let event = recorded_event("MessageDeletedPayload.json", DELETED_FIXTURE);
    let delete_ts = now_ts();
    let previous = inner_message(
        "MessageDeletedPayload.json event.previous_message",
        &event["previous_message"],
        &uuid::Uuid::new_v4().to_string(),
        ts,
        thread_ts,
        user,
        old_text,
    )
    .build();
    Shape::of("MessageDeletedPayload.json event", &event)
        .keep("type")
        .keep("subtype")
        .set("channel", channel)
        .set("hidden", true)
        .set("deleted_ts", ts)
        .set("previous_message", previous)
        .set("event_ts", delete_ts.as_str())
        .set("ts", delete_ts.as_str())
        .set("channel_type", "channel")
        .build()
}

/// A person added a reaction to one of the bot's messages, like
/// ReactionAddedPayload.json (`item {type "message", channel, ts}`,
/// `item_user` = the bot).
pub fn reaction_added(user: &str, reaction: &str, channel: &str, ts: &str) -> Value {
    let event = recorded_event("ReactionAddedPayload.json", REACTION_FIXTURE);
    let item = Shape::of("ReactionAddedPayload.json event.item", &event["item"])
        .keep("type")
        .set("channel", channel)
        .set("ts", ts)
        .build();
    Shape::of("ReactionAddedPayload.json event", &event)
        .keep("type")
        .set("user", user)
        .set("item", item)
        .set("reaction", reaction)
        .set("item_user", BOT_USER)
        .set("event_ts", now_ts())
        .build()
}

/// A `block_actions` payload for a click on one of the bot's messages,
/// built from BlockActionPayload.json around the given action.
fn block_actions(
    user: &str,
    username: &str,
    channel: &str,
    message_ts: &str,
    action: Value,
) -> Value {
    let recorded = fixture("BlockActionPayload.json", BLOCK_ACTION_FIXTURE);
    let person = Shape::of("BlockActionPayload.json user", &recorded["user"])
        .set("id", user)
        .set("username", username)
        .set("name", username)
        .set("team_id", TEAM)
        .build();
    let container = Shape::of("BlockActionPayload.json container", &recorded["container"])
        .set("type", "message")
        .set("message_ts", message_ts)
        .set("channel_id", channel)
        .set("is_ephemeral", false)
        .build();
    let team = Shape::of("BlockActionPayload.json team", &recorded["team"])
        .set("id", TEAM)
        .set("domain", DOMAIN)
        .build();
    let in_channel = Shape::of("BlockActionPayload.json channel", &recorded["channel"])
        .set("id", channel)
        .set("name", INTERACTION_CHANNEL_NAME)
        .build();
    let message = Shape::of("BlockActionPayload.json message", &recorded["message"])
        .set("type", "message")
        .set("user", BOT_USER)
        .set("bot_id", BOT_ID)
        .set("app_id", APP_ID)
        .set("team", TEAM)
        .set("ts", message_ts)
        // What Slack shows as text for a blocks-only message.
        .set("text", "This content can't be displayed.")
        .set("blocks", json!([]))
        .build();
    let trigger_id = format!(
        "{}.{}.{}",
        now_secs(),
        "6281473712193",
        uuid::Uuid::new_v4().simple()
    );
    Shape::of("BlockActionPayload.json", &recorded)
        .keep("type")
        .set("enterprise", Value::Null)
        .set("team", team)
        .set("user", person)
        .set("api_app_id", APP_ID)
        .set("token", VERIFICATION_TOKEN)
        .set("container", container)
        .set("trigger_id", trigger_id)
        .set("channel", in_channel)
        .set("message", message)
        .set(
            "response_url",
            format!("https://hooks.slack.com/actions/{TEAM}/1/xyz"),
        )
        .set("state", json!({"values": {}}))
        .set("actions", json!([action]))
        .keep("is_enterprise_install")
        .build()
}

/// A click on a button (`block_id` "actions") of one of the bot's
/// messages: a `block_actions` payload with `value`, a `plain_text`
/// label made from the action id, and `action_ts`. The payload's
/// `channel.name` is [`INTERACTION_CHANNEL_NAME`].
pub fn block_action(
    user: &str,
    username: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    value: &str,
) -> Value {
    let recorded = fixture("BlockActionPayload.json", BLOCK_ACTION_FIXTURE);
    let action = Shape::of(
        "BlockActionPayload.json actions[0]",
        &recorded["actions"][0],
    )
    .set("action_id", action_id)
    .set("block_id", "actions")
    .set(
        "text",
        json!({"type": "plain_text", "text": label(action_id), "emoji": true}),
    )
    .set("value", value)
    .set("type", "button")
    .set("action_ts", now_ts())
    .build();
    block_actions(user, username, channel, message_ts, action)
}

/// A choice in a `static_select` (`block_id` "actions") of one of the
/// bot's messages: a `block_actions` payload whose action carries
/// `selected_option {text, value}`.
pub fn select_action(
    user: &str,
    username: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    selected_value: &str,
) -> Value {
    let recorded = fixture("BlockActionPayload.json", BLOCK_ACTION_FIXTURE);
    let action = Shape::of(
        "BlockActionPayload.json actions[0]",
        &recorded["actions"][0],
    )
    .set("type", "static_select")
    .set("action_id", action_id)
    .set("block_id", "actions")
    .set(
        "selected_option",
        json!({
            "text": {"type": "plain_text", "text": label(selected_value), "emoji": true},
            "value": selected_value,
        }),
    )
    .set(
        "placeholder",
        json!({"type": "plain_text", "text": "Choose…", "emoji": true}),
    )
    .set("action_ts", now_ts())
    .build();
    block_actions(user, username, channel, message_ts, action)
}

// ---------------------------------------------------------------------------
// Requests to handoff (test side)
// ---------------------------------------------------------------------------

/// Slack's request signature: `"v0=" + hex(HMAC-SHA256(secret,
/// "v0:{timestamp}:{body}"))`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs an Events API body to `http://{base}/slack/events` the way Slack
/// does: compact JSON, signed with the current time, and with
/// `X-Slack-Retry-Num`/`X-Slack-Retry-Reason: http_timeout` when
/// `retry_num` is given. `base` is "127.0.0.1:PORT".
pub async fn post_event(
    base: &str,
    secret: &str,
    body: &Value,
    retry_num: Option<u32>,
) -> reqwest::Response {
    post_signed(
        base,
        "/slack/events",
        secret,
        now_secs(),
        "application/json",
        body.to_string(),
        retry_num,
    )
    .await
}

/// POSTs an interaction to `http://{base}/slack/interactions` the way
/// Slack does: a form body `payload=<urlencoded compact JSON>`, signed
/// over the exact raw body with the current time.
pub async fn post_interaction(base: &str, secret: &str, payload: &Value) -> reqwest::Response {
    post_signed(
        base,
        "/slack/interactions",
        secret,
        now_secs(),
        "application/x-www-form-urlencoded",
        format!("payload={}", percent_encode(&payload.to_string(), true)),
        None,
    )
    .await
}

/// POSTs `body` to `http://{base}{path}` with Slack's headers, signed
/// with `secret` at `timestamp` (pass a stale one, or a wrong secret, to
/// test refusals). Panics if handoff cannot be reached.
pub async fn post_signed(
    base: &str,
    path: &str,
    secret: &str,
    timestamp: i64,
    content_type: &str,
    body: String,
    retry_num: Option<u32>,
) -> reqwest::Response {
    let url = format!("http://{base}{path}");
    let mut request = reqwest::Client::new()
        .post(&url)
        .header("content-type", content_type)
        .header("user-agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", sign(secret, timestamp, &body));
    if let Some(retry_num) = retry_num {
        request = request
            .header("x-slack-retry-num", retry_num.to_string())
            .header("x-slack-retry-reason", "http_timeout");
    }
    request
        .body(body)
        .send()
        .await
        .unwrap_or_else(|err| panic!("POST {url} failed: {err}"))
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Percent-encodes everything but `A-Z a-z 0-9 - . _ *` (and `~` outside
/// forms). In a form, a space becomes `+`, as browsers and Slack send it.
fn percent_encode(raw: &str, form: bool) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(byte.into()),
            b'*' if form => out.push('*'),
            b'~' if !form => out.push('~'),
            b' ' if form => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// Decodes an `application/x-www-form-urlencoded` string (or a query
/// string) into its pairs. Malformed escapes are kept as written.
fn parse_form(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
        .collect()
}

fn form_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3);
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unpadded base64url, for the opaque tokens Slack puts in payloads.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte))
            << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize].into());
        }
    }
    out
}

/// The first card the bot posted in `channel`, once it is there: its ts,
/// its case id and the message as Slack holds it now.
pub async fn card_in(slack: &SlackDouble, channel: &str) -> (String, String, Value) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = slack.messages().into_iter().find_map(|m| {
            if m["channel"] != channel || !m.get("thread_ts").is_none_or(Value::is_null) {
                return None;
            }
            let case = m["blocks"]
                .as_array()?
                .iter()
                .find_map(|b| b["block_id"].as_str()?.strip_prefix("handoff:"))?
                .to_owned();
            Some((m["ts"].as_str()?.to_owned(), case, m))
        });
        if let Some(found) = found {
            return found;
        }
        assert!(Instant::now() < deadline, "no card was posted in {channel}");
        tokio::time::sleep(POLL).await;
    }
}

/// Every mrkdwn text in a message's blocks plus its text: what Slack parses.
pub fn parsed_texts(message: &Value) -> String {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if m.get("type").and_then(Value::as_str) == Some("mrkdwn")
                    && let Some(t) = m.get("text").and_then(Value::as_str)
                {
                    out.push(t.to_owned());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = vec![message["text"].as_str().unwrap_or_default().to_owned()];
    walk(&message["blocks"], &mut out);
    out.join("\n")
}

/// Waits until the message `ts` in `channel` carries the reaction `name`.
pub async fn until_reaction(slack: &SlackDouble, channel: &str, ts: &str, name: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !slack.reactions_on(channel, ts).iter().any(|r| r == name) {
        assert!(
            Instant::now() < deadline,
            "no :{name}: on {ts} in {channel}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The bot's post in the thread of `card_ts` whose text contains `needle`.
pub async fn thread_post(slack: &SlackDouble, card_ts: &str, needle: &str) -> Call {
    slack
        .wait_for("chat.postMessage", |c| {
            c.args["thread_ts"] == card_ts && c.args["text"].as_str().unwrap_or("").contains(needle)
        })
        .await
}
