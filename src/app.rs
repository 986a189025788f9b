//! Wiring: builds the running parts from config and a store, runs them
//! until shutdown, and stops them in order (stop accepting, finish
//! in-flight deliveries, exit).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::channels::{DiscordBridge, InboxBridge, SlackBridge, TeamsBridge, WebchatBridge};
use crate::clock::Clock;
use crate::config::Config;
use crate::engine::{AgentDirectory, Engine};
use crate::escalation::Intelligence;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::outbox::{Adapters, OutboxWorker};
use crate::render::Notices;
use crate::sla::SlaPolicy;
use crate::store::{Store, StoreError};
use crate::transcript::TranscriptLinks;
use handoff_core::Platform;
use handoff_inbox::{Inbox, InboxAdapter, InboxAgent, InboxSettings};
use handoff_slack::{Slack, SlackAdapter, SlackApi};
use handoff_webchat::{Webchat, WebchatAdapter};

/// Why `serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be prepared.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration cannot be built into rules.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// A random key generated on first use and kept in the database, so what
/// it signs stays valid across restarts and replicas.
async fn stored_key<S: Store>(store: &S, name: &str) -> Result<String, AppError> {
    let fresh = {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    Ok(store.setting(name, &fresh).await?)
}

/// The inbox's agents and its cookie key (generated once, kept in the
/// database so sign-ins survive restarts and work across replicas).
async fn inbox_settings<S: Store>(store: &S, config: &Config) -> Result<InboxSettings, AppError> {
    let key = stored_key(store, "inbox_cookie_key").await?;
    let agents = config
        .agents
        .iter()
        .filter_map(|a| {
            Some(InboxAgent {
                id: a.id.clone(),
                login: a.inbox_login.clone()?,
                name: a.name.clone(),
                password_hash: a.password_hash.clone()?,
            })
        })
        .collect();
    Ok(InboxSettings {
        agents,
        cookie_key: key.into_bytes(),
        session_hours: 12,
        secure_cookie: config.public_url.starts_with("https://"),
        intents: config.analysis.intent_names(),
    })
}

/// How often the unanswered-message timer looks for waiting customers.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// How often due SLA timers are looked for (their unit is minutes).
const TIMERS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs handoff on an already bound listener until `shutdown` fires.
/// Migrations are applied first, so `/readyz` is green once it answers.
pub async fn serve<S: Store>(
    store: S,
    config: &Config,
    adapters: Adapters,
    listener: TcpListener,
    clock: Clock,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    store.migrate().await?;
    let intel = Arc::new(Intelligence::new(config).map_err(|e| AppError::Config(e.to_string()))?);
    let metrics = Arc::new(Metrics::default());
    let outbox_wake = Arc::new(Notify::new());
    let links = TranscriptLinks::new(
        stored_key(&store, "transcript_key").await?,
        &config.public_url,
        chrono::Duration::hours(i64::from(config.transcripts.expire_hours)),
    );
    let engine = Arc::new(
        Engine::new(
            store.clone(),
            clock.clone(),
            Arc::clone(&metrics),
            AgentDirectory::new(&config.agents),
            intel,
            config.relay.clone(),
            Arc::clone(&outbox_wake),
        )
        .with_transcripts(links)
        .with_sla(SlaPolicy::new(&config.sla))
        .with_reactions(Platform::Slack, config.slack_reactions())
        // Teams has no reactions for bots; the adapter shows a receipt as
        // a short reply, and a card's buttons do what reactions would.
        .with_reactions(
            Platform::Teams,
            crate::engine::TeamReactions {
                actions: Default::default(),
                delivered: handoff_teams::adapter::DELIVERED.into(),
                failed: handoff_teams::adapter::FAILED.into(),
            },
        )
        .with_notices(
            Notices::load(config.templates.dir.as_deref())
                .map_err(|e| AppError::Config(e.to_string()))?,
        ),
    );
    let mut adapters = adapters;
    let chat = Arc::new(
        Webchat::new(
            WebchatBridge::new(Arc::clone(&engine)),
            config.webchat.settings(&config.secrets),
        )
        .with_shutdown(shutdown.clone()),
    );
    adapters.register(Arc::new(WebchatAdapter::new(Arc::clone(&chat))));
    let inbox = Arc::new(
        Inbox::new(
            InboxBridge::new(Arc::clone(&engine)),
            inbox_settings(&store, config).await?,
        )
        .with_shutdown(shutdown.clone()),
    );
    adapters.register(Arc::new(InboxAdapter::new(Arc::clone(&inbox))));
    let mut router = http::router(AppState {
        engine: Arc::clone(&engine),
        metrics: Arc::clone(&metrics),
    })
    .merge(handoff_webchat::routes(chat))
    .merge(handoff_inbox::routes(inbox));
    let mut socket_mode = None;
    match config.slack_settings() {
        Some(settings) => {
            let settings = Arc::new(settings);
            let api = SlackApi::new(
                &settings.api_url,
                &settings.bot_token,
                settings.app_token.as_deref(),
            )
            .map_err(|e| AppError::Config(e.to_string()))?;
            adapters.register(Arc::new(
                SlackAdapter::new(api.clone(), Arc::clone(&settings))
                    .map_err(|e| AppError::Config(e.to_string()))?,
            ));
            let slack = Arc::new(
                Slack::new(
                    SlackBridge::new(Arc::clone(&engine)),
                    api,
                    Arc::clone(&settings),
                )
                .with_shutdown(shutdown.clone()),
            );
            router = router.merge(handoff_slack::routes(Arc::clone(&slack)));
            socket_mode = Some(tokio::spawn(async move {
                // In the background: a slow Slack must not hold up start-up.
                slack.connect().await;
                if settings.app_token.is_some() {
                    slack.run_socket_mode().await;
                }
            }));
        }
        None if !config.slack_channels().is_empty() => {
            return Err(AppError::Config(format!(
                "routes send cards to the Slack channels {} but SLACK_BOT_TOKEN is not set",
                config.slack_channels().join(", ")
            )));
        }
        None => {}
    }
    match config.teams_settings() {
        Some(settings) => {
            if settings.tenants.is_empty() {
                tracing::warn!(
                    "[teams] tenants is empty: activities from any Microsoft tenant are taken. Set it to your tenant id."
                );
            }
            let settings = Arc::new(settings);
            let http = handoff_teams::api::client().map_err(|e| AppError::Config(e.to_string()))?;
            let bridge = Arc::new(TeamsBridge::new(Arc::clone(&engine)));
            adapters.register(Arc::new(
                handoff_teams::TeamsAdapter::new(
                    handoff_teams::TeamsApi::new(http.clone(), &settings),
                    Arc::clone(&settings),
                    bridge as Arc<dyn handoff_teams::http::ServiceUrls>,
                )
                .map_err(|e| AppError::Config(e.to_string()))?,
            ));
            let teams =
                handoff_teams::Teams::new(TeamsBridge::new(Arc::clone(&engine)), http, settings)
                    .map_err(|e| AppError::Config(e.to_string()))?;
            router = router.merge(handoff_teams::routes(Arc::new(teams)));
        }
        None if !config.teams_channels().is_empty() => {
            return Err(AppError::Config(format!(
                "routes send cards to the Teams channels {} but TEAMS_APP_ID and TEAMS_APP_PASSWORD are not both set",
                config.teams_channels().join(", ")
            )));
        }
        None => {}
    }
    let discord = match config.discord_settings() {
        Some(settings) => {
            let settings = Arc::new(settings);
            let api = handoff_discord::DiscordApi::new(&settings.api_url, &settings.token)
                .map_err(|e| AppError::Config(e.to_string()))?;
            adapters.register(Arc::new(handoff_discord::DiscordAdapter::new(api.clone())));
            let gateway = Arc::new(
                handoff_discord::Discord::new(
                    DiscordBridge::new(Arc::clone(&engine)),
                    api,
                    settings,
                )
                .with_shutdown(shutdown.clone()),
            );
            Some(tokio::spawn(gateway.run()))
        }
        None => {
            if !config.discord.support_channels.is_empty() {
                tracing::warn!(
                    "[discord] support_channels are set but DISCORD_TOKEN is not: Discord stays off."
                );
            }
            None
        }
    };
    let worker = OutboxWorker::new(
        store.clone(),
        Arc::new(adapters),
        config.outbox.settings(),
        clock,
        Arc::clone(&metrics),
        outbox_wake,
    )
    .with_unreachable(Arc::clone(&engine) as Arc<dyn crate::outbox::Unreachable>);
    let worker = tokio::spawn(worker.run(shutdown.clone()));
    let processor = {
        let engine = Arc::clone(&engine);
        let shutdown = shutdown.clone();
        tokio::spawn(async move { engine.run_processor(shutdown).await })
    };
    let sweeper = {
        let engine = Arc::clone(&engine);
        let shutdown = shutdown.clone();
        tokio::spawn(async move { engine.run_sweeper(SWEEP_EVERY, shutdown).await })
    };
    let timers = {
        let engine = Arc::clone(&engine);
        let shutdown = shutdown.clone();
        tokio::spawn(async move { engine.run_timers(TIMERS_EVERY, shutdown).await })
    };
    tracing::info!(
        address = %listener.local_addr()?,
        store = store.backend(),
        "handoff is listening."
    );
    let served = http::serve(listener, router, shutdown.clone()).await;
    // However the server ended, stop the loops and wait for the worker to
    // record the deliveries it has in flight.
    shutdown.cancel();
    let _ = processor.await;
    let _ = sweeper.await;
    let _ = timers.await;
    if let Some(socket_mode) = socket_mode {
        let _ = socket_mode.await;
    }
    if let Some(discord) = discord {
        let _ = discord.await;
    }
    let _ = worker.await;
    tracing::info!("handoff stopped.");
    Ok(served?)
}
