//! Microsoft Teams as handoff's team side, over the Bot Framework REST
//! protocol (there is no Rust SDK worth depending on; the protocol is small).
//!
//! - In: Teams posts activities to `POST /api/messages` ([`http`]). Every
//!   request's JWT is checked against Bot Framework's published keys
//!   ([`auth`]) before anything else happens; the activity is turned into an
//!   engine event by pure code ([`inbound`]) and stored before Teams hears
//!   back. A card button (`Action.Execute`) is answered with the card as it
//!   stands after the click, so the clicking agent sees the outcome at once.
//! - Out: the outbox delivers cards, thread posts and updates through the
//!   connector ([`api`], [`adapter`]) with a client-credentials token.
//! - Cards are Adaptive Cards from `templates/teams/card.json.hbs`
//!   ([`card`]); customer text is escaped for the card's markdown and sent
//!   as plain text in threads ([`markup`]). Agent replies come back as HTML
//!   and reach customers as plain text, mentions stripped.
//! - `handoff teams-package` writes the app package ([`package`]);
//!   `handoff doctor` checks a token can be had ([`doctor`]).
#![forbid(unsafe_code)]

pub mod adapter;
pub mod api;
pub mod auth;
pub mod card;
pub mod doctor;
pub mod http;
pub mod inbound;
pub mod markup;
pub mod package;

pub use adapter::TeamsAdapter;
pub use api::TeamsApi;
pub use http::{Teams, TeamsBackend, routes};

/// Bot Framework's OpenID metadata for tokens from channels (Teams among
/// them).
pub const DEFAULT_OPENID_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";

/// The token endpoint for multi-tenant bots; a single-tenant bot uses its
/// tenant's (`teams.tenant_id`).
pub const DEFAULT_TOKEN_URL: &str =
    "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token";

/// Where proactive messages go before any activity has told handoff its
/// tenant's service URL; Microsoft documents it as working for every
/// public-cloud tenant.
pub const DEFAULT_SERVICE_URL: &str = "https://smba.trafficmanager.net/teams/";

/// Who issues the tokens Teams sends with its activities.
pub const BOT_ISSUER: &str = "https://api.botframework.com";

/// What the outgoing token is for.
pub const BOT_SCOPE: &str = "https://api.botframework.com/.default";

/// The setting the learned service URL is kept under.
pub const SERVICE_URL_SETTING: &str = "teams.service_url";

/// An agent as the Teams side needs to know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsAgent {
    /// Their config key (owner of cases).
    pub id: String,
    /// The name shown on cards and in the Reassign list.
    pub name: String,
    /// Their Azure AD object id, when they work in Teams.
    pub aad_object_id: Option<String>,
}

/// How the Teams side is set up. Built from `[teams]` and the secrets.
#[derive(Clone)]
pub struct TeamsSettings {
    /// `TEAMS_APP_ID`: the bot's Microsoft app id, the audience of every
    /// token Teams sends.
    pub app_id: String,
    /// `TEAMS_APP_PASSWORD`: the client secret for outgoing tokens.
    pub app_password: String,
    /// OpenID metadata that names the key set tokens are checked against.
    pub openid_url: String,
    /// OAuth2 token endpoint for outgoing calls.
    pub token_url: String,
    /// Used until an activity tells handoff its tenant's service URL.
    pub service_url: String,
    /// The Microsoft Entra tenants whose Teams may talk to handoff; empty
    /// for any. Anyone can build an app package naming a multi-tenant bot,
    /// so without a list a stranger's Teams could press buttons and move
    /// where replies go.
    pub tenants: Vec<String>,
    /// The team, for owners on cards and the Reassign list.
    pub agents: Vec<TeamsAgent>,
    /// The taxonomy's intents, for the Correct intent list.
    pub intents: Vec<String>,
    /// Every route's configured `teams_mention`, so team notes that carry
    /// one can be made into a real mention.
    pub mentions: Vec<String>,
}

impl std::fmt::Debug for TeamsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is never printed.
        f.debug_struct("TeamsSettings")
            .field("app_id", &self.app_id)
            .field("openid_url", &self.openid_url)
            .field("token_url", &self.token_url)
            .field("service_url", &self.service_url)
            .field("agents", &self.agents.len())
            .finish_non_exhaustive()
    }
}

impl TeamsSettings {
    /// Whether an activity from `tenant` is one handoff takes.
    pub fn admits(&self, tenant: Option<&str>) -> bool {
        self.tenants.is_empty()
            || tenant.is_some_and(|t| self.tenants.iter().any(|a| a.eq_ignore_ascii_case(t)))
    }

    /// The agent behind an Azure AD object id.
    pub fn agent_by_aad(&self, aad: &str) -> Option<&TeamsAgent> {
        self.agents
            .iter()
            .find(|a| a.aad_object_id.as_deref() == Some(aad))
    }

    /// A small, complete set-up for unit tests.
    #[doc(hidden)]
    pub fn for_tests() -> Self {
        Self {
            app_id: "00000000-0000-0000-0000-0000000000b0".into(),
            app_password: "secret".into(),
            openid_url: "http://127.0.0.1:9/openid".into(),
            token_url: "http://127.0.0.1:9/token".into(),
            service_url: "http://127.0.0.1:9/amer/".into(),
            tenants: Vec::new(),
            agents: vec![
                TeamsAgent {
                    id: "alice".into(),
                    name: "Alice".into(),
                    aad_object_id: Some("aad-alice".into()),
                },
                TeamsAgent {
                    id: "bob".into(),
                    name: "Bob".into(),
                    aad_object_id: Some("aad-bob".into()),
                },
            ],
            intents: vec!["billing".into(), "refund".into()],
            mentions: vec!["aad-team|Support team".into()],
        }
    }
}
