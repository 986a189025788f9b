//! The gateway connection (serenity's client), what arrives on it, and the
//! catch-up that makes a restart or reconnect lose nothing.
//!
//! serenity runs each event handler in its own task, so two messages sent
//! a moment apart can reach the handlers in either order. Handlers only
//! queue what arrived; one worker holds each item for a moment after it
//! arrives, then releases it together with everything queued that sorts
//! before it, in Discord's order (snowflakes grow with time), and stores
//! the events one by one. The catch-up runs on the same worker, so history
//! read after a reconnect is stored before what arrives live, and
//! duplicates between the two are dropped by the store's event-id dedupe.
//! A store that is down holds the worker (and so keeps the order) until
//! it answers again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use handoff_core::InboundEvent;
use serde_json::json;
use serenity::all::{
    ChannelId, Context, EventHandler, GatewayIntents, GuildChannel, GuildId, Interaction, Message,
    MessageId, MessageUpdateEvent, Ready, ResumedEvent,
};
use serenity::model::guild::Guild;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapter::report_missing;
use crate::api::{ApiError, DiscordApi, codes, snowflake, snowflake_millis};
use crate::inbound::{self, Routing};
use crate::{DiscordBackend, DiscordSettings};

/// The gateway intents handoff needs: guilds (channels and threads), guild
/// and direct messages, and their content (privileged: it must be switched
/// on in the developer portal).
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

/// How long the worker holds an item for handler tasks started before it
/// to land.
const SETTLE: Duration = Duration::from_millis(20);
/// Caches of channels and roles are cleared past this many entries (they
/// are refilled as needed), so a busy server cannot grow them forever.
const CACHE_LIMIT: usize = 50_000;
/// At most this many support-channel posts are read back per channel.
const CHANNEL_CATCH_UP: u8 = 50;
/// How often a standby replica asks for the gateway lease, and the holder
/// checks it still has it.
const LEASE_POLL: Duration = Duration::from_secs(5);
/// At most this many recent conversations are caught up.
const MAX_CONVERSATIONS: usize = 500;

/// What the handlers hand the worker.
#[derive(Debug)]
enum Work {
    /// A fresh session or a resumed one: read what was missed.
    CatchUp,
    /// A guild arrived: its support channels and threads.
    Guild(Box<Guild>),
    Message(Box<Message>),
    Edit(Box<MessageUpdateEvent>),
    Delete {
        channel: ChannelId,
        message: MessageId,
        guild: Option<GuildId>,
    },
    Thread(Box<GuildChannel>),
}

impl Work {
    /// Catch-ups and channel news first, then messages in Discord's order,
    /// a message before its own edits and deletion.
    fn order(&self) -> Order {
        match self {
            Work::CatchUp | Work::Guild(_) | Work::Thread(_) => (0, 0, 0),
            Work::Message(m) => (1, m.id.get(), 0),
            Work::Edit(e) => (1, e.id.get(), 1),
            Work::Delete { message, .. } => (1, message.get(), 2),
        }
    }
}

/// Where an item goes in the worker's order.
type Order = (u8, u64, u8);

/// Discord's side of handoff: the gateway client and the catch-up.
#[derive(Debug)]
pub struct Discord<B> {
    backend: B,
    api: DiscordApi,
    settings: Arc<DiscordSettings>,
    routing: Mutex<Routing>,
    /// Guild channels known not to be support threads (saves asking again).
    elsewhere: Mutex<HashSet<String>>,
    /// The servers the bot is in, as they arrived.
    guilds: Mutex<HashSet<String>>,
    /// Missing permissions already logged.
    reported: Mutex<HashSet<(String, &'static str)>>,
    /// Whether the missing-content warning was logged.
    warned_content: Mutex<bool>,
    shutdown: CancellationToken,
}

impl<B: DiscordBackend> Discord<B> {
    /// Over `backend`, talking to Discord through `api`.
    pub fn new(backend: B, api: DiscordApi, settings: Arc<DiscordSettings>) -> Self {
        let routing = Routing {
            support: settings.support_channels.iter().cloned().collect(),
            vip_users: settings.vip_users.iter().cloned().collect(),
            vip_roles: settings.vip_roles.iter().cloned().collect(),
            ..Routing::default()
        };
        Self {
            backend,
            api,
            settings,
            routing: Mutex::new(routing),
            elsewhere: Mutex::new(HashSet::new()),
            guilds: Mutex::new(HashSet::new()),
            reported: Mutex::new(HashSet::new()),
            warned_content: Mutex::new(false),
            shutdown: CancellationToken::new(),
        }
    }

    /// Stops [`Self::run`] when `shutdown` fires.
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    fn routing(&self) -> std::sync::MutexGuard<'_, Routing> {
        self.routing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connects and listens until shutdown, reconnecting with backoff when
    /// the client stops (a bad token, Discord unreachable).
    pub async fn run(self: Arc<Self>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = tokio::spawn(Arc::clone(&self).work(rx));
        let mut backoff = Duration::from_secs(1);
        let mut waiting_logged = false;
        while !self.shutdown.is_cancelled() {
            let lease = match self.backend.lead().await {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    if !waiting_logged {
                        tracing::info!("Another replica holds the Discord gateway; standing by.");
                        waiting_logged = true;
                    }
                    self.pause(LEASE_POLL).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "Could not take the Discord gateway lease.");
                    self.pause(LEASE_POLL).await;
                    continue;
                }
            };
            waiting_logged = false;
            let mut http = serenity::http::HttpBuilder::new(&self.settings.token)
                // serenity's rate limiter would call Discord directly,
                // around the configured base URL; the outbox paces us.
                .ratelimiter_disabled(true);
            if self.settings.api_url != "https://discord.com" {
                http = http.proxy(self.settings.api_url.clone());
            }
            let handler = Handler {
                tx: tx.clone(),
                discord: Arc::clone(&self),
            };
            match serenity::client::ClientBuilder::new_with_http(http.build(), intents())
                .event_handler(handler)
                .await
            {
                Ok(mut client) => {
                    let watcher = tokio::spawn(hold(
                        lease,
                        Arc::clone(&client.shard_manager),
                        self.shutdown.clone(),
                    ));
                    if let Err(e) = client.start().await {
                        tracing::error!(error = %e, "The Discord gateway connection failed.");
                    } else {
                        backoff = Duration::from_secs(1);
                    }
                    // Dropping the lease lets another replica take over.
                    watcher.abort();
                }
                Err(e) => tracing::error!(error = %e, "Could not set up the Discord client."),
            }
            self.pause(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(300));
        }
        drop(tx);
        let _ = worker.await;
        tracing::info!("Discord gateway stopped.");
    }

    /// Sleeps `d`, or less when shutting down.
    async fn pause(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.shutdown.cancelled() => {}
        }
    }

    /// Takes queued work in Discord's order: each item waits [`SETTLE`]
    /// after it arrived, then goes with everything queued that sorts
    /// before it.
    async fn work(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Work>) {
        let mut held: Vec<(tokio::time::Instant, Work)> = Vec::new();
        loop {
            // Far enough to mean "nothing held".
            let next_due = held
                .iter()
                .map(|(at, _)| *at + SETTLE)
                .min()
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            let arrived = tokio::select! {
                w = rx.recv() => w,
                // serenity's tasks may keep a sender alive past shutdown.
                () = self.shutdown.cancelled() => None,
                () = tokio::time::sleep_until(next_due) => {
                    let now = tokio::time::Instant::now();
                    for work in release(&mut held, now) {
                        self.handle(work).await;
                    }
                    continue;
                }
            };
            match arrived {
                Some(work) => held.push((tokio::time::Instant::now(), work)),
                None => {
                    // Shutting down: what is held still goes, in order.
                    held.sort_by_key(|(_, w)| w.order());
                    for (_, work) in held {
                        self.handle(work).await;
                    }
                    return;
                }
            }
        }
    }

    async fn handle(&self, work: Work) {
        let now = Utc::now();
        match work {
            Work::CatchUp => self.catch_up().await,
            Work::Guild(guild) => self.catch_up_guild(&guild).await,
            Work::Thread(t) => {
                let id = t.id.to_string();
                let parent = t.parent_id.map(|p| p.to_string()).unwrap_or_default();
                let owner = t.owner_id.map(|o| o.to_string());
                if !self.routing().add_thread(&id, &parent, owner) {
                    self.not_support(&id);
                }
            }
            Work::Message(m) => {
                if m.guild_id.is_some() {
                    self.learn_channel(&m.channel_id.to_string()).await;
                    self.warn_if_content_withheld(&m);
                }
                self.learn_roles(&m).await;
                let event = inbound::message(&m, &self.routing(), now);
                if let Some(event) = event {
                    self.remember_opened_thread(&event, &m);
                    self.store(&event).await;
                }
            }
            Work::Edit(u) => {
                if u.guild_id.is_some() {
                    self.learn_channel(&u.channel_id.to_string()).await;
                }
                let event = inbound::edit(&u, u.guild_id.is_some(), &self.routing(), now);
                if let Some(event) = event {
                    self.store(&event).await;
                }
            }
            Work::Delete {
                channel,
                message,
                guild,
            } => {
                let event = inbound::deletion(
                    &channel.to_string(),
                    &message.to_string(),
                    guild.is_some(),
                    &self.routing(),
                    now,
                );
                if let Some(event) = event {
                    self.store(&event).await;
                }
            }
        }
    }

    /// Stores an event, trying until the store answers (or shutdown): an
    /// event given up here would be lost, since the catch-up resumes after
    /// the last message stored. Waiting also keeps later events behind it.
    async fn store(&self, event: &InboundEvent) {
        let mut wait = Duration::from_millis(200);
        loop {
            match self.backend.ingest(event).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(event_id = %event.event_id, error = %e, retry_in = ?wait, "Storing a Discord event failed; trying again.");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.shutdown.cancelled() => {
                    tracing::error!(event_id = %event.event_id, "Stopping with a Discord event unstored; the next start reads it from history if it is in a known conversation.");
                    return;
                }
            }
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }

    /// A REST call made on the gateway's side (not through the outbox),
    /// retried while Discord asks us to wait or is briefly unavailable.
    async fn patiently<T, F, Fut>(&self, what: &str, call: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let e = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = match handoff_core::DeliveryError::from(e.clone()) {
                handoff_core::DeliveryError::RateLimited { retry_after } if attempt <= 20 => {
                    retry_after
                }
                handoff_core::DeliveryError::Transient { .. } if attempt <= 5 => {
                    Duration::from_millis(250 << attempt)
                }
                _ => return Err(e),
            };
            tracing::debug!(what, attempt, wait = ?wait, error = %e, "Discord asked to wait; trying again.");
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.shutdown.cancelled() => return Err(e),
            }
        }
    }

    fn not_support(&self, channel: &str) {
        let mut elsewhere = self
            .elsewhere
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if elsewhere.len() >= CACHE_LIMIT {
            elsewhere.clear();
        }
        elsewhere.insert(channel.to_owned());
    }

    /// A post in a support channel is the start (and owner) of the thread
    /// opened from it: later messages there belong to its conversation.
    fn remember_opened_thread(&self, event: &InboundEvent, m: &Message) {
        if let handoff_core::InboundKind::CustomerMessage(c) = &event.kind
            && let Some(t) = &c.open_thread
        {
            self.routing()
                .add_thread(&t.message, &t.channel, Some(m.author.id.to_string()));
        }
    }

    /// Keeps the author's roles when the message carries them; otherwise,
    /// when roles can make someone VIP, asks each server once.
    async fn learn_roles(&self, m: &Message) {
        let user = m.author.id.to_string();
        if let Some(member) = &m.member {
            let roles = member.roles.iter().map(ToString::to_string).collect();
            let mut routing = self.routing();
            if routing.roles.len() >= CACHE_LIMIT {
                routing.roles.clear();
            }
            routing.roles.insert(user, roles);
            return;
        }
        let guilds: Vec<String> = {
            let routing = self.routing();
            if routing.vip_roles.is_empty() || m.author.bot || routing.roles.contains_key(&user) {
                return;
            }
            self.guilds
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned()
                .collect()
        };
        let mut roles = Vec::new();
        for guild in guilds {
            let path = format!("/guilds/{guild}/members/{user}");
            if let Ok(member) = self.patiently(&path, || self.api.get(&path)).await {
                roles.extend(
                    member["roles"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str().map(ToOwned::to_owned)),
                );
            }
        }
        self.routing().roles.insert(user, roles);
    }

    /// Finds out once whether a guild channel handoff has not seen is a
    /// thread under a support channel (a thread opened while handoff was
    /// down, or whose creation event has not been handled yet).
    async fn learn_channel(&self, channel: &str) {
        {
            let routing = self.routing();
            if routing.support.contains(channel) || routing.threads.contains_key(channel) {
                return;
            }
        }
        if self
            .elsewhere
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(channel)
        {
            return;
        }
        let path = format!("/channels/{channel}");
        match self.patiently(&path, || self.api.get(&path)).await {
            Ok(c) => {
                let parent = c["parent_id"].as_str().unwrap_or_default();
                let owner = c["owner_id"].as_str().map(ToOwned::to_owned);
                if !self.routing().add_thread(channel, parent, owner) {
                    self.not_support(channel);
                }
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "Could not look up a Discord channel; its message is not taken up.")
            }
        }
    }

    fn warn_if_content_withheld(&self, m: &Message) {
        let withheld = m.content.is_empty()
            && m.attachments.is_empty()
            && m.embeds.is_empty()
            && m.sticker_items.is_empty()
            && !m.author.bot;
        let mut warned = self
            .warned_content
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if withheld && !*warned {
            *warned = true;
            tracing::warn!(
                channel = %m.channel_id,
                "A Discord message arrived without its text: switch on the Message Content intent in the developer portal (Bot page)."
            );
        }
    }

    /// Reads each recent conversation's history after the last customer
    /// message stored, oldest first.
    async fn catch_up(&self) {
        let cursors = match self.backend.cursors(self.settings.catch_up_days).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "Could not list conversations to catch up on.");
                return;
            }
        };
        let mut read = 0;
        for (conversation, after) in cursors.into_iter().take(MAX_CONVERSATIONS) {
            // Anything said in it from now on is a customer's.
            self.routing()
                .threads
                .entry(conversation.clone())
                .or_default();
            if let Some(after) = after {
                read += self.read_after(&conversation, &after, None).await;
            }
        }
        tracing::info!(messages = read, "Caught up on Discord conversations.");
    }

    /// A guild's support threads become known, and posts in its support
    /// channels and threads that nobody stored yet are read.
    async fn catch_up_guild(&self, guild: &Guild) {
        self.guilds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(guild.id.to_string());
        let (channels, threads): (Vec<String>, Vec<String>) = {
            let mut routing = self.routing();
            for t in &guild.threads {
                if let Some(parent) = t.parent_id {
                    let owner = t.owner_id.map(|o| o.to_string());
                    routing.add_thread(&t.id.to_string(), &parent.to_string(), owner);
                }
            }
            let channels = guild
                .channels
                .keys()
                .map(ToString::to_string)
                .filter(|c| routing.support.contains(c))
                .collect();
            let threads = guild
                .threads
                .iter()
                .map(|t| t.id.to_string())
                .filter(|t| routing.threads.get(t).is_some_and(|p| !p.parent.is_empty()))
                .collect();
            (channels, threads)
        };
        let since = (Utc::now() - chrono::Duration::days(i64::from(self.settings.catch_up_days)))
            .timestamp_millis();
        let mut read = 0;
        for channel in &channels {
            read += self
                .read_page(channel, None, CHANNEL_CATCH_UP, Some(guild.id), since)
                .await
                .map_or(0, |(n, _)| n);
        }
        for thread in &threads {
            // A thread's messages all come after its id (a forum post's
            // first message has the thread's own id).
            let before_start = snowflake(&json!(thread)).saturating_sub(1).to_string();
            read += self.read_after(thread, &before_start, Some(guild.id)).await;
        }
        tracing::info!(guild = %guild.id, messages = read, "Caught up on Discord support channels.");
    }

    /// Every message of `channel` after `after`, page by page.
    async fn read_after(&self, channel: &str, after: &str, guild: Option<GuildId>) -> usize {
        let mut after = after.to_owned();
        let mut read = 0;
        loop {
            match self.read_page(channel, Some(&after), 100, guild, 0).await {
                Ok(n) if n.0 > 0 => {
                    read += n.0;
                    after = n.1;
                    if n.0 < 100 {
                        return read;
                    }
                }
                _ => return read,
            }
        }
    }

    /// Reads one page and stores what customers said in it; returns how
    /// many messages it held and the newest id. Messages older than
    /// `since` (Unix ms) are passed over.
    async fn read_page(
        &self,
        channel: &str,
        after: Option<&str>,
        limit: u8,
        guild: Option<GuildId>,
        since: i64,
    ) -> Result<(usize, String), ApiError> {
        let page = match self
            .patiently(channel, || self.api.messages(channel, after, limit))
            .await
        {
            Ok(page) => page,
            Err(e) => {
                if e.code() == Some(codes::MISSING_PERMISSIONS) {
                    report_missing(&self.reported, channel, "READ_MESSAGE_HISTORY", &e);
                } else if e.code() != Some(codes::UNKNOWN_CHANNEL) {
                    tracing::warn!(channel, error = %e, "Could not read a Discord channel's history.");
                }
                return Err(e);
            }
        };
        let newest = page
            .last()
            .and_then(|m| m["id"].as_str())
            .unwrap_or_default()
            .to_owned();
        let count = page.len();
        for raw in page {
            if snowflake_millis(snowflake(&raw["id"])) < since {
                continue;
            }
            let mut m: Message = match serde_json::from_value(raw) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(channel, error = %e, "A Discord message in history could not be read.");
                    continue;
                }
            };
            // History does not say which guild it came from.
            if m.guild_id.is_none() {
                m.guild_id = guild;
            }
            self.learn_roles(&m).await;
            let event = inbound::message(&m, &self.routing(), Utc::now());
            if let Some(event) = event {
                self.remember_opened_thread(&event, &m);
                self.store(&event).await;
            }
        }
        Ok((count, newest))
    }

    /// A CSAT click: the rating is stored, then the buttons are replaced by
    /// a thank-you (Discord wants an answer within 3 seconds, and the
    /// answer is the click's acknowledgement, so it is given here rather
    /// than through the outbox).
    async fn clicked(&self, i: &serenity::all::ComponentInteraction) {
        let id = i.id.to_string();
        let (rating, allowed) = {
            let routing = self.routing();
            (
                inbound::rating(i, &routing, Utc::now()),
                routing.may_rate(&i.channel_id.to_string(), &i.user.id.to_string()),
            )
        };
        let answer = match rating {
            None => json!({"type": 6}),
            Some(_) if !allowed => json!({"type": 4, "data": {
                "content": "Only the person who asked for help can rate this conversation.",
                "flags": 64,
            }}),
            Some(event) => match self.backend.ingest(&event).await {
                Ok(()) => {
                    let score = inbound::csat_score(&i.data.custom_id).unwrap_or_default();
                    json!({"type": 7, "data": {
                        "content": format!("{}\n\nThank you for rating us {score}/5.", i.message.content),
                        "components": [],
                        "allowed_mentions": {"parse": []},
                    }})
                }
                Err(e) => {
                    tracing::error!(interaction = %id, error = %e, "Could not store a CSAT rating.");
                    json!({"type": 4, "data": {
                        "content": "Sorry, your rating could not be saved. Please try again in a moment.",
                        "flags": 64,
                    }})
                }
            },
        };
        if let Err(e) = self.api.answer_interaction(&id, &i.token, &answer).await {
            tracing::warn!(interaction = %id, error = %e, "Could not answer a Discord button click.");
        }
    }
}

/// serenity's handler: queues what arrives for the worker.
struct Handler<B> {
    tx: mpsc::UnboundedSender<Work>,
    discord: Arc<Discord<B>>,
}

impl<B> Handler<B> {
    fn queue(&self, work: Work) {
        // The worker only goes away at shutdown.
        let _ = self.tx.send(work);
    }
}

#[async_trait]
impl<B: DiscordBackend> EventHandler for Handler<B> {
    async fn ready(&self, _: Context, ready: Ready) {
        tracing::info!(bot = %ready.user.name, guilds = ready.guilds.len(), "Connected to the Discord gateway.");
        self.queue(Work::CatchUp);
    }

    async fn resume(&self, _: Context, _: ResumedEvent) {
        tracing::info!("Resumed the Discord gateway session.");
        self.queue(Work::CatchUp);
    }

    async fn guild_create(&self, _: Context, guild: Guild, _: Option<bool>) {
        self.queue(Work::Guild(Box::new(guild)));
    }

    async fn thread_create(&self, _: Context, thread: GuildChannel) {
        self.queue(Work::Thread(Box::new(thread)));
    }

    async fn message(&self, _: Context, message: Message) {
        self.queue(Work::Message(Box::new(message)));
    }

    async fn message_update(
        &self,
        _: Context,
        _: Option<Message>,
        _: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        self.queue(Work::Edit(Box::new(event)));
    }

    async fn message_delete(
        &self,
        _: Context,
        channel: ChannelId,
        message: MessageId,
        guild: Option<GuildId>,
    ) {
        self.queue(Work::Delete {
            channel,
            message,
            guild,
        });
    }

    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        if let Interaction::Component(i) = interaction {
            self.discord.clicked(&i).await;
        }
    }
}

/// Keeps the gateway lease while the client runs, and stops the client at
/// shutdown or as soon as the lease is lost (another replica may already
/// be listening).
async fn hold(
    mut lease: Box<dyn crate::Leadership>,
    manager: Arc<serenity::gateway::ShardManager>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(LEASE_POLL) => {
                if !lease.alive().await {
                    tracing::warn!("Lost the Discord gateway lease; disconnecting.");
                    break;
                }
            }
        }
    }
    manager.shutdown_all().await;
}

/// The held items due at `now`, with everything held that sorts before
/// the last of them, in order; the rest stay held.
fn release(held: &mut Vec<(tokio::time::Instant, Work)>, now: tokio::time::Instant) -> Vec<Work> {
    let Some(upto) = held
        .iter()
        .filter(|(at, _)| *at + SETTLE <= now)
        .map(|(_, w)| w.order())
        .max()
    else {
        return Vec::new();
    };
    let (mut go, stay): (Vec<_>, Vec<_>) = held.drain(..).partition(|(_, w)| w.order() <= upto);
    *held = stay;
    go.sort_by_key(|(_, w)| w.order());
    go.into_iter().map(|(_, w)| w).collect()
}
