//! One typed configuration: defaults, then `handoff.toml`, then environment.
//!
//! Non-secret settings can come from the file or from `HANDOFF_*` variables
//! (`HANDOFF_LISTEN`, `HANDOFF_OUTBOX__MAX_ATTEMPTS` for `outbox.max_attempts`:
//! a double underscore descends into a table). Secrets come only from the
//! environment, under the platforms' usual names, and are held in
//! [`Secret`], which never prints its value.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::analysis::entities::{EntityKind, RedactionPolicy};
use crate::analysis::intent::{self, IntentSpec};
use crate::analysis::llm::LlmConfig;
use crate::analysis::{self, AnalyzerSettings};
use crate::outbox::OutboxSettings;
use crate::routing::{Route, RoutingConfig};
use crate::triggers::{self, TriggerRule, Triggers};

/// A configuration problem, always naming the key (or file) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file, or the file with the environment applied, does not fit the schema.
    #[error("invalid configuration in {origin}: {message}")]
    Parse {
        /// Where the bad value came from.
        origin: String,
        /// The parser's message, which names the key.
        message: String,
    },
    /// A value parsed but makes no sense.
    #[error("invalid configuration: `{key}` {problem}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// A secret value. `Debug` and `Display` print `***`, so a secret can sit
/// in any struct that is logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Secrets, read from the environment only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// `DATABASE_URL`: unset means `sqlite://handoff.db`.
    pub database_url: Option<Secret>,
    /// `SLACK_BOT_TOKEN` (xoxb-…).
    pub slack_bot_token: Option<Secret>,
    /// `SLACK_SIGNING_SECRET`, to verify Events API requests.
    pub slack_signing_secret: Option<Secret>,
    /// `SLACK_APP_TOKEN` (xapp-…), for Socket Mode.
    pub slack_app_token: Option<Secret>,
    /// `DISCORD_TOKEN`.
    pub discord_token: Option<Secret>,
    /// `TEAMS_APP_ID` (not secret, but set beside its password).
    pub teams_app_id: Option<String>,
    /// `TEAMS_APP_PASSWORD`.
    pub teams_app_password: Option<Secret>,
    /// `LLM_API_KEY`, for the optional summary enrichment.
    pub llm_api_key: Option<Secret>,
    /// `WEBCHAT_IDENTITY_SECRET`: host sites sign their logged-in users'
    /// identity with it; without it no identity claim is trusted.
    pub webchat_identity_secret: Option<Secret>,
}

impl Secrets {
    fn from_env(env: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let secret = |k: &str| get(k).map(Secret);
        Secrets {
            database_url: secret("DATABASE_URL"),
            slack_bot_token: secret("SLACK_BOT_TOKEN"),
            slack_signing_secret: secret("SLACK_SIGNING_SECRET"),
            slack_app_token: secret("SLACK_APP_TOKEN"),
            discord_token: secret("DISCORD_TOKEN"),
            teams_app_id: get("TEAMS_APP_ID"),
            teams_app_password: secret("TEAMS_APP_PASSWORD"),
            llm_api_key: secret("LLM_API_KEY"),
            webchat_identity_secret: secret("WEBCHAT_IDENTITY_SECRET"),
        }
    }

    /// Each secret's variable and whether it is set, in display order.
    pub fn presence(&self) -> [(&'static str, bool); 9] {
        [
            ("DATABASE_URL", self.database_url.is_some()),
            ("SLACK_BOT_TOKEN", self.slack_bot_token.is_some()),
            ("SLACK_SIGNING_SECRET", self.slack_signing_secret.is_some()),
            ("SLACK_APP_TOKEN", self.slack_app_token.is_some()),
            ("DISCORD_TOKEN", self.discord_token.is_some()),
            ("TEAMS_APP_ID", self.teams_app_id.is_some()),
            ("TEAMS_APP_PASSWORD", self.teams_app_password.is_some()),
            ("LLM_API_KEY", self.llm_api_key.is_some()),
            (
                "WEBCHAT_IDENTITY_SECRET",
                self.webchat_identity_secret.is_some(),
            ),
        ]
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter (`info`, `handoff=debug,sqlx=warn`); `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// `[database]` (the URL itself is the `DATABASE_URL` secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
        }
    }
}

/// `[outbox]`: delivery pacing. See [`OutboxSettings`] for each field's role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Commands taken (and delivered concurrently) per round.
    pub batch_size: i64,
    /// Seconds a taken command is reserved for one worker.
    pub lease_secs: u64,
    /// Attempts before a command is given up (rate limits do not count).
    pub max_attempts: u32,
    /// First retry delay in milliseconds, doubled per attempt.
    pub backoff_base_ms: u64,
    /// Longest retry delay in seconds.
    pub backoff_max_secs: u64,
    /// Milliseconds between looks for due commands when idle.
    pub poll_interval_ms: u64,
    /// Seconds one platform call may take.
    pub delivery_timeout_secs: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        let s = OutboxSettings::default();
        Self {
            batch_size: s.batch_size,
            lease_secs: s.lease.as_secs(),
            max_attempts: s.max_attempts,
            backoff_base_ms: u64::try_from(s.backoff_base.as_millis()).unwrap_or(u64::MAX),
            backoff_max_secs: s.backoff_max.as_secs(),
            poll_interval_ms: u64::try_from(s.poll_interval.as_millis()).unwrap_or(u64::MAX),
            delivery_timeout_secs: s.delivery_timeout.as_secs(),
        }
    }
}

impl OutboxConfig {
    /// The worker's settings.
    pub fn settings(&self) -> OutboxSettings {
        OutboxSettings {
            batch_size: self.batch_size,
            lease: Duration::from_secs(self.lease_secs),
            max_attempts: self.max_attempts,
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_max: Duration::from_secs(self.backoff_max_secs),
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            delivery_timeout: Duration::from_secs(self.delivery_timeout_secs),
        }
    }
}

/// `[[agents]]`: one person across every team-side surface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The stable key (`alice`), used for ownership and metrics.
    pub id: String,
    /// The name shown to customers and colleagues. Left out, a Slack
    /// agent is shown by their Slack display name.
    #[serde(default)]
    pub name: String,
    /// Slack user id (`U…`), if they work in Slack.
    #[serde(default)]
    pub slack_user: Option<String>,
    /// Teams AAD object id, if they work in Teams.
    #[serde(default)]
    pub teams_user: Option<String>,
    /// Inbox login, if they use the built-in inbox.
    #[serde(default)]
    pub inbox_login: Option<String>,
    /// Argon2 hash (PHC string) of their inbox password; `handoff agent
    /// add` writes it. Without one they cannot sign in to the inbox.
    #[serde(default)]
    pub password_hash: Option<String>,
}

impl AgentConfig {
    /// The name team-side menus show: the configured one, else the key.
    pub fn shown_name(&self) -> String {
        if self.name.trim().is_empty() {
            self.id.clone()
        } else {
            self.name.clone()
        }
    }
}

/// `[webchat]`: the customer-side widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebchatConfig {
    /// The widget's title.
    pub title: String,
    /// Shown above a new conversation; empty for none.
    pub greeting: String,
    /// Longest customer message, in characters.
    pub max_message_chars: usize,
    /// Messages one visitor may send per minute.
    pub messages_per_minute: u32,
    /// New chat sessions one address may start per hour.
    pub sessions_per_ip_per_hour: u32,
    /// Count the first `X-Forwarded-For` address instead of the peer (only
    /// behind a proxy you run, or visitors can pick their address).
    pub trust_forwarded_for: bool,
}

impl Default for WebchatConfig {
    fn default() -> Self {
        let d = handoff_webchat::WebchatSettings::default();
        Self {
            title: d.title,
            greeting: d.greeting.unwrap_or_default(),
            max_message_chars: d.max_message_chars,
            messages_per_minute: d.messages_per_minute,
            sessions_per_ip_per_hour: d.sessions_per_ip_per_hour,
            trust_forwarded_for: d.trust_forwarded_for,
        }
    }
}

impl WebchatConfig {
    /// The widget's settings, with the identity secret from the environment.
    pub fn settings(&self, secrets: &Secrets) -> handoff_webchat::WebchatSettings {
        handoff_webchat::WebchatSettings {
            max_message_chars: self.max_message_chars,
            messages_per_minute: self.messages_per_minute,
            sessions_per_ip_per_hour: self.sessions_per_ip_per_hour,
            identity_secret: secrets
                .webchat_identity_secret
                .as_ref()
                .map(|s| s.expose().as_bytes().to_vec()),
            greeting: Some(self.greeting.clone()).filter(|g| !g.trim().is_empty()),
            title: self.title.clone(),
            trust_forwarded_for: self.trust_forwarded_for,
            ..handoff_webchat::WebchatSettings::default()
        }
    }
}

/// What a reaction on a card does (`[slack.reactions]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardReaction {
    /// Claim the case.
    Claim,
    /// Release it.
    Release,
    /// Resolve it.
    Resolve,
}

impl CardReaction {
    /// The same as the card's button.
    pub fn case_action(self) -> handoff_core::CaseAction {
        match self {
            CardReaction::Claim => handoff_core::CaseAction::Claim,
            CardReaction::Release => handoff_core::CaseAction::Release,
            CardReaction::Resolve => handoff_core::CaseAction::Resolve,
        }
    }
}

/// `[slack]`: Slack as a team side. It is on when `SLACK_BOT_TOKEN` is
/// set; events come over the Events API (`SLACK_SIGNING_SECRET`) and, when
/// `SLACK_APP_TOKEN` is set, over Socket Mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// The Web API base URL (Socket Mode's connection is opened through it
    /// too), without a trailing slash.
    pub api_url: String,
    /// Reaction name (no colons) -> what it does on a card.
    pub reactions: BTreeMap<String, CardReaction>,
    /// Added to an agent's reply once it reached the customer.
    pub delivered_reaction: String,
    /// Added to an agent's reply that could not be delivered.
    pub failed_reaction: String,
    /// Socket Mode connections kept open (a second one covers the first
    /// one's reconnects).
    pub socket_connections: u32,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            api_url: "https://slack.com/api".into(),
            reactions: BTreeMap::from([
                ("eyes".to_owned(), CardReaction::Claim),
                ("white_check_mark".to_owned(), CardReaction::Resolve),
            ]),
            delivered_reaction: "incoming_envelope".into(),
            failed_reaction: "warning".into(),
            socket_connections: 2,
        }
    }
}

/// `[discord]`: Discord as a customer side. It is on when `DISCORD_TOKEN`
/// is set: customers DM the bot, or post in a support channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Discord's base URL; REST is under `/api/v10`, and the gateway's
    /// address is asked from there.
    pub api_url: String,
    /// Text or forum channel ids where customers post publicly; each
    /// post continues in its own thread.
    pub support_channels: Vec<String>,
    /// Discord user ids treated as VIP.
    pub vip_users: Vec<String>,
    /// Role ids whose members are treated as VIP.
    pub vip_roles: Vec<String>,
    /// How many days back a restart reads conversations' history.
    pub catch_up_days: u32,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            api_url: "https://discord.com".into(),
            support_channels: Vec::new(),
            vip_users: Vec::new(),
            vip_roles: Vec::new(),
            catch_up_days: 7,
        }
    }
}

/// `[teams]`: Microsoft Teams as a team side. It is on when `TEAMS_APP_ID`
/// and `TEAMS_APP_PASSWORD` are set: cards go to routes' `teams_channel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamsConfig {
    /// Bot Framework's OpenID metadata, which names the keys incoming
    /// tokens are checked against.
    pub openid_url: String,
    /// The OAuth2 token endpoint; when empty, Bot Framework's multi-tenant
    /// one, or the tenant's own when `tenant_id` is set.
    pub token_url: String,
    /// The Azure AD tenant of a single-tenant bot.
    pub tenant_id: Option<String>,
    /// The Entra tenant ids whose Teams may talk to handoff (usually your
    /// own one). Empty: `tenant_id` alone when set, else any tenant, which
    /// lets anyone who installs an app naming the bot press its buttons.
    pub tenants: Vec<String>,
    /// Where cards are posted before any activity from Teams has named the
    /// tenant's service URL (handoff learns and keeps it after that).
    pub service_url: String,
}

impl Default for TeamsConfig {
    fn default() -> Self {
        Self {
            openid_url: handoff_teams::DEFAULT_OPENID_URL.into(),
            token_url: String::new(),
            tenant_id: None,
            tenants: Vec::new(),
            service_url: handoff_teams::DEFAULT_SERVICE_URL.into(),
        }
    }
}

impl TeamsConfig {
    /// The token endpoint in force.
    pub fn token_endpoint(&self) -> String {
        match (&self.token_url, &self.tenant_id) {
            (url, _) if !url.is_empty() => url.clone(),
            (_, Some(tenant)) => {
                format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
            }
            _ => handoff_teams::DEFAULT_TOKEN_URL.into(),
        }
    }
}

/// `[relay]`: what agents' messages reach the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// A reply starting with this is an internal note, whoever writes it.
    pub note_prefix: String,
    /// What a reply from someone who does not own the case is: `note`
    /// (never reaches the customer) or `relay` (sent like the owner's).
    pub non_owner_replies: NonOwnerReplies,
}

/// See [`RelayConfig::non_owner_replies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NonOwnerReplies {
    /// Internal note.
    #[default]
    Note,
    /// Sent to the customer.
    Relay,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            note_prefix: "//".into(),
            non_owner_replies: NonOwnerReplies::Note,
        }
    }
}

/// `[transcripts]`: the signed links on cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscriptConfig {
    /// How long a link works after the card showing it was last rendered.
    pub expire_hours: u32,
}

impl Default for TranscriptConfig {
    fn default() -> Self {
        Self { expire_hours: 168 }
    }
}

/// `[templates]`: where a team's own wording lives.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// A folder of `.hbs` files replacing the built-in notices of the same
    /// name (`escalating.hbs`, `joined.hbs`…; see `templates/README.md`).
    pub dir: Option<std::path::PathBuf>,
}

/// `[sla]`: the timers that keep a case from being forgotten. 0 turns one
/// off. They are stored rows, so they survive restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// An unclaimed case is announced again in its thread (with the route's
    /// mention) and the customer is told they are still in the queue.
    pub reannounce_after_minutes: u32,
    /// An unclaimed case moves to its route's `escalate_to` route (or
    /// becomes urgent with the mention, when the route names none).
    pub escalate_after_minutes: u32,
    /// The owner is reminded when the customer has waited this long for an
    /// answer on a claimed case.
    pub remind_owner_after_minutes: u32,
    /// Each route's escalation target (`[sla.escalate_to] support =
    /// "tier2"`). A route not listed stays where it is and becomes urgent.
    pub escalate_to: std::collections::BTreeMap<String, String>,
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self {
            reannounce_after_minutes: 10,
            escalate_after_minutes: 30,
            remind_owner_after_minutes: 15,
            escalate_to: std::collections::BTreeMap::new(),
        }
    }
}

impl SlaConfig {
    fn minutes(m: u32) -> Option<chrono::Duration> {
        (m > 0).then(|| chrono::Duration::minutes(i64::from(m)))
    }

    /// The re-announce delay, if on.
    pub fn reannounce(&self) -> Option<chrono::Duration> {
        Self::minutes(self.reannounce_after_minutes)
    }

    /// The escalation delay, if on.
    pub fn escalate(&self) -> Option<chrono::Duration> {
        Self::minutes(self.escalate_after_minutes)
    }

    /// The owner reminder delay, if on.
    pub fn remind_owner(&self) -> Option<chrono::Duration> {
        Self::minutes(self.remind_owner_after_minutes)
    }
}

/// `[analysis]`: the intent taxonomy, sentiment names and redaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// True: `intents` replaces the default taxonomy; false: it extends it
    /// (an intent with a default's name adds keywords and examples to it).
    pub replace_intents: bool,
    /// The team's intents (`[[analysis.intents]]`).
    pub intents: Vec<IntentSpec>,
    /// The intent reported when the classifier is unsure.
    pub fallback_intent: String,
    /// Below this confidence (0..1) the fallback intent is reported.
    pub min_intent_confidence: f32,
    /// Brand and product names that are not opinions ("United", "Acme").
    pub neutral_words: Vec<String>,
    /// Entity kinds masked before text reaches team chat or the LLM.
    /// Card numbers are masked whatever this says.
    pub redact: Vec<EntityKind>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            replace_intents: false,
            intents: Vec::new(),
            fallback_intent: analysis::DEFAULT_FALLBACK_INTENT.to_owned(),
            min_intent_confidence: analysis::DEFAULT_MIN_INTENT_CONFIDENCE,
            neutral_words: Vec::new(),
            redact: vec![EntityKind::CardNumber],
        }
    }
}

impl AnalysisConfig {
    /// The taxonomy's intent names, for menus that correct an intent.
    pub fn intent_names(&self) -> Vec<String> {
        intent::merged_names(&self.intents, self.replace_intents)
    }

    /// The analyser's settings, with the taxonomy merged.
    pub fn settings(&self) -> AnalyzerSettings {
        AnalyzerSettings {
            intents: intent::merge_taxonomy(&self.intents, self.replace_intents),
            fallback_intent: self.fallback_intent.clone(),
            min_intent_confidence: self.min_intent_confidence,
            neutral_words: self.neutral_words.clone(),
            redaction: RedactionPolicy::new(self.redact.iter().copied()),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds (`127.0.0.1:8080`).
    pub listen: String,
    /// The URL people reach handoff at, for transcript links.
    pub public_url: String,
    /// Logging.
    pub log: LogConfig,
    /// Database pool.
    pub database: DatabaseConfig,
    /// Outbound delivery.
    pub outbox: OutboxConfig,
    /// The team.
    pub agents: Vec<AgentConfig>,
    /// Sentiment, intent, entities, redaction.
    pub analysis: AnalysisConfig,
    /// Optional LLM summary enrichment.
    pub llm: LlmConfig,
    /// Escalation rules (`[[triggers]]`); setting any replaces the defaults.
    pub triggers: Vec<TriggerRule>,
    /// Where cases go.
    pub routing: RoutingConfig,
    /// The web chat widget.
    pub webchat: WebchatConfig,
    /// Agent replies and internal notes.
    pub relay: RelayConfig,
    /// Slack as a team side.
    pub slack: SlackConfig,
    /// Discord as a customer side.
    pub discord: DiscordConfig,
    /// Microsoft Teams as a team side.
    pub teams: TeamsConfig,
    /// Transcript links.
    pub transcripts: TranscriptConfig,
    /// Timers on unclaimed and unanswered cases.
    pub sla: SlaConfig,
    /// Notice wording.
    pub templates: TemplatesConfig,
    /// Secrets from the environment; never serialised.
    #[serde(skip)]
    pub secrets: Secrets,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            log: LogConfig::default(),
            database: DatabaseConfig::default(),
            outbox: OutboxConfig::default(),
            agents: Vec::new(),
            analysis: AnalysisConfig::default(),
            llm: LlmConfig::default(),
            triggers: triggers::default_rules(),
            routing: RoutingConfig::default(),
            webchat: WebchatConfig::default(),
            relay: RelayConfig::default(),
            slack: SlackConfig::default(),
            discord: DiscordConfig::default(),
            teams: TeamsConfig::default(),
            transcripts: TranscriptConfig::default(),
            sla: SlaConfig::default(),
            templates: TemplatesConfig::default(),
            secrets: Secrets::default(),
        }
    }
}

/// Variables with the `HANDOFF_` prefix that are not config keys.
const NOT_CONFIG_KEYS: [&str; 2] = ["HANDOFF_CONFIG", "HANDOFF_AGENT_PASSWORD"];

impl Config {
    /// Loads defaults, then `file` (if any), then `HANDOFF_*` variables and
    /// secrets from `env`, and validates the result.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse {
                        origin: path.display().to_string(),
                        message: e.to_string(),
                    })?
            }
            None => toml::Table::new(),
        };
        let mut from_env = Vec::new();
        for (var, value) in env {
            let Some(rest) = var.strip_prefix("HANDOFF_") else {
                continue;
            };
            if NOT_CONFIG_KEYS.contains(&var.as_str()) || rest.is_empty() {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            set_path(&mut table, &path, env_value(value)).map_err(|problem| {
                ConfigError::Invalid {
                    key: path.join("."),
                    problem: format!("{problem} (set by {var})"),
                }
            })?;
            from_env.push(var.clone());
        }
        let origin = match (file, from_env.is_empty()) {
            (Some(p), true) => p.display().to_string(),
            (Some(p), false) => format!("{} with {}", p.display(), from_env.join(", ")),
            (None, false) => format!("the environment ({})", from_env.join(", ")),
            (None, true) => "the defaults".to_owned(),
        };
        // Deserialising the merged table (not text) makes the error end with
        // "in `outbox.max_attempts`", naming the key wherever it was set.
        let mut config =
            Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Parse {
                origin,
                message: e.to_string().trim_end().replace('\n', " "),
            })?;
        config.secrets = Secrets::from_env(env);
        config.validate()?;
        Ok(config)
    }

    /// The listen address, validated by [`Config::load`].
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| ConfigError::Invalid {
            key: "listen".into(),
            problem: format!("is not a socket address like 127.0.0.1:8080 ({e})"),
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: &str| ConfigError::Invalid {
            key: key.into(),
            problem: problem.into(),
        };
        self.listen_addr()?;
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(invalid("public_url", "must start with http:// or https://"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                "is not a tracing filter such as `info`",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        let o = &self.outbox;
        if !(1..=1000).contains(&o.batch_size) {
            return Err(invalid("outbox.batch_size", "must be between 1 and 1000"));
        }
        for (key, value) in [
            ("outbox.lease_secs", o.lease_secs),
            ("outbox.max_attempts", u64::from(o.max_attempts)),
            ("outbox.backoff_base_ms", o.backoff_base_ms),
            ("outbox.poll_interval_ms", o.poll_interval_ms),
            ("outbox.delivery_timeout_secs", o.delivery_timeout_secs),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if o.delivery_timeout_secs >= o.lease_secs {
            return Err(invalid(
                "outbox.lease_secs",
                "must be longer than outbox.delivery_timeout_secs, or a slow delivery would be taken twice",
            ));
        }
        if self.transcripts.expire_hours == 0 {
            return Err(invalid("transcripts.expire_hours", "must be at least 1"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            if a.id.trim().is_empty() {
                return Err(invalid(&format!("agents[{i}].id"), "must not be empty"));
            }
            if !seen.insert(&a.id) {
                return Err(invalid(
                    &format!("agents[{i}].id"),
                    &format!("repeats the agent id {:?}", a.id),
                ));
            }
        }
        self.validate_intelligence()
    }

    /// The taxonomy, triggers, routes and LLM settings: every name a rule
    /// uses must exist and every pattern must compile.
    fn validate_intelligence(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, problem: String| ConfigError::Invalid { key, problem };
        let a = &self.analysis;
        let mut names = Vec::new();
        for (i, spec) in a.intents.iter().enumerate() {
            if spec.name.trim().is_empty() {
                return Err(invalid(
                    format!("analysis.intents[{i}].name"),
                    "must not be empty".into(),
                ));
            }
            if a.replace_intents && spec.examples.is_empty() && spec.keywords.is_empty() {
                return Err(invalid(
                    format!("analysis.intents[{i}]"),
                    format!("({:?}) needs examples or keywords to learn from", spec.name),
                ));
            }
        }
        for name in a.intent_names() {
            if names.contains(&name) {
                return Err(invalid(
                    "analysis.intents".into(),
                    format!("repeats the intent {name:?}"),
                ));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(invalid(
                "analysis.intents".into(),
                "replaces the taxonomy with nothing".into(),
            ));
        }
        if !names.contains(&a.fallback_intent) {
            return Err(invalid(
                "analysis.fallback_intent".into(),
                format!(
                    "names the unknown intent {:?} (known: {})",
                    a.fallback_intent,
                    names.join(", ")
                ),
            ));
        }
        if !(0.0..=1.0).contains(&a.min_intent_confidence) {
            return Err(invalid(
                "analysis.min_intent_confidence".into(),
                "must be between 0 and 1".into(),
            ));
        }
        Triggers::new(&self.triggers, &names).map_err(|e| invalid(e.key, e.problem))?;
        self.routing
            .validate(&names)
            .map_err(|e| invalid(e.key, e.problem))?;
        for (from, to) in &self.sla.escalate_to {
            for name in [from, to] {
                if !self.routing.knows(name) {
                    return Err(invalid(
                        format!("sla.escalate_to.{from}"),
                        format!("names the unknown route {name:?}"),
                    ));
                }
            }
        }
        if let Some(url) = &self.llm.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "llm.base_url".into(),
                "must start with http:// or https://".into(),
            ));
        }
        if self.llm.timeout_ms == 0 {
            return Err(invalid(
                "llm.timeout_ms".into(),
                "must be at least 1".into(),
            ));
        }
        self.validate_slack()?;
        self.validate_teams()?;
        self.validate_discord()
    }

    fn validate_discord(&self) -> Result<(), ConfigError> {
        let d = &self.discord;
        let invalid = |key: &str, problem: &str| ConfigError::Invalid {
            key: key.to_owned(),
            problem: problem.to_owned(),
        };
        if !(d.api_url.starts_with("http://") || d.api_url.starts_with("https://")) {
            return Err(invalid(
                "discord.api_url",
                "must start with http:// or https://",
            ));
        }
        if !(1..=90).contains(&d.catch_up_days) {
            return Err(invalid("discord.catch_up_days", "must be between 1 and 90"));
        }
        let ids = [
            ("discord.support_channels", &d.support_channels),
            ("discord.vip_users", &d.vip_users),
            ("discord.vip_roles", &d.vip_roles),
        ];
        for (key, list) in ids {
            if let Some(bad) = list
                .iter()
                .find(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(invalid(
                    key,
                    &format!(
                        "{bad:?} is not a Discord id (digits only; Developer Mode -> Copy ID)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_teams(&self) -> Result<(), ConfigError> {
        let t = &self.teams;
        // An empty token_url means "the default for the tenant".
        let urls = [
            ("teams.openid_url", t.openid_url.as_str()),
            ("teams.service_url", t.service_url.as_str()),
            ("teams.token_url", t.token_url.as_str()),
        ];
        for (key, url) in urls {
            let optional = key == "teams.token_url" && url.is_empty();
            if !(optional || url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    problem: "must start with http:// or https://".into(),
                });
            }
        }
        if let Some(tenant) = &t.tenant_id
            && (tenant.is_empty()
                || !tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        {
            return Err(ConfigError::Invalid {
                key: "teams.tenant_id".into(),
                problem: "must be a tenant id (a GUID) or domain".into(),
            });
        }
        Ok(())
    }

    /// The Teams side's settings; none without `TEAMS_APP_ID` and
    /// `TEAMS_APP_PASSWORD`.
    pub fn teams_settings(&self) -> Option<handoff_teams::TeamsSettings> {
        let app_id = self.secrets.teams_app_id.as_ref()?;
        let password = self.secrets.teams_app_password.as_ref()?;
        let mentions = self.routes_give(|r| r.teams_mention.clone());
        Some(handoff_teams::TeamsSettings {
            app_id: app_id.clone(),
            app_password: password.expose().to_owned(),
            openid_url: self.teams.openid_url.clone(),
            token_url: self.teams.token_endpoint(),
            service_url: self.teams.service_url.clone(),
            tenants: match (&self.teams.tenants, &self.teams.tenant_id) {
                (listed, Some(own)) if listed.is_empty() => vec![own.clone()],
                (listed, _) => listed.clone(),
            },
            agents: self
                .agents
                .iter()
                .map(|a| handoff_teams::TeamsAgent {
                    id: a.id.clone(),
                    name: a.shown_name(),
                    aad_object_id: a.teams_user.clone(),
                })
                .collect(),
            intents: self.analysis.intent_names(),
            mentions,
        })
    }

    /// The Teams channels routes send cards to.
    pub fn teams_channels(&self) -> Vec<String> {
        self.routes_give(|r| r.teams_channel.clone())
    }

    /// What `pick` finds in any route, sorted, each once.
    fn routes_give(&self, pick: impl Fn(&Route) -> Option<String>) -> Vec<String> {
        let mut found: Vec<String> = self.routing.routes.iter().filter_map(pick).collect();
        found.sort();
        found.dedup();
        found
    }

    /// The Discord side's settings; none without `DISCORD_TOKEN`.
    pub fn discord_settings(&self) -> Option<handoff_discord::DiscordSettings> {
        let token = self.secrets.discord_token.as_ref()?;
        Some(handoff_discord::DiscordSettings {
            api_url: self.discord.api_url.trim_end_matches('/').to_owned(),
            token: token.expose().to_owned(),
            support_channels: self.discord.support_channels.clone(),
            vip_users: self.discord.vip_users.clone(),
            vip_roles: self.discord.vip_roles.clone(),
            catch_up_days: self.discord.catch_up_days,
        })
    }

    fn validate_slack(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, problem: &str| ConfigError::Invalid {
            key,
            problem: problem.into(),
        };
        let s = &self.slack;
        if !(s.api_url.starts_with("http://") || s.api_url.starts_with("https://")) {
            return Err(invalid(
                "slack.api_url".into(),
                "must start with http:// or https://",
            ));
        }
        if !(1..=10).contains(&s.socket_connections) {
            return Err(invalid(
                "slack.socket_connections".into(),
                "must be between 1 and 10",
            ));
        }
        let names = s
            .reactions
            .keys()
            .map(|k| (format!("slack.reactions.{k}"), k.as_str()))
            .chain([
                (
                    "slack.delivered_reaction".to_owned(),
                    s.delivered_reaction.as_str(),
                ),
                (
                    "slack.failed_reaction".to_owned(),
                    s.failed_reaction.as_str(),
                ),
            ]);
        for (key, name) in names {
            if name.is_empty() || name.contains([':', ' ']) {
                return Err(invalid(
                    key,
                    "must be an emoji name without colons, like eyes",
                ));
            }
        }
        Ok(())
    }

    /// The Slack side's settings; none without `SLACK_BOT_TOKEN`.
    pub fn slack_settings(&self) -> Option<handoff_slack::SlackSettings> {
        let token = self.secrets.slack_bot_token.as_ref()?;
        Some(handoff_slack::SlackSettings {
            api_url: self.slack.api_url.trim_end_matches('/').to_owned(),
            bot_token: token.expose().to_owned(),
            signing_secret: self
                .secrets
                .slack_signing_secret
                .as_ref()
                .map(|s| s.expose().to_owned()),
            app_token: self
                .secrets
                .slack_app_token
                .as_ref()
                .map(|s| s.expose().to_owned()),
            agents: self
                .agents
                .iter()
                .map(|a| handoff_slack::SlackAgent {
                    id: a.id.clone(),
                    name: a.shown_name(),
                    slack_user: a.slack_user.clone(),
                })
                .collect(),
            intents: self.analysis.intent_names(),
            reactions: self
                .slack
                .reactions
                .iter()
                .map(|(name, r)| (name.clone(), r.case_action()))
                .collect(),
            delivered_reaction: self.slack.delivered_reaction.clone(),
            failed_reaction: self.slack.failed_reaction.clone(),
            socket_connections: self.slack.socket_connections,
        })
    }

    /// What reactions mean to the engine on Slack.
    pub fn slack_reactions(&self) -> crate::engine::TeamReactions {
        crate::engine::TeamReactions {
            actions: self
                .slack
                .reactions
                .iter()
                .map(|(name, r)| (name.clone(), r.case_action()))
                .collect(),
            delivered: self.slack.delivered_reaction.clone(),
            failed: self.slack.failed_reaction.clone(),
        }
    }

    /// The Slack channels routes send cards to.
    pub fn slack_channels(&self) -> Vec<String> {
        self.routes_give(|r| r.slack_channel.clone())
    }

    /// The effective configuration as TOML, followed by which secrets are
    /// set (never their values). What `handoff check-config` prints.
    pub fn describe(&self) -> String {
        let mut out = String::from(
            "# Effective configuration (defaults <- config file <- HANDOFF_* environment)\n",
        );
        out.push_str(&toml::to_string_pretty(self).unwrap_or_else(|e| format!("# {e}\n")));
        out.push_str("\n# Secrets (environment only; values never shown)\n");
        for (var, set) in self.secrets.presence() {
            let state = if set { "set" } else { "unset" };
            out.push_str(&format!("# {var}: {state}\n"));
        }
        out
    }
}

/// A `HANDOFF_*` value as TOML: numbers and booleans keep their type,
/// anything else is a string.
fn env_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)),
            ) => v,
            _ => toml::Value::String(raw.to_owned()),
        },
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("is empty")?;
    let mut t = table;
    for key in parents {
        let entry = t
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("cannot be set: `{key}` is not a table"))?;
    }
    t.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        let c = Config::load(None, &env(&[])).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.outbox.max_attempts, 8);
        assert_eq!(c.secrets, Secrets::default());
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let f = file("listen = \"127.0.0.1:9000\"\n[outbox]\nmax_attempts = 3\nbatch_size = 5\n");
        let c = Config::load(
            Some(f.path()),
            &env(&[
                ("HANDOFF_OUTBOX__MAX_ATTEMPTS", "4"),
                ("HANDOFF_LOG__FORMAT", "json"),
                ("HANDOFF_CONFIG", "ignored.toml"),
                ("SLACK_BOT_TOKEN", "xoxb-very-secret"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000");
        assert_eq!(c.outbox.max_attempts, 4);
        assert_eq!(c.outbox.batch_size, 5);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(
            c.secrets.slack_bot_token.as_ref().map(Secret::expose),
            Some("xoxb-very-secret")
        );
    }

    #[test]
    fn handoff_listen_sets_the_listen_address() {
        let c = Config::load(None, &env(&[("HANDOFF_LISTEN", "0.0.0.0:80")])).unwrap();
        assert_eq!(c.listen_addr().unwrap().port(), 80);
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::load(
            None,
            &env(&[
                ("DATABASE_URL", "postgres://u:hunter2@db/x"),
                ("TEAMS_APP_PASSWORD", "hunter3"),
            ]),
        )
        .unwrap();
        let debug = format!("{c:?}");
        let described = c.describe();
        for text in [&debug, &described] {
            assert!(
                !text.contains("hunter2") && !text.contains("hunter3"),
                "{text}"
            );
        }
        assert!(described.contains("# DATABASE_URL: set"));
        assert!(described.contains("# SLACK_BOT_TOKEN: unset"));
        assert!(described.contains("listen = \"127.0.0.1:8080\""));
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let f = file("[outbox]\nmax_attempts = \"many\"\n");
        let err = Config::load(Some(f.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_attempts"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let f = file("[outbox]\nmax_atempts = 3\n");
        let err = Config::load(Some(f.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_atempts"), "{err}");
        let err = Config::load(None, &env(&[("HANDOFF_LISTN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("listn") && err.contains("HANDOFF_LISTN"),
            "{err}"
        );
    }

    #[test]
    fn broken_toml_names_the_file() {
        let f = file("listen = \n");
        let err = Config::load(Some(f.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&f.path().display().to_string()), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = Config::load(Some(Path::new("/nonexistent/handoff.toml")), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/handoff.toml"), "{err}");
    }

    #[test]
    fn nonsense_values_are_refused_with_the_key() {
        for (var, value, key) in [
            ("HANDOFF_LISTEN", "localhost", "listen"),
            ("HANDOFF_PUBLIC_URL", "ftp://x", "public_url"),
            ("HANDOFF_OUTBOX__MAX_ATTEMPTS", "0", "outbox.max_attempts"),
            ("HANDOFF_OUTBOX__BATCH_SIZE", "0", "outbox.batch_size"),
            ("HANDOFF_OUTBOX__LEASE_SECS", "5", "outbox.lease_secs"),
            ("HANDOFF_DISCORD__API_URL", "discord.com", "discord.api_url"),
            (
                "HANDOFF_DISCORD__CATCH_UP_DAYS",
                "0",
                "discord.catch_up_days",
            ),
        ] {
            let err = Config::load(None, &env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`{key}`")), "{var}: {err}");
        }
    }

    #[test]
    fn discord_ids_must_be_ids() {
        let f = file("[discord]\nsupport_channels = [\"#general\"]\n");
        let err = Config::load(Some(f.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`discord.support_channels`"), "{err}");
        assert!(err.contains("Copy ID"), "{err}");
    }

    #[test]
    fn agent_ids_must_be_unique() {
        let f = file(
            "[[agents]]\nid = \"alice\"\nname = \"Alice\"\n[[agents]]\nid = \"alice\"\nname = \"Al\"\n",
        );
        let err = Config::load(Some(f.path()), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("agents[1].id"), "{err}");
    }
}
