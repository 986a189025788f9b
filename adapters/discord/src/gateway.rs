//! The gateway connection (serenity's client), what arrives on it, and the
//! catch-up that makes a restart or reconnect lose nothing.
//!
//! serenity runs each event handler in its own task, so two messages sent
//! a moment apart can reach the handlers in either order. Handlers only
//! queue what arrived; one worker drains the queue, puts each batch in
//! Discord's order (snowflakes grow with time) and stores the events one
//! by one. The catch-up runs on the same worker, so history read after a
//! reconnect is stored before what arrives live, and duplicates between
//! the two are dropped by the store's event-id dedupe.

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

/// How long the worker lets a burst of handler tasks land before ordering
/// it.
const SETTLE: Duration = Duration::from_millis(20);
/// At most this many support-channel posts are read back per channel.
const CHANNEL_CATCH_UP: u8 = 50;
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
    fn order(&self) -> (u8, u64, u8) {
        match self {
            Work::CatchUp | Work::Guild(_) | Work::Thread(_) => (0, 0, 0),
            Work::Message(m) => (1, m.id.get(), 0),
            Work::Edit(e) => (1, e.id.get(), 1),
            Work::Delete { message, .. } => (1, message.get(), 2),
        }
    }
}

/// Discord's side of handoff: the gateway client and the catch-up.
#[derive(Debug)]
pub struct Discord<B> {
    backend: B,
    api: DiscordApi,
    settings: Arc<DiscordSettings>,
    routing: Mutex<Routing>,
    /// Guild channels known not to be support threads (saves asking again).
    elsewhere: Mutex<HashSet<String>>,
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
        while !self.shutdown.is_cancelled() {
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
                    let manager = Arc::clone(&client.shard_manager);
                    let stop = self.shutdown.clone();
                    let watcher = tokio::spawn(async move {
                        stop.cancelled().await;
                        manager.shutdown_all().await;
                    });
                    if let Err(e) = client.start().await {
                        tracing::error!(error = %e, "The Discord gateway connection failed.");
                    } else {
                        backoff = Duration::from_secs(1);
                    }
                    watcher.abort();
                }
                Err(e) => tracing::error!(error = %e, "Could not set up the Discord client."),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.shutdown.cancelled() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(300));
        }
        drop(tx);
        let _ = worker.await;
        tracing::info!("Discord gateway stopped.");
    }

    /// Takes queued work in Discord's order, one batch at a time.
    async fn work(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Work>) {
        while let Some(first) = rx.recv().await {
            tokio::time::sleep(SETTLE).await;
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            batch.sort_by_key(Work::order);
            for work in batch {
                self.handle(work).await;
            }
        }
    }

    async fn handle(&self, work: Work) {
        let now = Utc::now();
        match work {
            Work::CatchUp => self.catch_up().await,
            Work::Guild(guild) => self.catch_up_guild(&guild).await,
            Work::Thread(t) => {
                if let Some(parent) = t.parent_id {
                    self.routing()
                        .add_thread(&t.id.to_string(), &parent.to_string());
                }
            }
            Work::Message(m) => {
                if m.guild_id.is_some() {
                    self.learn_channel(&m.channel_id.to_string()).await;
                    self.warn_if_content_withheld(&m);
                }
                let event = inbound::message(&m, &self.routing(), now);
                if let Some(event) = event {
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

    /// Stores an event, trying a few times; what still fails is read again
    /// from the channel's history at the next catch-up.
    async fn store(&self, event: &InboundEvent) {
        let mut wait = Duration::from_millis(200);
        for attempt in 1..=5 {
            match self.backend.ingest(event).await {
                Ok(()) => return,
                Err(e) if attempt < 5 => {
                    tracing::warn!(event_id = %event.event_id, attempt, error = %e, "Storing a Discord event failed; trying again.");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    tracing::error!(event_id = %event.event_id, error = %e, "Storing a Discord event failed; it will be read again at the next catch-up.");
                }
            }
        }
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
        match self.api.get(&format!("/channels/{channel}")).await {
            Ok(c) => {
                let parent = c["parent_id"].as_str().unwrap_or_default();
                let mut routing = self.routing();
                routing.add_thread(channel, parent);
                if !routing.threads.contains_key(channel) {
                    self.elsewhere
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(channel.to_owned());
                }
            }
            Err(e) => tracing::warn!(channel, error = %e, "Could not look up a Discord channel."),
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
        let (channels, threads): (Vec<String>, Vec<String>) = {
            let mut routing = self.routing();
            for t in &guild.threads {
                if let Some(parent) = t.parent_id {
                    routing.add_thread(&t.id.to_string(), &parent.to_string());
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
                .filter(|t| routing.threads.get(t).is_some_and(|p| !p.is_empty()))
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
        let page = match self.api.messages(channel, after, limit).await {
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
            let event = inbound::message(&m, &self.routing(), Utc::now());
            if let Some(event) = event {
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
        let rating = inbound::rating(i, &self.routing(), Utc::now());
        let answer = match rating {
            None => json!({"type": 6}),
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
