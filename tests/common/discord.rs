//! A local Discord for the integration tests: the REST API v10 (under
//! `/api/v10/...`) and the gateway websocket, both served by one axum
//! server on 127.0.0.1, so that handoff's Discord adapter (serenity for the
//! gateway, its own reqwest client for REST) can play a whole story.
//!
//! The double keeps a small world: one guild ([`GUILD`]) with the bot as a
//! member holding its managed role ([`BOT_ROLE`]), text and forum channels,
//! threads, DM channels, users, and every channel's message history as
//! Discord would return it. The test acts as the customers (`say`, `edit`,
//! `delete`, `forum_post`, `click`); each action is stored and, if a bot
//! session is connected, dispatched over the gateway like Discord does.
//! Whatever the bot does over REST is stored too, echoed over the gateway
//! (Discord sends the bot its own MESSAGE_CREATE), and recorded in
//! [`Discord::calls`], refused requests included.
//!
//! The gateway speaks the real protocol in plain-text JSON frames: Hello,
//! Identify -> READY + GUILD_CREATE, heartbeats and their acks, Resume with
//! replay of missed dispatches, Reconnect (op 7) and Invalid Session (op 9)
//! on request, and Discord's close codes for bad tokens (4004) and
//! disallowed intents (4014). Dispatches respect the session's intents, and
//! guild message content is blanked for a session without MESSAGE_CONTENT,
//! as Discord does.
//!
//! The payload shapes follow the examples of discord/discord-api-docs
//! (copied unchanged into `tests/fixtures/discord/`, see the README there)
//! plus the fields today's Discord adds to them (`global_name`, `colors`,
//! `entitlements`, `attachment_size_limit`, ...). Nothing is read from
//! disk at run time; the shapes are built in code below. The double never
//! contacts anything: it only listens on 127.0.0.1.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

/// The bot token. REST wants `Authorization: Bot test-discord-token`; the
/// gateway's Identify and Resume carry it (with or without `Bot `).
pub const TOKEN: &str = "test-discord-token";
/// The bot user's id, which is also the application's id.
pub const BOT_ID: &str = "1085131932938928135";
/// The guild's id (also the id of its `@everyone` role).
pub const GUILD: &str = "1085133008895344642";
/// The bot's managed role in [`GUILD`], created when the bot was invited.
pub const BOT_ROLE: &str = "1085135242848768001";
/// The guild owner (a person, not the bot).
pub const OWNER_ID: &str = "1085130388273233924";
/// The bot's username.
pub const BOT_NAME: &str = "handoff";

/// Permission bits, as in Discord's permission flags.
pub mod perm {
    /// VIEW_CHANNEL
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    /// SEND_MESSAGES
    pub const SEND_MESSAGES: u64 = 1 << 11;
    /// EMBED_LINKS
    pub const EMBED_LINKS: u64 = 1 << 14;
    /// ATTACH_FILES
    pub const ATTACH_FILES: u64 = 1 << 15;
    /// READ_MESSAGE_HISTORY
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    /// CREATE_PUBLIC_THREADS
    pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
    /// SEND_MESSAGES_IN_THREADS
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
}

/// Gateway intent bits, as in Discord's intents list.
pub mod intent {
    /// GUILDS
    pub const GUILDS: u64 = 1;
    /// GUILD_MESSAGES
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    /// DIRECT_MESSAGES
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    /// MESSAGE_CONTENT (privileged)
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
}

/// What the bot's role is granted by the invite.
const BOT_ROLE_PERMISSIONS: u64 = perm::VIEW_CHANNEL
    | perm::SEND_MESSAGES
    | perm::EMBED_LINKS
    | perm::ATTACH_FILES
    | perm::READ_MESSAGE_HISTORY
    | perm::CREATE_PUBLIC_THREADS
    | perm::SEND_MESSAGES_IN_THREADS;
/// `@everyone` in a new server: a normal member's permissions
/// (CREATE_INSTANT_INVITE, ADD_REACTIONS, STREAM, VIEW_CHANNEL,
/// SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES, READ_MESSAGE_HISTORY,
/// USE_EXTERNAL_EMOJIS, CONNECT, SPEAK, USE_VAD, CHANGE_NICKNAME,
/// USE_APPLICATION_COMMANDS, REQUEST_TO_SPEAK, CREATE_PUBLIC_THREADS,
/// CREATE_PRIVATE_THREADS, USE_EXTERNAL_STICKERS, SEND_MESSAGES_IN_THREADS,
/// USE_EMBEDDED_ACTIVITIES).
const EVERYONE_PERMISSIONS: u64 = 1
    | 1 << 6
    | 1 << 9
    | perm::VIEW_CHANNEL
    | perm::SEND_MESSAGES
    | perm::EMBED_LINKS
    | perm::ATTACH_FILES
    | perm::READ_MESSAGE_HISTORY
    | 1 << 18
    | 1 << 20
    | 1 << 21
    | 1 << 25
    | 1 << 26
    | 1 << 31
    | 1 << 32
    | perm::CREATE_PUBLIC_THREADS
    | 1 << 36
    | 1 << 37
    | perm::SEND_MESSAGES_IN_THREADS
    | 1 << 39;
/// What a bot may do in a DM channel.
const DM_PERMISSIONS: u64 =
    perm::VIEW_CHANNEL | perm::SEND_MESSAGES | perm::READ_MESSAGE_HISTORY | perm::EMBED_LINKS;
/// GET /applications/@me `flags` bit for the enabled MESSAGE_CONTENT intent.
const GATEWAY_MESSAGE_CONTENT: u64 = 1 << 18;
/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// How often the waiting helpers look again.
const POLL: Duration = Duration::from_millis(20);
/// How long the waiting helpers wait before panicking.
const PATIENCE: Duration = Duration::from_secs(20);
/// Discord refuses longer message content (50035).
const MAX_CONTENT_CHARS: usize = 2000;
/// Discord refuses longer nonces (50035).
const MAX_NONCE_CHARS: usize = 25;
/// How long `enforce_nonce` remembers a nonce ("the past few minutes").
const NONCE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// The attachment size limit interactions report (10 MiB, no boosts).
const ATTACHMENT_SIZE_LIMIT: u64 = 10 * 1024 * 1024;
/// The valid `auto_archive_duration`s, in minutes.
const ARCHIVE_DURATIONS: [u64; 4] = [60, 1440, 4320, 10080];
/// Discord's default heartbeat interval is 41250 ms; the double's is short
/// so tests exercise heartbeats.
const DEFAULT_HEARTBEAT_MS: u64 = 1000;
/// The `_trace` Discord puts in Hello, READY and RESUMED.
const TRACE: &str = "[\"gateway-prd-us-east1-c-7x2k\",{\"micros\":0.0}]";

const TEXT: u8 = 0;
const DM: u8 = 1;
const PUBLIC_THREAD: u8 = 11;
const FORUM: u8 = 15;

/// A Discord user the double knows (a customer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's snowflake.
    pub id: String,
    /// The unique, lowercase username (`ada_lovelace`).
    pub username: String,
    /// The display name, as given to [`Discord::user`].
    pub global_name: String,
}

/// One REST request as the double received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `POST`, `PATCH`, ...
    pub method: String,
    /// The full path, e.g. `/api/v10/channels/1234/messages`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The JSON body (`Null` when empty; a `String` when not JSON).
    pub body: Value,
    /// The status the double answered with.
    pub status: u16,
}

/// The running double: cheap to clone, every clone sees the same world.
/// The server stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Discord {
    shared: Arc<Shared>,
    _server: Arc<Server>,
}

/// What the server tasks and the test share.
#[derive(Debug)]
struct Shared {
    port: u16,
    state: Mutex<World>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, World> {
        lock(&self.state)
    }
}

/// Stops the server (and the connected gateway socket) when dropped.
#[derive(Debug)]
struct Server {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(conn) = self.shared.state().gateway.attached.take() {
            let _ = conn.tx.send(Out::Abort);
        }
    }
}

/// A test that panicked while holding the lock must not turn every later
/// assertion into a confusing PoisonError.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Polls `check` every 20 ms until it returns `Some`; panics with `what`
/// after 20 s. Uses real time, so it also works with paused tokio time.
pub async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?}: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------
// Test-side API
// ---------------------------------------------------------------------------

impl Discord {
    /// Starts the double on 127.0.0.1 with an OS-chosen port.
    pub async fn start() -> Discord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the Discord double");
        let port = listener
            .local_addr()
            .expect("the Discord double's listener has an address")
            .port();
        let shared = Arc::new(Shared {
            port,
            state: Mutex::new(World::new(port)),
        });
        let app = Router::new()
            .route("/", get(gateway_upgrade))
            .fallback(rest)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the Discord double's server stopped");
        });
        Discord {
            _server: Arc::new(Server {
                shared: Arc::clone(&shared),
                task,
            }),
            shared,
        }
    }

    fn state(&self) -> MutexGuard<'_, World> {
        self.shared.state()
    }

    /// `http://127.0.0.1:PORT`: handoff's `discord.api_url` (REST lives
    /// under `/api/v10`, the gateway at `/`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.shared.port)
    }

    /// `ws://127.0.0.1:PORT`: what GET /gateway hands out.
    pub fn gateway_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.shared.port)
    }

    // ----- world set-up -----

    /// A new user (a customer) named `name`: `global_name` is `name`, the
    /// username its lowercase form (`Ada Lovelace` -> `ada_lovelace`).
    pub fn user(&self, name: &str) -> User {
        self.state().add_user(name)
    }

    /// The DM channel (type 1) between the bot and `user`, created on
    /// first use; the same id as POST /users/@me/channels returns.
    pub fn dm_channel(&self, user: &User) -> String {
        self.state().dm_channel_for(&user.id)
    }

    /// A new guild text channel (type 0). The name is normalised as
    /// Discord does (lowercase, spaces to dashes).
    pub fn text_channel(&self, name: &str) -> String {
        self.state().add_guild_channel(TEXT, name)
    }

    /// A new guild forum channel (type 15).
    pub fn forum_channel(&self, name: &str) -> String {
        self.state().add_guild_channel(FORUM, name)
    }

    /// Adds a permission overwrite on `channel` denying `bits` (see
    /// [`perm`]) to [`BOT_ROLE`]. Threads have no overwrites of their own
    /// (they use their parent's), so `channel` must not be a thread. Sends
    /// CHANNEL_UPDATE.
    pub fn deny(&self, channel: &str, bits: u64) {
        self.state().deny(channel, bits);
    }

    /// From now on, the bot's messages to `user`'s DM channel fail with
    /// 403 / 50007 "Cannot send messages to this user".
    pub fn close_dms(&self, user: &User) {
        self.state().closed_dms.insert(user.id.clone());
    }

    /// Whether the application has the MESSAGE_CONTENT intent enabled
    /// (default true). GET /applications/@me reports it in `flags`; an
    /// Identify asking for it while disabled is closed with 4014.
    pub fn set_message_content_intent(&self, enabled: bool) {
        self.state().message_content_intent = enabled;
    }

    /// The heartbeat interval sent in later Hellos (default 1000 ms).
    pub fn set_heartbeat_interval(&self, ms: u64) {
        self.state().gateway.heartbeat_interval = ms;
    }

    /// `user` opens their DMs to the bot again.
    pub fn reopen_dms(&self, user: &User) {
        self.state().closed_dms.remove(&user.id);
    }

    /// While `on`, what customers do is kept in the channels' history but
    /// never dispatched: a gateway outage longer than Discord keeps a
    /// session resumable. Only reading history finds those messages.
    pub fn lose_events(&self, on: bool) {
        self.state().losing_events = on;
    }

    // ----- scripted failures -----

    /// The next REST request whose path contains `path_contains` gets a
    /// 429 with `retry_after` (seconds) in the body, `Retry-After` (whole
    /// seconds, rounded up) and `X-RateLimit-Scope: user`.
    pub fn rate_limit_next(&self, path_contains: &str, retry_after: f64) {
        self.state().scripts.push(Script {
            path_contains: path_contains.to_owned(),
            reply: Reply::rate_limited(retry_after),
        });
    }

    /// The next REST request whose path contains `path_contains` gets
    /// `status` with `{"message": message, "code": code}`.
    pub fn fail_next(&self, path_contains: &str, status: u16, code: u64, message: &str) {
        let status = StatusCode::from_u16(status).expect("fail_next: a valid HTTP status");
        self.state().scripts.push(Script {
            path_contains: path_contains.to_owned(),
            reply: Reply::error(status, code, message),
        });
    }

    // ----- customer actions -----

    /// `user` writes `text` in `channel`; returns the message id.
    pub fn say(&self, channel: &str, user: &User, text: &str) -> String {
        self.say_with(channel, user, text, &[], None)
    }

    /// `user` writes `text` in `channel` with attachments
    /// `(filename, url)` and, optionally, as a reply to message `reply_to`.
    pub fn say_with(
        &self,
        channel: &str,
        user: &User,
        text: &str,
        attachments: &[(&str, &str)],
        reply_to: Option<&str>,
    ) -> String {
        self.state()
            .customer_says(channel, user, text, attachments, reply_to)
    }

    /// The author edits message `message_id` to `text` (MESSAGE_UPDATE).
    pub fn edit(&self, channel: &str, message_id: &str, text: &str) {
        self.state().customer_edits(channel, message_id, text);
    }

    /// The author deletes message `message_id` (MESSAGE_DELETE).
    pub fn delete(&self, channel: &str, message_id: &str) {
        self.state().remove_message(channel, message_id);
    }

    /// `user` posts in `forum`: a thread (type 11, parent `forum`) named
    /// `title` whose starter message says `text`. Sends THREAD_CREATE then
    /// MESSAGE_CREATE. Returns the thread id, which is also the starter
    /// message's id.
    pub fn forum_post(&self, forum: &str, user: &User, title: &str, text: &str) -> String {
        self.state().forum_post(forum, user, title, text)
    }

    /// `user` clicks the button `custom_id` on the bot's message
    /// `message_id`; sends INTERACTION_CREATE and returns the interaction id.
    pub fn click(&self, channel: &str, message_id: &str, user: &User, custom_id: &str) -> String {
        self.state().click(channel, message_id, user, custom_id)
    }

    // ----- gateway control -----

    /// Sends Reconnect (op 7) to the connected session; it stays
    /// resumable. Panics when no session is connected.
    pub fn reconnect(&self) {
        let mut state = self.state();
        state.gateway.expect_ready_again();
        state
            .gateway
            .send_attached(json!({"op": 7, "d": null}), "reconnect");
    }

    /// Sends Invalid Session (op 9, `d: false`) and forgets the session:
    /// the client must Identify again. Panics when none is connected.
    pub fn invalidate(&self) {
        let mut state = self.state();
        state.gateway.expect_ready_again();
        state
            .gateway
            .send_attached(json!({"op": 9, "d": false}), "invalidate");
        state.gateway.session = None;
        state.gateway.attached = None;
    }

    /// Closes the connected socket abruptly (no close frame). The session
    /// stays resumable; events until the Resume are buffered.
    pub fn drop_connection(&self) {
        let mut state = self.state();
        state.gateway.expect_ready_again();
        let conn = state
            .gateway
            .attached
            .take()
            .expect("drop_connection: no gateway session is connected");
        let _ = conn.tx.send(Out::Abort);
    }

    /// Waits (20 s at most) until a session has been sent READY or RESUMED
    /// since the last call, or since the last `reconnect`, `invalidate` or
    /// `drop_connection`: "connected (again)".
    pub async fn until_ready(&self) {
        let what = "a gateway session to receive READY or RESUMED";
        wait_for(what, || {
            let mut state = self.state();
            let gateway = &mut state.gateway;
            (gateway.readies > gateway.readies_seen).then(|| gateway.readies_seen = gateway.readies)
        })
        .await;
    }

    /// How many Identify payloads arrived.
    pub fn identifies(&self) -> u64 {
        self.state().gateway.identifies
    }

    /// How many Resume payloads arrived.
    pub fn resumes(&self) -> u64 {
        self.state().gateway.resumes
    }

    /// How many heartbeats arrived (each was acked).
    pub fn heartbeats(&self) -> u64 {
        self.state().gateway.heartbeats
    }

    /// The intents of the last Identify.
    pub fn intents(&self) -> Option<u64> {
        self.state().gateway.intents
    }

    /// Whether a gateway session is connected right now.
    pub fn connected(&self) -> bool {
        self.state().gateway.attached.is_some()
    }

    // ----- inspection -----

    /// Every REST request so far, in arrival order, refused ones included.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Waits for the first REST call that satisfies `pred`.
    pub async fn wait_for_call(&self, what: &str, pred: impl Fn(&Call) -> bool) -> Call {
        wait_for(what, || {
            self.state().calls.iter().find(|c| pred(c)).cloned()
        })
        .await
    }

    /// The channel's messages, oldest first, as GET messages shows them
    /// (the bot's included).
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        self.state()
            .history(channel)
            .iter()
            .map(|stored| stored.message.clone())
            .collect()
    }

    /// Only the bot's messages in `channel`, oldest first.
    pub fn bot_messages(&self, channel: &str) -> Vec<Value> {
        self.messages(channel)
            .into_iter()
            .filter(|m| m["author"]["id"] == BOT_ID)
            .collect()
    }

    /// One message as Discord would return it now.
    pub fn message(&self, channel: &str, message_id: &str) -> Option<Value> {
        self.state()
            .find_message(channel, message_id)
            .map(|stored| stored.message.clone())
    }

    /// A channel object as GET /channels/{id} returns it.
    pub fn channel(&self, id: &str) -> Option<Value> {
        let state = self.state();
        state.channel(id).ok().map(|c| state.channel_json(c))
    }

    /// Every thread (channel objects), in creation order.
    pub fn threads(&self) -> Vec<Value> {
        let state = self.state();
        state
            .channels
            .iter()
            .filter(|c| c.kind == PUBLIC_THREAD)
            .map(|c| state.channel_json(c))
            .collect()
    }

    /// The token INTERACTION_CREATE carried for interaction `id`.
    pub fn interaction_token(&self, id: &str) -> String {
        self.state()
            .interactions
            .get(id)
            .unwrap_or_else(|| panic!("interaction_token: unknown interaction {id}"))
            .token
            .clone()
    }

    /// Every accepted interaction callback: (interaction id, body).
    pub fn interaction_responses(&self) -> Vec<(String, Value)> {
        self.state().interaction_responses.clone()
    }
}

// ---------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------

/// Everything the double knows, behind one lock.
#[derive(Debug)]
struct World {
    port: u16,
    last_id: u64,
    users: Vec<User>,
    channels: Vec<Channel>,
    /// channel id -> messages, oldest first.
    messages: HashMap<String, Vec<Stored>>,
    closed_dms: HashSet<String>,
    /// While set, events are kept in history but never reach the bot.
    losing_events: bool,
    message_content_intent: bool,
    scripts: Vec<Script>,
    calls: Vec<Call>,
    interactions: HashMap<String, Interaction>,
    interaction_responses: Vec<(String, Value)>,
    /// When the bot joined the guild.
    bot_joined: String,
    gateway: Gateway,
}

#[derive(Debug, Clone)]
struct Channel {
    id: String,
    kind: u8,
    name: String,
    position: usize,
    parent_id: Option<String>,
    owner_id: Option<String>,
    /// The other end of a DM channel.
    recipient: Option<User>,
    /// Bits denied to BOT_ROLE by an overwrite.
    deny: u64,
    auto_archive_duration: u64,
    created: String,
    /// Messages ever sent (threads' `total_message_sent`).
    sent: u64,
    last_message_id: Option<String>,
}

impl Channel {
    fn in_guild(&self) -> bool {
        self.kind != DM
    }
}

#[derive(Debug, Clone)]
struct Stored {
    message: Value,
    at: Instant,
}

#[derive(Debug)]
struct Script {
    path_contains: String,
    reply: Reply,
}

#[derive(Debug)]
struct Interaction {
    token: String,
    channel: String,
    message_id: String,
    acknowledged: bool,
}

impl World {
    fn new(port: u16) -> World {
        World {
            port,
            last_id: 0,
            users: Vec::new(),
            channels: Vec::new(),
            messages: HashMap::new(),
            closed_dms: HashSet::new(),
            losing_events: false,
            message_content_intent: true,
            scripts: Vec::new(),
            calls: Vec::new(),
            interactions: HashMap::new(),
            interaction_responses: Vec::new(),
            bot_joined: timestamp_of(BOT_ROLE),
            gateway: Gateway::new(),
        }
    }

    /// A fresh snowflake: ((ms since 2015) << 22) | worker/process/counter,
    /// strictly increasing so numeric order is creation order.
    fn snowflake(&mut self) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_millis() as u64;
        let candidate = ((now_ms - DISCORD_EPOCH_MS) << 22) | (1 << 17);
        self.last_id = candidate.max(self.last_id + 1);
        self.last_id.to_string()
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    // ----- users and channels -----

    fn add_user(&mut self, name: &str) -> User {
        let base: String = name
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut username = base.clone();
        let mut n = 1;
        while username == BOT_NAME || self.users.iter().any(|u| u.username == username) {
            n += 1;
            username = format!("{base}{n}");
        }
        let user = User {
            id: self.snowflake(),
            username,
            global_name: name.to_owned(),
        };
        self.users.push(user.clone());
        user
    }

    fn user_by_id(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn dm_channel_for(&mut self, user_id: &str) -> String {
        if let Some(c) = self
            .channels
            .iter()
            .find(|c| c.kind == DM && c.recipient.as_ref().is_some_and(|r| r.id == user_id))
        {
            return c.id.clone();
        }
        let recipient = self
            .user_by_id(user_id)
            .cloned()
            .unwrap_or_else(|| panic!("dm_channel: unknown user {user_id}"));
        let id = self.snowflake();
        self.channels.push(Channel {
            id: id.clone(),
            kind: DM,
            name: String::new(),
            position: 0,
            parent_id: None,
            owner_id: None,
            recipient: Some(recipient),
            deny: 0,
            auto_archive_duration: 0,
            created: timestamp_of(&id),
            sent: 0,
            last_message_id: None,
        });
        id
    }

    fn add_guild_channel(&mut self, kind: u8, name: &str) -> String {
        let id = self.snowflake();
        let position = self
            .channels
            .iter()
            .filter(|c| matches!(c.kind, TEXT | FORUM))
            .count();
        self.channels.push(Channel {
            id: id.clone(),
            kind,
            name: name.trim().to_lowercase().replace(char::is_whitespace, "-"),
            position,
            parent_id: None,
            owner_id: None,
            recipient: None,
            deny: 0,
            auto_archive_duration: 4320,
            created: timestamp_of(&id),
            sent: 0,
            last_message_id: None,
        });
        let created = self.channel_json(self.channels.last().expect("just pushed"));
        self.dispatch("CHANNEL_CREATE", created);
        id
    }

    fn deny(&mut self, channel: &str, bits: u64) {
        let ch = self.channel_mut(channel, "deny");
        assert!(ch.in_guild(), "deny: {channel} is a DM channel");
        assert!(
            ch.kind != PUBLIC_THREAD,
            "deny: {channel} is a thread; threads take their parent's overwrites, deny on the parent"
        );
        ch.deny |= bits;
        let updated = self.channel_json(self.channel(channel).expect("exists"));
        self.dispatch("CHANNEL_UPDATE", updated);
    }

    fn channel(&self, id: &str) -> Result<&Channel, Reply> {
        self.channels
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Reply::error(StatusCode::NOT_FOUND, 10003, "Unknown Channel"))
    }

    fn channel_mut(&mut self, id: &str, who: &str) -> &mut Channel {
        self.channels
            .iter_mut()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("{who}: unknown channel {id}"))
    }

    fn history(&self, channel: &str) -> &[Stored] {
        self.messages.get(channel).map_or(&[], Vec::as_slice)
    }

    fn find_message(&self, channel: &str, id: &str) -> Option<&Stored> {
        self.history(channel).iter().find(|s| s.message["id"] == id)
    }

    fn find_message_mut(&mut self, channel: &str, id: &str) -> Option<&mut Stored> {
        self.messages
            .get_mut(channel)?
            .iter_mut()
            .find(|s| s.message["id"] == id)
    }

    /// The bot's permissions in `ch`: guild roles, then the channel's (or,
    /// for a thread, its parent's) overwrite for BOT_ROLE.
    fn bot_permissions(&self, ch: &Channel) -> u64 {
        if !ch.in_guild() {
            return DM_PERMISSIONS;
        }
        let deny = match &ch.parent_id {
            Some(parent) => self.channel(parent).map_or(0, |p| p.deny),
            None => ch.deny,
        };
        (EVERYONE_PERMISSIONS | BOT_ROLE_PERMISSIONS) & !deny
    }

    /// 50001 without VIEW_CHANNEL, else 50013 without `bit`.
    fn require(&self, ch: &Channel, bit: u64) -> Result<(), Reply> {
        let granted = self.bot_permissions(ch);
        if granted & perm::VIEW_CHANNEL == 0 {
            return Err(Reply::error(StatusCode::FORBIDDEN, 50001, "Missing Access"));
        }
        if granted & bit == 0 {
            return Err(Reply::error(
                StatusCode::FORBIDDEN,
                50013,
                "Missing Permissions",
            ));
        }
        Ok(())
    }

    // ----- JSON shapes -----

    fn channel_json(&self, ch: &Channel) -> Value {
        match ch.kind {
            DM => json!({
                "id": ch.id,
                "type": DM,
                "last_message_id": ch.last_message_id,
                "flags": 0,
                "recipients": [user_json(ch.recipient.as_ref().expect("a DM has a recipient"))],
            }),
            PUBLIC_THREAD => self.thread_json(ch),
            _ => {
                let mut channel = json!({
                    "id": ch.id,
                    "type": ch.kind,
                    "guild_id": GUILD,
                    "name": ch.name,
                    "parent_id": null,
                    "position": ch.position,
                    "permission_overwrites": overwrites(ch.deny),
                    "topic": null,
                    "nsfw": false,
                    "last_message_id": ch.last_message_id,
                    "rate_limit_per_user": 0,
                    "flags": 0,
                });
                if ch.kind == FORUM {
                    let extra = json!({
                        "available_tags": [],
                        "default_reaction_emoji": null,
                        "default_thread_rate_limit_per_user": 0,
                        "default_sort_order": null,
                        "default_forum_layout": 0,
                        "template": "",
                    });
                    merge(&mut channel, extra);
                }
                channel
            }
        }
    }

    fn thread_json(&self, ch: &Channel) -> Value {
        let count = self.history(&ch.id).len();
        let parent_is_forum = ch
            .parent_id
            .as_deref()
            .and_then(|p| self.channel(p).ok())
            .is_some_and(|p| p.kind == FORUM);
        let mut thread = json!({
            "id": ch.id,
            "type": PUBLIC_THREAD,
            "guild_id": GUILD,
            "parent_id": ch.parent_id,
            "owner_id": ch.owner_id,
            "name": ch.name,
            "last_message_id": ch.last_message_id,
            "message_count": count,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "total_message_sent": ch.sent,
            "thread_metadata": {
                "archived": false,
                "auto_archive_duration": ch.auto_archive_duration,
                "archive_timestamp": ch.created,
                "locked": false,
                "create_timestamp": ch.created,
            },
        });
        if parent_is_forum {
            thread["applied_tags"] = json!([]);
        }
        thread
    }

    /// The guild as GUILD_CREATE carries it.
    fn guild_create_json(&self) -> Value {
        let channels: Vec<Value> = self
            .channels
            .iter()
            .filter(|c| matches!(c.kind, TEXT | FORUM))
            .map(|c| {
                let mut channel = self.channel_json(c);
                // GUILD_CREATE's channels carry no guild_id.
                channel.as_object_mut().expect("object").remove("guild_id");
                channel
            })
            .collect();
        let threads: Vec<Value> = self
            .channels
            .iter()
            .filter(|c| c.kind == PUBLIC_THREAD)
            .map(|c| self.thread_json(c))
            .collect();
        let system_channel = self
            .channels
            .iter()
            .find(|c| c.kind == TEXT)
            .map(|c| c.id.clone());
        let mut guild = guild_json(system_channel);
        merge(
            &mut guild,
            json!({
                "joined_at": self.bot_joined,
                "large": false,
                "unavailable": false,
                "member_count": self.users.len() + 2,
                "voice_states": [],
                "members": [self.bot_member_json()],
                "channels": channels,
                "threads": threads,
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "embedded_activities": [],
                "activity_instances": [],
                "application_command_counts": {},
                "lazy": true,
            }),
        );
        guild
    }

    fn bot_member_json(&self) -> Value {
        let mut member = partial_member_json(&self.bot_joined, &[BOT_ROLE]);
        member["user"] = bot_user_json();
        member
    }

    fn member_json(&self, user: &User) -> Value {
        let mut member = partial_member_json(&timestamp_of(&user.id), &[]);
        member["user"] = user_json(user);
        member
    }

    /// A message as REST returns it (no guild_id, no member).
    fn message_json(&self, id: &str, channel: &str, author: Value, content: &str) -> Value {
        json!({
            "type": 0,
            "content": content,
            "mentions": self.mentions_in(content, None),
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "timestamp": timestamp_of(id),
            "edited_timestamp": null,
            "flags": 0,
            "components": [],
            "id": id,
            "channel_id": channel,
            "author": author,
            "pinned": false,
            "mention_everyone": false,
            "tts": false,
        })
    }

    /// The known users `<@id>`-mentioned in `content` (the bot included),
    /// filtered by `allowed_mentions` when given.
    fn mentions_in(&self, content: &str, allowed: Option<&Value>) -> Vec<Value> {
        let allowed_user = |id: &str| match allowed {
            None => true,
            Some(allowed) => {
                let parse = allowed["parse"].as_array();
                parse.is_some_and(|p| p.iter().any(|v| v == "users"))
                    || allowed["users"]
                        .as_array()
                        .is_some_and(|u| u.iter().any(|v| v == id))
            }
        };
        let mut found = Vec::new();
        if content.contains(&format!("<@{BOT_ID}>")) && allowed_user(BOT_ID) {
            found.push(bot_user_json());
        }
        for user in &self.users {
            let tag = format!("<@{}>", user.id);
            let nick_tag = format!("<@!{}>", user.id);
            if (content.contains(&tag) || content.contains(&nick_tag)) && allowed_user(&user.id) {
                found.push(user_json(user));
            }
        }
        found
    }

    /// The MESSAGE_CREATE/UPDATE form of a stored message: guild messages
    /// gain guild_id and the author's partial member.
    fn gateway_message(&self, ch: &Channel, message: &Value) -> Value {
        let mut event = message.clone();
        if ch.in_guild() {
            let author = message["author"]["id"].as_str().unwrap_or_default();
            let member = if author == BOT_ID {
                partial_member_json(&self.bot_joined, &[BOT_ROLE])
            } else {
                partial_member_json(&timestamp_of(author), &[])
            };
            event["guild_id"] = json!(GUILD);
            event["member"] = member;
        }
        event
    }

    // ----- storing and dispatching messages -----

    /// Stores a new message in `channel` and dispatches MESSAGE_CREATE.
    fn post(&mut self, channel: &str, mut message: Value) -> Value {
        let id = message["id"]
            .as_str()
            .expect("a message has an id")
            .to_owned();
        let ch = self.channel_mut(channel, "post");
        if ch.kind == PUBLIC_THREAD {
            message["position"] = json!(ch.sent);
        }
        ch.sent += 1;
        ch.last_message_id = Some(id);
        let ch = ch.clone();
        self.messages
            .entry(channel.to_owned())
            .or_default()
            .push(Stored {
                message: message.clone(),
                at: Instant::now(),
            });
        let event = self.gateway_message(&ch, &message);
        self.dispatch("MESSAGE_CREATE", event);
        message
    }

    fn customer_says(
        &mut self,
        channel: &str,
        user: &User,
        text: &str,
        attachments: &[(&str, &str)],
        reply_to: Option<&str>,
    ) -> String {
        let ch = self
            .channel(channel)
            .unwrap_or_else(|_| panic!("say: unknown channel {channel}"));
        assert!(
            ch.kind != FORUM,
            "say: {channel} is a forum channel; use forum_post"
        );
        if let Some(recipient) = &ch.recipient {
            assert_eq!(
                recipient.id, user.id,
                "say: {channel} is another user's DM channel"
            );
        }
        let id = self.snowflake();
        let mut message = self.message_json(&id, channel, user_json(user), text);
        let files: Vec<Value> = attachments
            .iter()
            .map(|(filename, url)| {
                let attachment_id = self.snowflake();
                attachment_json(&attachment_id, filename, url)
            })
            .collect();
        message["attachments"] = json!(files);
        if let Some(target) = reply_to {
            let referenced = self
                .find_message(channel, target)
                .unwrap_or_else(|| panic!("say_with: no message {target} in {channel}"))
                .message
                .clone();
            set_reply(
                &mut message,
                channel,
                self.channel(channel).expect("exists"),
                referenced,
            );
        }
        self.post(channel, message);
        id
    }

    fn customer_edits(&mut self, channel: &str, message_id: &str, text: &str) {
        let mentions = self.mentions_in(text, None);
        let stored = self
            .find_message_mut(channel, message_id)
            .unwrap_or_else(|| panic!("edit: no message {message_id} in {channel}"));
        stored.message["content"] = json!(text);
        stored.message["mentions"] = json!(mentions);
        stored.message["edited_timestamp"] = json!(now_timestamp());
        let message = stored.message.clone();
        self.dispatch_update(channel, &message);
    }

    fn dispatch_update(&mut self, channel: &str, message: &Value) {
        let ch = self.channel(channel).expect("the channel exists").clone();
        let event = self.gateway_message(&ch, message);
        self.dispatch("MESSAGE_UPDATE", event);
    }

    fn remove_message(&mut self, channel: &str, message_id: &str) {
        let history = self.messages.entry(channel.to_owned()).or_default();
        let before = history.len();
        history.retain(|s| s.message["id"] != message_id);
        assert!(
            history.len() < before,
            "delete: no message {message_id} in {channel}"
        );
        let in_guild = self.channel(channel).is_ok_and(Channel::in_guild);
        let mut event = json!({"id": message_id, "channel_id": channel});
        if in_guild {
            event["guild_id"] = json!(GUILD);
        }
        self.dispatch("MESSAGE_DELETE", event);
    }

    fn forum_post(&mut self, forum: &str, user: &User, title: &str, text: &str) -> String {
        let parent = self
            .channel(forum)
            .unwrap_or_else(|_| panic!("forum_post: unknown channel {forum}"));
        assert_eq!(
            parent.kind, FORUM,
            "forum_post: {forum} is not a forum channel"
        );
        let id = self.snowflake();
        self.channels.push(Channel {
            id: id.clone(),
            kind: PUBLIC_THREAD,
            name: title.to_owned(),
            position: 0,
            parent_id: Some(forum.to_owned()),
            owner_id: Some(user.id.clone()),
            recipient: None,
            deny: 0,
            auto_archive_duration: 4320,
            created: timestamp_of(&id),
            sent: 0,
            last_message_id: None,
        });
        self.channel_mut(forum, "forum_post").last_message_id = Some(id.clone());
        let mut created = self.thread_json(self.channel(&id).expect("just pushed"));
        created["newly_created"] = json!(true);
        self.dispatch("THREAD_CREATE", created);
        let starter = self.message_json(&id, &id, user_json(user), text);
        self.post(&id, starter);
        id
    }

    fn click(&mut self, channel: &str, message_id: &str, user: &User, custom_id: &str) -> String {
        let ch = self
            .channel(channel)
            .unwrap_or_else(|_| panic!("click: unknown channel {channel}"))
            .clone();
        let message = self
            .find_message(channel, message_id)
            .unwrap_or_else(|| panic!("click: no message {message_id} in {channel}"))
            .message
            .clone();
        let component = find_component(&message["components"], custom_id).unwrap_or_else(|| {
            panic!("click: message {message_id} has no component {custom_id:?}: {message}")
        });
        let id = self.snowflake();
        let token = interaction_token(&id);
        let mut data = json!({"custom_id": custom_id, "component_type": component["type"]});
        if let Some(component_id) = component.get("id") {
            data["id"] = component_id.clone();
        }
        let bot_permissions = self.bot_permissions(&ch).to_string();
        let mut interaction = json!({
            "id": id,
            "application_id": BOT_ID,
            "type": 3,
            "data": data,
            "channel": self.channel_json(&ch),
            "channel_id": channel,
            "token": token,
            "version": 1,
            "message": message,
            "app_permissions": bot_permissions,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        });
        if ch.in_guild() {
            let mut member = self.member_json(user);
            member["permissions"] = json!(EVERYONE_PERMISSIONS.to_string());
            merge(
                &mut interaction,
                json!({
                    "guild_id": GUILD,
                    "guild": {"id": GUILD, "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": member,
                    "context": 0,
                    "authorizing_integration_owners": {"0": GUILD},
                }),
            );
        } else {
            merge(
                &mut interaction,
                json!({
                    "user": user_json(user),
                    "context": 1,
                    "authorizing_integration_owners": {"0": "0"},
                }),
            );
        }
        self.interactions.insert(
            id.clone(),
            Interaction {
                token,
                channel: channel.to_owned(),
                message_id: message_id.to_owned(),
                acknowledged: false,
            },
        );
        self.dispatch("INTERACTION_CREATE", interaction);
        id
    }

    // ----- the gateway side of the world -----

    /// Sends a dispatch to the current session (buffering it while the
    /// session is disconnected but resumable), if its intents want it.
    fn dispatch(&mut self, event: &str, mut data: Value) {
        if self.losing_events {
            return;
        }
        let Some(session) = &self.gateway.session else {
            return;
        };
        let intents = session.intents;
        let in_guild = data.get("guild_id").is_some();
        let needed = match event {
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" if in_guild => {
                intent::GUILD_MESSAGES
            }
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" => intent::DIRECT_MESSAGES,
            "THREAD_CREATE" | "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "GUILD_CREATE" => {
                intent::GUILDS
            }
            _ => 0,
        };
        if intents & needed != needed {
            return;
        }
        if matches!(event, "MESSAGE_CREATE" | "MESSAGE_UPDATE") && in_guild {
            hide_content_without_intent(&mut data, intents);
        }
        self.gateway.dispatch(event, data);
    }
}

/// Discord's rule: without MESSAGE_CONTENT, guild messages from others
/// reach the bot with empty content, embeds, attachments and components,
/// unless they mention the bot.
fn hide_content_without_intent(message: &mut Value, intents: u64) {
    if intents & intent::MESSAGE_CONTENT != 0 || message["author"]["id"] == BOT_ID {
        return;
    }
    let mentions_bot = message["mentions"]
        .as_array()
        .is_some_and(|m| m.iter().any(|u| u["id"] == BOT_ID));
    if !mentions_bot {
        message["content"] = json!("");
        message["embeds"] = json!([]);
        message["attachments"] = json!([]);
        message["components"] = json!([]);
    }
}

/// Turns `message` into a reply (type 19) to `referenced`.
fn set_reply(message: &mut Value, channel: &str, ch: &Channel, referenced: Value) {
    let mut reference = json!({
        "type": 0,
        "channel_id": channel,
        "message_id": referenced["id"],
    });
    if ch.in_guild() {
        reference["guild_id"] = json!(GUILD);
    }
    message["type"] = json!(19);
    message["message_reference"] = reference;
    message["referenced_message"] = referenced;
}

/// The component with `custom_id` among `components`, searched depth first.
fn find_component<'a>(components: &'a Value, custom_id: &str) -> Option<&'a Value> {
    components.as_array()?.iter().find_map(|c| {
        if c["custom_id"] == custom_id {
            Some(c)
        } else {
            find_component(&c["components"], custom_id)
        }
    })
}

/// Numbers components depth first from 1 where they lack an `id`, as
/// Discord does when it stores a message.
fn number_components(components: &mut Value, next: &mut u64) {
    let Some(list) = components.as_array_mut() else {
        return;
    };
    for component in list {
        if let Some(object) = component.as_object_mut() {
            object.entry("id").or_insert_with(|| json!(*next));
            *next += 1;
        }
        number_components(&mut component["components"], next);
    }
}

fn overwrites(deny: u64) -> Value {
    if deny == 0 {
        return json!([]);
    }
    json!([{"id": BOT_ROLE, "type": 0, "allow": "0", "deny": deny.to_string()}])
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "avatar": null,
        "discriminator": "0",
        "public_flags": 0,
        "flags": 0,
        "banner": null,
        "accent_color": null,
        "global_name": user.global_name,
        "avatar_decoration_data": null,
        "collectibles": null,
        "banner_color": null,
        "clan": null,
        "primary_guild": null,
    })
}

fn bot_user_json() -> Value {
    json!({
        "id": BOT_ID,
        "username": BOT_NAME,
        "avatar": null,
        "discriminator": "7391",
        "public_flags": 0,
        "flags": 0,
        "bot": true,
        "banner": null,
        "accent_color": null,
        "global_name": null,
        "avatar_decoration_data": null,
        "collectibles": null,
        "banner_color": null,
        "clan": null,
        "primary_guild": null,
    })
}

/// GET /users/@me: the bot user with the current user's extra fields.
fn current_user_json() -> Value {
    let mut user = bot_user_json();
    merge(
        &mut user,
        json!({"mfa_enabled": false, "locale": "en-US", "premium_type": 0,
               "email": null, "verified": true, "bio": ""}),
    );
    user
}

fn partial_member_json(joined_at: &str, roles: &[&str]) -> Value {
    json!({
        "avatar": null,
        "banner": null,
        "communication_disabled_until": null,
        "deaf": false,
        "flags": 0,
        "joined_at": joined_at,
        "mute": false,
        "nick": null,
        "pending": false,
        "premium_since": null,
        "roles": roles,
        "unusual_dm_activity_until": null,
    })
}

fn role_json(id: &str, name: &str, permissions: u64, position: u64, managed: bool) -> Value {
    let mut role = json!({
        "id": id,
        "name": name,
        "description": null,
        "permissions": permissions.to_string(),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "managed": managed,
        "mentionable": false,
        "icon": null,
        "unicode_emoji": null,
        "flags": 0,
    });
    if managed {
        role["tags"] = json!({"bot_id": BOT_ID});
    }
    role
}

fn roles_json() -> Value {
    json!([
        role_json(GUILD, "@everyone", EVERYONE_PERMISSIONS, 0, false),
        role_json(BOT_ROLE, BOT_NAME, BOT_ROLE_PERMISSIONS, 1, true),
    ])
}

/// The guild object as GET /guilds/{id} returns it.
fn guild_json(system_channel: Option<String>) -> Value {
    json!({
        "id": GUILD,
        "name": "Handoff Support",
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": OWNER_ID,
        "afk_channel_id": null,
        "afk_timeout": 300,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "roles": roles_json(),
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": system_channel,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "nsfw": false,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
        "incidents_data": null,
        "hub_type": null,
        "region": "deprecated",
    })
}

fn application_json(message_content: bool) -> Value {
    json!({
        "id": BOT_ID,
        "name": BOT_NAME,
        "icon": null,
        "description": "Hands customer conversations to a support team.",
        "summary": "",
        "type": null,
        "bot": bot_user_json(),
        "is_monetized": false,
        "is_verified": false,
        "is_discoverable": false,
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "9f4a1c2e7b3d5f60818a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e",
        "flags": if message_content { GATEWAY_MESSAGE_CONTENT } else { 0 },
        "hook": true,
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "owner": {"id": OWNER_ID, "username": "owner", "avatar": null, "discriminator": "0",
                  "public_flags": 0, "flags": 0, "global_name": "Owner"},
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "team": null,
        "integration_types_config": {"0": {}},
    })
}

fn attachment_json(id: &str, filename: &str, url: &str) -> Value {
    let ext = filename
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let content_type = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    };
    let mut attachment = json!({
        "id": id,
        "filename": filename,
        "size": 48_213,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    });
    if content_type.starts_with("image/") {
        attachment["width"] = json!(1280);
        attachment["height"] = json!(720);
    }
    attachment
}

/// Copies `extra`'s fields into `target` (both objects).
fn merge(target: &mut Value, extra: Value) {
    let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) else {
        panic!("merge: both values must be JSON objects");
    };
    target.extend(extra);
}

fn discord_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

fn now_timestamp() -> String {
    discord_timestamp(Utc::now())
}

/// The creation time encoded in a snowflake, in Discord's format.
fn timestamp_of(snowflake: &str) -> String {
    let id: u64 = snowflake.parse().expect("a snowflake is a decimal u64");
    let ms = (id >> 22) + DISCORD_EPOCH_MS;
    let at = DateTime::from_timestamp_millis(ms as i64).expect("a valid snowflake time");
    discord_timestamp(at)
}

fn snowflake_value(id: &Value) -> u64 {
    id.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// A long random token like Discord's interaction tokens.
fn interaction_token(id: &str) -> String {
    let random: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(140)
        .map(char::from)
        .collect();
    format!("aW50ZXJhY3Rpb246{id}{random}")
}

// ---------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------

/// An HTTP answer: status, optional JSON body, extra headers.
#[derive(Debug, Clone)]
struct Reply {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

type Answer = Result<Reply, Reply>;

impl Reply {
    fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn ok(body: Value) -> Reply {
        Reply::json(StatusCode::OK, body)
    }

    fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Discord's JSON error object.
    fn error(status: StatusCode, code: u64, message: &str) -> Reply {
        Reply::json(status, json!({"message": message, "code": code}))
    }

    /// 400 / 50035 "Invalid Form Body" with one field error.
    fn invalid_form(field: &str, code: &str, message: &str) -> Reply {
        let mut errors = Map::new();
        errors.insert(
            field.to_owned(),
            json!({"_errors": [{"code": code, "message": message}]}),
        );
        Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid Form Body", "code": 50035, "errors": errors}),
        )
    }

    fn rate_limited(retry_after: f64) -> Reply {
        let whole_seconds = retry_after.ceil().max(0.0) as u64;
        let mut reply = Reply::json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false}),
        );
        reply.headers = vec![
            ("retry-after", whole_seconds.to_string()),
            ("x-ratelimit-scope", "user".to_owned()),
            ("x-ratelimit-limit", "5".to_owned()),
            ("x-ratelimit-remaining", "0".to_owned()),
            ("x-ratelimit-reset-after", format!("{retry_after:.3}")),
            (
                "x-ratelimit-bucket",
                "b1e3a6f29c0d4e7a8f2b5c9d1e4a7b03".to_owned(),
            ),
        ];
        reply
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).expect("a header value is visible ASCII"),
            );
        }
        if self.status.is_success() {
            // Discord describes the route's bucket on every answer.
            let reset = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("the clock is after 1970")
                .as_secs_f64()
                + 1.0;
            for (name, value) in [
                ("x-ratelimit-limit", "5".to_owned()),
                ("x-ratelimit-remaining", "4".to_owned()),
                ("x-ratelimit-reset", format!("{reset:.3}")),
                ("x-ratelimit-reset-after", "1.000".to_owned()),
                (
                    "x-ratelimit-bucket",
                    "b1e3a6f29c0d4e7a8f2b5c9d1e4a7b03".to_owned(),
                ),
            ] {
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(&value).expect("ASCII"),
                );
            }
        }
        response
    }
}

/// Every request but the gateway upgrade: answered, then recorded.
async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().map(str::to_owned);
    let body = parse_body(&body);
    let mut state = shared.state();
    let reply = state
        .answer(method.as_str(), &path, query.as_deref(), &headers, &body)
        .unwrap_or_else(|refused| refused);
    state.calls.push(Call {
        method: method.to_string(),
        path,
        query,
        body,
        status: reply.status.as_u16(),
    });
    drop(state);
    reply.into_response()
}

/// `Null` for no body, the JSON value, or the raw text when not JSON.
fn parse_body(body: &Bytes) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn not_found() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, 0, "404: Not Found")
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bot {TOKEN}"))
}

/// The query string's `key=value` pairs (serenity starts it with `?&`).
fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

impl World {
    fn answer(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &Value,
    ) -> Answer {
        let rest = path.strip_prefix("/api/v10/").ok_or_else(not_found)?;
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        // Interaction callbacks authenticate by their token; GET /gateway
        // needs nothing.
        let open = matches!(segments.as_slice(), ["gateway"] | ["interactions", ..]);
        if !open && !authorized(headers) {
            return Err(Reply::error(
                StatusCode::UNAUTHORIZED,
                0,
                "401: Unauthorized",
            ));
        }
        if let Some(at) = self
            .scripts
            .iter()
            .position(|s| path.contains(&s.path_contains))
        {
            return Err(self.scripts.remove(at).reply);
        }
        if matches!(method, "POST" | "PATCH" | "PUT") && body.is_string() {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                50109,
                "The request body contains invalid JSON.",
            ));
        }
        match (method, segments.as_slice()) {
            ("GET", ["gateway"]) => Ok(Reply::ok(json!({"url": self.url()}))),
            ("GET", ["gateway", "bot"]) => Ok(self.gateway_bot()),
            ("GET", ["users", "@me"]) => Ok(Reply::ok(current_user_json())),
            ("POST", ["users", "@me", "channels"]) => self.open_dm(body),
            ("GET", ["users", id]) => self.get_user(id),
            ("GET", ["applications", "@me"] | ["oauth2", "applications", "@me"]) => {
                Ok(Reply::ok(application_json(self.message_content_intent)))
            }
            ("GET", ["channels", id]) => self.get_channel(id),
            ("GET", ["channels", id, "messages"]) => self.list_messages(id, query),
            ("POST", ["channels", id, "messages"]) => self.create_message(id, body),
            ("GET", ["channels", id, "messages", mid]) => self.get_message(id, mid),
            ("PATCH", ["channels", id, "messages", mid]) => self.edit_message(id, mid, body),
            ("DELETE", ["channels", id, "messages", mid]) => self.delete_message(id, mid),
            ("POST", ["channels", id, "messages", mid, "threads"]) => {
                self.start_thread(id, mid, body)
            }
            ("POST", ["channels", id, "typing"]) => self.typing(id),
            ("GET", ["guilds", id]) => self.guild(id).map(|()| {
                let system = self
                    .channels
                    .iter()
                    .find(|c| c.kind == TEXT)
                    .map(|c| c.id.clone());
                Reply::ok(guild_json(system))
            }),
            ("GET", ["guilds", id, "channels"]) => self.guild(id).map(|()| self.guild_channels()),
            ("GET", ["guilds", id, "roles"]) => self.guild(id).map(|()| Reply::ok(roles_json())),
            ("GET", ["guilds", id, "members", user]) => {
                self.guild(id)?;
                self.get_member(user)
            }
            ("POST", ["interactions", id, token, "callback"]) => {
                self.interaction_callback(id, token, body)
            }
            _ => Err(not_found()),
        }
    }

    fn gateway_bot(&self) -> Reply {
        let remaining = 1000u64.saturating_sub(self.gateway.identifies);
        Reply::ok(json!({
            "url": self.url(),
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": remaining,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }))
    }

    fn guild(&self, id: &str) -> Result<(), Reply> {
        if id == GUILD {
            Ok(())
        } else {
            Err(Reply::error(StatusCode::NOT_FOUND, 10004, "Unknown Guild"))
        }
    }

    fn guild_channels(&self) -> Reply {
        let channels: Vec<Value> = self
            .channels
            .iter()
            .filter(|c| matches!(c.kind, TEXT | FORUM))
            .map(|c| self.channel_json(c))
            .collect();
        Reply::ok(json!(channels))
    }

    fn get_user(&self, id: &str) -> Answer {
        if id == BOT_ID {
            return Ok(Reply::ok(bot_user_json()));
        }
        let user = self
            .user_by_id(id)
            .ok_or_else(|| Reply::error(StatusCode::NOT_FOUND, 10013, "Unknown User"))?;
        Ok(Reply::ok(user_json(user)))
    }

    fn get_member(&self, user_id: &str) -> Answer {
        if user_id == BOT_ID || user_id == "@me" {
            return Ok(Reply::ok(self.bot_member_json()));
        }
        let user = self
            .user_by_id(user_id)
            .ok_or_else(|| Reply::error(StatusCode::NOT_FOUND, 10007, "Unknown Member"))?;
        Ok(Reply::ok(self.member_json(user)))
    }

    fn open_dm(&mut self, body: &Value) -> Answer {
        let recipient = body["recipient_id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| body["recipient_id"].as_u64().map(|n| n.to_string()))
            .ok_or_else(|| {
                Reply::invalid_form(
                    "recipient_id",
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
            })?;
        if self.user_by_id(&recipient).is_none() {
            return Err(Reply::invalid_form(
                "recipient_id",
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{recipient}\" is not snowflake."),
            ));
        }
        let id = self.dm_channel_for(&recipient);
        Ok(Reply::ok(self.channel_json(self.channel(&id)?)))
    }

    fn get_channel(&self, id: &str) -> Answer {
        let ch = self.channel(id)?;
        if ch.in_guild() && self.bot_permissions(ch) & perm::VIEW_CHANNEL == 0 {
            return Err(Reply::error(StatusCode::FORBIDDEN, 50001, "Missing Access"));
        }
        Ok(Reply::ok(self.channel_json(ch)))
    }

    fn get_message(&self, channel: &str, id: &str) -> Answer {
        let ch = self.channel(channel)?;
        self.require(ch, perm::READ_MESSAGE_HISTORY)?;
        let stored = self.find_message(channel, id).ok_or_else(unknown_message)?;
        Ok(Reply::ok(stored.message.clone()))
    }

    fn list_messages(&self, channel: &str, query: Option<&str>) -> Answer {
        let ch = self.channel(channel)?;
        self.require(ch, perm::READ_MESSAGE_HISTORY)?;
        let limit = match query_param(query, "limit") {
            None => 50,
            Some(raw) => {
                let limit: i64 = raw.parse().map_err(|_| {
                    Reply::invalid_form(
                        "limit",
                        "NUMBER_TYPE_COERCE",
                        &format!("Value \"{raw}\" is not int."),
                    )
                })?;
                if !(1..=100).contains(&limit) {
                    return Err(Reply::invalid_form(
                        "limit",
                        "NUMBER_TYPE_MAX",
                        "int value should be less than or equal to 100.",
                    ));
                }
                limit as usize
            }
        };
        let id_param = |key| query_param(query, key).and_then(|v| v.parse::<u64>().ok());
        let mut all: Vec<&Value> = self.history(channel).iter().map(|s| &s.message).collect();
        all.sort_by_key(|m| snowflake_value(&m["id"]));
        let id_of = |m: &&Value| snowflake_value(&m["id"]);
        let mut page: Vec<&Value> = if let Some(after) = id_param("after") {
            all.into_iter()
                .filter(|m| id_of(m) > after)
                .take(limit)
                .collect()
        } else if let Some(around) = id_param("around") {
            let older: Vec<&Value> = all.iter().copied().filter(|m| id_of(m) < around).collect();
            let newer: Vec<&Value> = all.iter().copied().filter(|m| id_of(m) >= around).collect();
            let take_older = (limit / 2).min(older.len());
            let mut page: Vec<&Value> = older[older.len() - take_older..].to_vec();
            page.extend(newer.into_iter().take(limit - take_older));
            page
        } else {
            let before = id_param("before").unwrap_or(u64::MAX);
            let older: Vec<&Value> = all.into_iter().filter(|m| id_of(m) < before).collect();
            older[older.len().saturating_sub(limit)..].to_vec()
        };
        page.reverse();
        Ok(Reply::ok(json!(page)))
    }

    /// 50007 for a closed DM, 50008 for a forum, then permissions.
    fn check_can_post(&self, ch: &Channel) -> Result<(), Reply> {
        if let Some(recipient) = &ch.recipient
            && self.closed_dms.contains(&recipient.id)
        {
            return Err(Reply::error(
                StatusCode::FORBIDDEN,
                50007,
                "Cannot send messages to this user",
            ));
        }
        if ch.kind == FORUM {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                50008,
                "Cannot send messages in a non-text channel",
            ));
        }
        let needed = if ch.kind == PUBLIC_THREAD {
            perm::SEND_MESSAGES_IN_THREADS
        } else {
            perm::SEND_MESSAGES
        };
        self.require(ch, needed)
    }

    fn create_message(&mut self, channel: &str, body: &Value) -> Answer {
        let ch = self.channel(channel)?.clone();
        self.check_can_post(&ch)?;
        let content = body["content"].as_str().unwrap_or_default();
        check_content(content)?;
        let mut components = body.get("components").cloned().unwrap_or(json!([]));
        let embeds = body.get("embeds").cloned().unwrap_or(json!([]));
        let nothing = |v: &Value| v.as_array().is_none_or(Vec::is_empty);
        if content.is_empty()
            && nothing(&components)
            && nothing(&embeds)
            && nothing(&body["sticker_ids"])
        {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                50006,
                "Cannot send an empty message",
            ));
        }
        let nonce = check_nonce(&body["nonce"])?;
        if body["enforce_nonce"] == true
            && let Some(nonce) = &nonce
            && let Some(existing) = self.recent_bot_message_with_nonce(channel, nonce)
        {
            return Ok(Reply::ok(existing));
        }
        let referenced = match body.get("message_reference") {
            Some(reference) if !reference.is_null() => self.referenced(channel, reference)?,
            _ => None,
        };
        let id = self.snowflake();
        let mut message = self.message_json(&id, channel, bot_user_json(), content);
        message["mentions"] = json!(self.mentions_in(content, body.get("allowed_mentions")));
        number_components(&mut components, &mut 1);
        message["components"] = components;
        message["embeds"] = normalise_embeds(embeds);
        if nonce.is_some() {
            message["nonce"] = body["nonce"].clone();
        }
        if let Some(referenced) = referenced {
            set_reply(&mut message, channel, &ch, referenced);
        }
        Ok(Reply::ok(self.post(channel, message)))
    }

    fn recent_bot_message_with_nonce(&self, channel: &str, nonce: &str) -> Option<Value> {
        self.history(channel)
            .iter()
            .rev()
            .filter(|s| s.at.elapsed() < NONCE_WINDOW && s.message["author"]["id"] == BOT_ID)
            .find(|s| nonce_text(&s.message["nonce"]).as_deref() == Some(nonce))
            .map(|s| s.message.clone())
    }

    /// The message a `message_reference` points at (in this channel).
    fn referenced(&self, channel: &str, reference: &Value) -> Result<Option<Value>, Reply> {
        let target = reference["message_id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| reference["message_id"].as_u64().map(|n| n.to_string()));
        let Some(target) = target else {
            return Ok(None);
        };
        match self.find_message(channel, &target) {
            Some(stored) => Ok(Some(stored.message.clone())),
            None if reference["fail_if_not_exists"] == false => Ok(None),
            None => Err(Reply::invalid_form(
                "message_reference",
                "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                "Unknown message",
            )),
        }
    }

    /// The bot's own message `id` in `channel`, or Discord's refusal
    /// (`code`, `message`) when someone else wrote it.
    fn own_message(&self, channel: &str, id: &str, code: u64, message: &str) -> Result<(), Reply> {
        let ch = self.channel(channel)?.clone();
        self.require(&ch, perm::VIEW_CHANNEL)?;
        let stored = self.find_message(channel, id).ok_or_else(unknown_message)?;
        if stored.message["author"]["id"] != BOT_ID {
            return Err(Reply::error(StatusCode::FORBIDDEN, code, message));
        }
        Ok(())
    }

    fn edit_message(&mut self, channel: &str, id: &str, body: &Value) -> Answer {
        self.own_message(
            channel,
            id,
            50005,
            "Cannot edit a message authored by another user",
        )?;
        if let Some(content) = body.get("content").and_then(Value::as_str) {
            check_content(content)?;
        }
        let mentions = body["content"]
            .as_str()
            .map(|c| self.mentions_in(c, body.get("allowed_mentions")));
        let stored = self.find_message_mut(channel, id).expect("found above");
        apply_edit(&mut stored.message, body);
        if let Some(mentions) = mentions {
            stored.message["mentions"] = json!(mentions);
        }
        let message = stored.message.clone();
        self.dispatch_update(channel, &message);
        Ok(Reply::ok(message))
    }

    fn delete_message(&mut self, channel: &str, id: &str) -> Answer {
        // Deleting others' messages needs MANAGE_MESSAGES.
        self.own_message(channel, id, 50013, "Missing Permissions")?;
        self.remove_message(channel, id);
        Ok(Reply::no_content())
    }

    fn start_thread(&mut self, channel: &str, message_id: &str, body: &Value) -> Answer {
        let ch = self.channel(channel)?.clone();
        if ch.kind != TEXT {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                50024,
                "Cannot execute action on this channel type",
            ));
        }
        self.require(&ch, perm::CREATE_PUBLIC_THREADS)?;
        if self.find_message(channel, message_id).is_none() {
            return Err(unknown_message());
        }
        if self.channel(message_id).is_ok() {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                160004,
                "A thread has already been created for this message",
            ));
        }
        let name = body["name"].as_str().unwrap_or_default();
        if !(1..=100).contains(&name.chars().count()) {
            return Err(Reply::invalid_form(
                "name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        let archive = body["auto_archive_duration"].as_u64().unwrap_or(4320);
        if !ARCHIVE_DURATIONS.contains(&archive) {
            return Err(Reply::invalid_form(
                "auto_archive_duration",
                "BASE_TYPE_CHOICES",
                "Value must be one of {60, 1440, 4320, 10080}.",
            ));
        }
        let created = now_timestamp();
        self.channels.push(Channel {
            id: message_id.to_owned(),
            kind: PUBLIC_THREAD,
            name: name.to_owned(),
            position: 0,
            parent_id: Some(channel.to_owned()),
            owner_id: Some(BOT_ID.to_owned()),
            recipient: None,
            deny: 0,
            auto_archive_duration: archive,
            created,
            sent: 0,
            last_message_id: None,
        });
        let thread = self.thread_json(self.channel(message_id).expect("just pushed"));
        // The starter message now shows its thread, as Discord's does.
        if let Some(starter) = self.find_message_mut(channel, message_id) {
            let flags = starter.message["flags"].as_u64().unwrap_or_default();
            starter.message["flags"] = json!(flags | 1 << 5);
            starter.message["thread"] = thread.clone();
        }
        let mut event = thread.clone();
        event["newly_created"] = json!(true);
        self.dispatch("THREAD_CREATE", event);
        Ok(Reply::json(StatusCode::CREATED, thread))
    }

    fn typing(&self, channel: &str) -> Answer {
        let ch = self.channel(channel)?;
        if ch.recipient.is_none() {
            let needed = if ch.kind == PUBLIC_THREAD {
                perm::SEND_MESSAGES_IN_THREADS
            } else {
                perm::SEND_MESSAGES
            };
            self.require(ch, needed)?;
        }
        Ok(Reply::no_content())
    }

    fn interaction_callback(&mut self, id: &str, token: &str, body: &Value) -> Answer {
        let unknown = || Reply::error(StatusCode::NOT_FOUND, 10062, "Unknown interaction");
        let interaction = self.interactions.get(id).ok_or_else(unknown)?;
        if interaction.token != token {
            return Err(unknown());
        }
        if interaction.acknowledged {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                40060,
                "Interaction has already been acknowledged.",
            ));
        }
        let kind = body["type"].as_u64().unwrap_or_default();
        if !matches!(kind, 4..=7) {
            return Err(Reply::invalid_form(
                "type",
                "BASE_TYPE_CHOICES",
                "Value must be one of {4, 5, 6, 7, 9, 10, 12}.",
            ));
        }
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        if let Some(content) = data["content"].as_str() {
            check_content(content)?;
        }
        let (channel, clicked) = (interaction.channel.clone(), interaction.message_id.clone());
        self.interactions
            .get_mut(id)
            .expect("found above")
            .acknowledged = true;
        self.interaction_responses
            .push((id.to_owned(), body.clone()));
        match kind {
            4 if data["flags"].as_u64().unwrap_or_default() & 64 == 0 => {
                let message_id = self.snowflake();
                let content = data["content"].as_str().unwrap_or_default();
                let mut message =
                    self.message_json(&message_id, &channel, bot_user_json(), content);
                message["components"] = data.get("components").cloned().unwrap_or(json!([]));
                number_components(&mut message["components"], &mut 1);
                message["embeds"] =
                    normalise_embeds(data.get("embeds").cloned().unwrap_or(json!([])));
                message["application_id"] = json!(BOT_ID);
                message["webhook_id"] = json!(BOT_ID);
                if let Some(referenced) = self.find_message(&channel, &clicked) {
                    let referenced = referenced.message.clone();
                    let ch = self.channel(&channel).expect("exists").clone();
                    set_reply(&mut message, &channel, &ch, referenced);
                }
                self.post(&channel, message);
            }
            7 => {
                if let Some(stored) = self.find_message_mut(&channel, &clicked) {
                    apply_edit(&mut stored.message, &data);
                    let message = stored.message.clone();
                    self.dispatch_update(&channel, &message);
                }
            }
            _ => {}
        }
        Ok(Reply::no_content())
    }
}

fn unknown_message() -> Reply {
    Reply::error(StatusCode::NOT_FOUND, 10008, "Unknown Message")
}

fn check_content(content: &str) -> Result<(), Reply> {
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(Reply::invalid_form(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    Ok(())
}

/// A valid nonce as text (strings of at most 25 characters, or integers).
fn check_nonce(nonce: &Value) -> Result<Option<String>, Reply> {
    match nonce {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() > MAX_NONCE_CHARS => Err(Reply::invalid_form(
            "nonce",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        )),
        Value::String(_) | Value::Number(_) => Ok(nonce_text(nonce)),
        _ => Err(Reply::invalid_form(
            "nonce",
            "NONCE_TYPE_INVALID",
            "Nonce must be an integer or a string.",
        )),
    }
}

fn nonce_text(nonce: &Value) -> Option<String> {
    match nonce {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Embeds as Discord stores them (`type: rich` unless given).
fn normalise_embeds(mut embeds: Value) -> Value {
    if let Some(list) = embeds.as_array_mut() {
        for embed in list.iter_mut().filter_map(Value::as_object_mut) {
            embed.entry("type").or_insert_with(|| json!("rich"));
            embed
                .entry("content_scan_version")
                .or_insert_with(|| json!(0));
        }
    }
    embeds
}

/// Applies an edit body (content/components/embeds present in it).
fn apply_edit(message: &mut Value, body: &Value) {
    if let Some(content) = body.get("content") {
        message["content"] = json!(content.as_str().unwrap_or_default());
    }
    if let Some(components) = body.get("components") {
        let mut components = components.clone();
        if components.is_null() {
            components = json!([]);
        }
        number_components(&mut components, &mut 1);
        message["components"] = components;
    }
    if let Some(embeds) = body.get("embeds") {
        message["embeds"] = normalise_embeds(if embeds.is_null() {
            json!([])
        } else {
            embeds.clone()
        });
    }
    message["edited_timestamp"] = json!(now_timestamp());
}

// ---------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------

/// What a socket task is told to do.
#[derive(Debug)]
enum Out {
    Text(String),
    Close(u16, &'static str),
    /// Drop the socket without a close frame.
    Abort,
}

/// The socket a session is attached to.
#[derive(Debug)]
struct Attached {
    conn: u64,
    tx: mpsc::UnboundedSender<Out>,
}

/// A gateway session: its sequence and every dispatch sent in it, for
/// replay on Resume.
#[derive(Debug)]
struct Session {
    id: String,
    seq: u64,
    intents: u64,
    sent: Vec<(u64, String)>,
}

#[derive(Debug)]
struct Gateway {
    heartbeat_interval: u64,
    next_conn: u64,
    /// The connected socket, if any.
    attached: Option<Attached>,
    /// The current session (connected or resumable).
    session: Option<Session>,
    identifies: u64,
    resumes: u64,
    heartbeats: u64,
    intents: Option<u64>,
    /// READY/RESUMED sent so far, and how many `until_ready` has seen.
    readies: u64,
    readies_seen: u64,
}

impl Gateway {
    fn new() -> Gateway {
        Gateway {
            heartbeat_interval: DEFAULT_HEARTBEAT_MS,
            next_conn: 0,
            attached: None,
            session: None,
            identifies: 0,
            resumes: 0,
            heartbeats: 0,
            intents: None,
            readies: 0,
            readies_seen: 0,
        }
    }

    fn expect_ready_again(&mut self) {
        self.readies_seen = self.readies;
    }

    fn send_attached(&self, frame: Value, what: &str) {
        let conn = self
            .attached
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no gateway session is connected"));
        let _ = conn.tx.send(Out::Text(frame.to_string()));
    }

    /// Numbers, logs and (when connected) sends one dispatch.
    fn dispatch(&mut self, event: &str, data: Value) {
        let Some(session) = &mut self.session else {
            return;
        };
        session.seq += 1;
        let frame = json!({"op": 0, "d": data, "s": session.seq, "t": event}).to_string();
        session.sent.push((session.seq, frame.clone()));
        if matches!(event, "READY" | "RESUMED") {
            self.readies += 1;
        }
        if let Some(conn) = &self.attached {
            let _ = conn.tx.send(Out::Text(frame));
        }
    }

    /// Makes `conn` the connected socket, detaching (and closing) another.
    fn attach(&mut self, conn: u64, tx: &mpsc::UnboundedSender<Out>) {
        if let Some(old) = self.attached.take()
            && old.conn != conn
        {
            let _ = old.tx.send(Out::Abort);
        }
        self.attached = Some(Attached {
            conn,
            tx: tx.clone(),
        });
    }

    /// Called when a socket ends; a clean close (1000/1001) ends its
    /// session too, as on Discord.
    fn disconnected(&mut self, conn: u64, clean: bool) {
        if self.attached.as_ref().is_some_and(|a| a.conn == conn) {
            self.attached = None;
            if clean {
                self.session = None;
            }
        }
    }
}

/// The Hello frame.
fn hello(interval: u64) -> String {
    json!({"t": null, "s": null, "op": 10, "d": {"heartbeat_interval": interval, "_trace": [TRACE]}})
        .to_string()
}

/// GET / with an Upgrade: the gateway. Anything else: 404.
async fn gateway_upgrade(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return not_found().into_response();
    };
    let version = query_param(uri.query(), "v").map(str::to_owned);
    upgrade.on_upgrade(move |socket| run_gateway(shared, socket, version))
}

/// One gateway connection, from Hello to close.
async fn run_gateway(shared: Arc<Shared>, socket: WebSocket, version: Option<String>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let (conn, interval) = {
        let mut state = shared.state();
        state.gateway.next_conn += 1;
        (state.gateway.next_conn, state.gateway.heartbeat_interval)
    };
    if version.as_deref().is_some_and(|v| v != "10") {
        let _ = tx.send(Out::Close(4012, "Invalid API version"));
    } else {
        let _ = tx.send(Out::Text(hello(interval)));
    }
    let (mut sink, mut stream) = socket.split();
    let mut authenticated = false;
    let mut clean_close = false;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close(code, reason)) => {
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    // Let the client answer the close before hanging up.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while let Some(Ok(_)) = stream.next().await {}
                    })
                    .await;
                    break;
                }
                Some(Out::Abort) | None => break,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let mut state = shared.state();
                    state.client_frame(conn, &tx, &mut authenticated, text.as_str());
                }
                Some(Ok(Message::Binary(_))) => {
                    let _ = tx.send(Out::Close(4002, "Error while decoding payload."));
                }
                Some(Ok(Message::Close(frame))) => {
                    // Keep polling: the stream answers the close, then ends.
                    clean_close = frame.is_some_and(|f| matches!(f.code, 1000 | 1001));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    shared.state().gateway.disconnected(conn, clean_close);
}

/// Whether a token from Identify/Resume is the bot's (serenity sends it
/// with the `Bot ` prefix; Discord accepts both).
fn gateway_token_ok(token: &Value) -> bool {
    token
        .as_str()
        .is_some_and(|t| t.strip_prefix("Bot ").unwrap_or(t) == TOKEN)
}

impl World {
    /// Handles one text frame from a client.
    fn client_frame(
        &mut self,
        conn: u64,
        tx: &mpsc::UnboundedSender<Out>,
        authenticated: &mut bool,
        text: &str,
    ) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            let _ = tx.send(Out::Close(4002, "Error while decoding payload."));
            return;
        };
        let data = &frame["d"];
        match frame["op"].as_u64() {
            Some(1) => {
                self.gateway.heartbeats += 1;
                let _ = tx.send(Out::Text(json!({"op": 11}).to_string()));
            }
            Some(2) => {
                self.gateway.identifies += 1;
                if *authenticated {
                    let _ = tx.send(Out::Close(4005, "Already authenticated."));
                } else if let Err((code, reason)) = self.identify(conn, tx, data) {
                    let _ = tx.send(Out::Close(code, reason));
                } else {
                    *authenticated = true;
                }
            }
            Some(6) => {
                self.gateway.resumes += 1;
                if *authenticated {
                    let _ = tx.send(Out::Close(4005, "Already authenticated."));
                } else {
                    match self.resume(conn, tx, data) {
                        Ok(true) => *authenticated = true,
                        Ok(false) => {
                            let _ = tx.send(Out::Text(json!({"op": 9, "d": false}).to_string()));
                        }
                        Err((code, reason)) => {
                            let _ = tx.send(Out::Close(code, reason));
                        }
                    }
                }
            }
            // Presence, voice state, guild members, soundboard, channel info.
            Some(3 | 4 | 8 | 31 | 43) if *authenticated => {}
            Some(3 | 4 | 8 | 31 | 43) => {
                let _ = tx.send(Out::Close(4003, "Not authenticated."));
            }
            _ => {
                let _ = tx.send(Out::Close(4001, "Unknown opcode."));
            }
        }
    }

    /// Identify: a new session, READY, then GUILD_CREATE.
    fn identify(
        &mut self,
        conn: u64,
        tx: &mpsc::UnboundedSender<Out>,
        data: &Value,
    ) -> Result<(), (u16, &'static str)> {
        if !gateway_token_ok(&data["token"]) {
            return Err((4004, "Authentication failed."));
        }
        let intents = data["intents"]
            .as_u64()
            .ok_or((4013, "Invalid intent(s)."))?;
        self.gateway.intents = Some(intents);
        if intents & intent::MESSAGE_CONTENT != 0 && !self.message_content_intent {
            return Err((4014, "Disallowed intent(s)."));
        }
        let session_id = uuid::Uuid::new_v4().simple().to_string();
        self.gateway.session = Some(Session {
            id: session_id.clone(),
            seq: 0,
            intents,
            sent: Vec::new(),
        });
        self.gateway.attach(conn, tx);
        let shard = data.get("shard").cloned().unwrap_or(json!([0, 1]));
        let ready = json!({
            "v": 10,
            "user_settings": {},
            "user": current_user_json(),
            "session_type": "normal",
            "session_id": session_id,
            "resume_gateway_url": self.url(),
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guilds": [{"id": GUILD, "unavailable": true}],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east", "us-central", "atlanta", "us-south", "us-west"],
            "auth": {},
            "application": {"id": BOT_ID, "flags": application_json(self.message_content_intent)["flags"]},
            "shard": shard,
            "_trace": [TRACE],
        });
        self.gateway.dispatch("READY", ready);
        let guild = self.guild_create_json();
        self.dispatch("GUILD_CREATE", guild);
        Ok(())
    }

    /// Resume: `Ok(true)` after replaying and RESUMED, `Ok(false)` when the
    /// session cannot be resumed (the caller sends op 9).
    fn resume(
        &mut self,
        conn: u64,
        tx: &mpsc::UnboundedSender<Out>,
        data: &Value,
    ) -> Result<bool, (u16, &'static str)> {
        if !gateway_token_ok(&data["token"]) {
            return Err((4004, "Authentication failed."));
        }
        let Some(session) = &self.gateway.session else {
            return Ok(false);
        };
        if data["session_id"] != session.id.as_str() {
            return Ok(false);
        }
        let seq = data["seq"].as_u64().unwrap_or_default();
        if seq > session.seq {
            return Err((4007, "Invalid seq."));
        }
        for (_, frame) in session.sent.iter().filter(|(s, _)| *s > seq) {
            let _ = tx.send(Out::Text(frame.clone()));
        }
        self.gateway.attach(conn, tx);
        self.gateway.dispatch("RESUMED", json!({"_trace": [TRACE]}));
        Ok(true)
    }
}

/// Writes `calls` one per line (for panic messages).
pub fn describe_calls(calls: &[Call]) -> String {
    let mut out = String::new();
    for call in calls {
        let _ = writeln!(
            out,
            "{} {}{} -> {} {}",
            call.method,
            call.path,
            call.query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default(),
            call.status,
            call.body
        );
    }
    out
}
