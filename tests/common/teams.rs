//! A local Microsoft Teams for the integration tests: the Bot Framework
//! surfaces a Teams bot talks to, served on 127.0.0.1, plus the test-side
//! helpers that build Teams activities and post them to handoff signed the
//! way the Bot Connector signs them.
//!
//! One axum server doubles three services:
//!
//! - the Bot Framework OpenID metadata and its JWKS (what
//!   `login.botframework.com/v1/.well-known/...` serves), whose keys carry
//!   the `endorsements` handoff must check against the activity's
//!   `channelId`;
//! - the Microsoft identity platform token endpoint for the
//!   `botframework.com` tenant (client-credentials grant only), answering
//!   and refusing the way it does, with AADSTS error codes;
//! - the Bot Connector REST API (`v3/conversations/...`) under a service
//!   URL shaped like Teams' `https://smba.trafficmanager.net/amer/`, which
//!   demands a token the double itself issued and a conversation id that is
//!   percent-encoded in the path.
//!
//! The double never contacts anything: it only listens on 127.0.0.1.
//!
//! The double records every connector call (refused ones too), keeps the
//! bot's messages per channel thread as Teams would show them afterwards,
//! and counts metadata, JWKS and token fetches so a test can prove caching
//! and refresh. Answers can be scripted per path (server errors, 429 with
//! `Retry-After`, 403 roster refusals) to drive handoff's retry and give-up
//! paths.
//!
//! The RSA keys are generated once per test binary and shared by every
//! double in it: 2048-bit keygen costs hundreds of milliseconds in a debug
//! build, and a binary starts many doubles.
//!
//! The activity shapes follow Microsoft's documented Bot Framework and
//! Teams activity examples (channel messages and replies, `messageUpdate`
//! / `messageDelete` events, `adaptiveCard/action` invokes,
//! `conversationUpdate` and `installationUpdate`), with realistic values in
//! every field those examples carry. They are built in code below; nothing
//! is read from disk.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{FixedOffset, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

/// The bot's Microsoft app id: the `aud` of every token the Bot Connector
/// sends to the bot, and the `client_id` of the token endpoint.
pub const APP_ID: &str = "00000000-0000-0000-0000-0000000000b0";
/// The app's client secret the token endpoint accepts.
pub const APP_PASSWORD: &str = "test-app-password";
/// The customer's Microsoft Entra tenant (the one in Microsoft's examples).
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The `iss` of tokens the Bot Connector sends to bots.
pub const BOT_ISSUER: &str = "https://api.botframework.com";
/// The bot's id in activities: `28:` + the app id.
pub const BOT_MRI: &str = "28:00000000-0000-0000-0000-0000000000b0";
/// The bot's display name, as Teams shows it and as `<at>` mentions it.
pub const BOT_NAME: &str = "handoff";
/// The scope handoff must ask the token endpoint for.
pub const SCOPE: &str = "https://api.botframework.com/.default";
/// The key that signs what Teams sends (endorsed for `msteams`).
pub const TEAMS_KID: &str = "kid-teams";
/// A key endorsed only for `webchat`: a token signed with it on a Teams
/// activity must be refused.
pub const WEBCHAT_KID: &str = "kid-webchat";
/// The kid of [`TeamsDouble::sign_unpublished`]'s key, never in the JWKS.
pub const UNKNOWN_KID: &str = "kid-unknown";
/// The team's id, which in Teams is also the id of its General channel.
/// Known to every double from the start.
pub const TEAM_ID: &str = "19:2f6c1f3e2b7d4b0f9a1c5e8d7b6a4c3f@thread.tacv2";
/// The team's display name.
pub const TEAM_NAME: &str = "Support";
/// The team's Microsoft 365 group id.
pub const TEAM_AAD_GROUP: &str = "da849743-4259-475f-ae2a-4cfa3ecb8e5b";
/// A support channel in the team. Known to every double from the start.
pub const CHANNEL: &str = "19:9a8b7c6d5e4f40312a1b2c3d4e5f6a7b@thread.tacv2";
/// How many seconds an issued token lives unless a test says otherwise
/// (what the Microsoft identity platform answers for this grant).
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3599;

/// The OpenID metadata document, as on login.botframework.com.
const OPENID_PATH: &str = "/v1/.well-known/openidconfiguration";
/// The JWKS the metadata points at.
const JWKS_PATH: &str = "/v1/.well-known/keys";
/// The token endpoint of the `botframework.com` tenant.
const TOKEN_PATH: &str = "/botframework.com/oauth2/v2.0/token";
/// The service URL's path; Teams hands out regional ones like this.
const SERVICE_PATH: &str = "/amer/";
/// Every connector route starts here.
const CONVERSATIONS_PATH: &str = "/amer/v3/conversations";
/// How often the waiting helpers look again.
const POLL: Duration = Duration::from_millis(20);
/// How long the waiting helpers wait before panicking.
const PATIENCE: Duration = Duration::from_secs(20);
/// Message ids are 13-digit, millisecond-like numbers counted up from here.
const ID_EPOCH: u64 = 1_700_000_000_000;
/// The keys every double publishes or signs with: teams, webchat,
/// unpublished, and one spare so the first `add_key` costs nothing.
const POOLED_KEYS: usize = 4;
/// Where [`TeamsDouble::add_key`] starts taking keys from the pool.
const FIRST_SPARE_KEY: usize = 3;

/// One connector request as the double received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// `POST`, `PUT`, `DELETE`, ...
    pub method: String,
    /// The path, percent-decoded, e.g.
    /// `/amer/v3/conversations/19:x@thread.tacv2;messageid=1/activities`.
    pub path: String,
    /// The decoded conversation id from the path; for "create
    /// conversation" (which has none) the channel named in the body.
    pub conversation: String,
    /// The decoded activity id from the path, if the route has one.
    pub activity_id: Option<String>,
    /// The bearer token presented, if any.
    pub token: Option<String>,
    /// The JSON body (`Null` when empty; a `String` when not JSON).
    pub body: Value,
    /// The status the double answered with.
    pub status: u16,
    /// The body the double answered with (`Null` when empty).
    pub response: Value,
}

/// A scripted answer that replaces the next matching call's normal one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// This HTTP status with the surface's error body (e.g. 500, 503).
    Status(u16),
    /// HTTP 429 with `Retry-After` and a `TooManyRequests` error body.
    RateLimited {
        /// The `Retry-After` header value.
        retry_after_secs: u64,
    },
    /// HTTP 403 as Teams answers a bot removed from the team:
    /// `BotNotInConversationRoster`.
    Forbidden,
}

/// A person in the tenant, as Teams identifies them in activities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The Entra object id (`aadObjectId`), stable across apps.
    pub aad: String,
    /// The display name.
    pub name: String,
    /// The bot-scoped id Teams uses in activities (`29:...`).
    pub mri: String,
}

impl Member {
    /// The `from` object of an activity this member sends.
    fn account(&self) -> Value {
        json!({ "id": self.mri, "name": self.name, "aadObjectId": self.aad })
    }
}

/// The running double. Dropping it stops the server.
#[derive(Debug)]
pub struct TeamsDouble {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TeamsDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the server task and the test share.
#[derive(Debug)]
struct Shared {
    port: u16,
    world: Mutex<World>,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A test that panicked while holding a lock must not turn every later
/// assertion into a confusing PoisonError.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything the double knows and remembers.
#[derive(Debug)]
struct World {
    /// Every kid the double has a key for, published or not, so a test can
    /// still sign with a key it removed from the JWKS.
    keys: HashMap<String, Arc<KeyPair>>,
    /// The JWKS, in publishing order: (kid, endorsements).
    published: Vec<(String, Vec<String>)>,
    /// The pool index the next fresh `add_key` takes.
    next_spare: usize,
    openid_fetches: usize,
    jwks_fetches: usize,
    token_requests: usize,
    token_lifetime: Duration,
    /// Issued access tokens and when each stops being accepted.
    tokens: HashMap<String, Instant>,
    /// Channels the bot may post in.
    channels: HashSet<String>,
    /// Threads (`CH;messageid=ROOT`) the bot may reply in.
    threads: HashSet<String>,
    /// Every activity the bot posted, in posting order.
    posted: Vec<Posted>,
    /// (path fragment, answer), consumed front to back.
    scripts: VecDeque<(String, Answer)>,
    calls: Vec<Call>,
}

/// One activity the bot posted, as it stands now.
#[derive(Debug, Clone)]
struct Posted {
    id: String,
    /// `CH;messageid=ROOT`; a thread's root has ROOT = its own id.
    thread: String,
    activity: Value,
    deleted: bool,
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// One RSA key pair: the signing half for jsonwebtoken and the public
/// half as JWK members.
struct KeyPair {
    signing: EncodingKey,
    /// The modulus, base64url without padding, as a JWK carries it.
    n: String,
    /// The public exponent, same encoding (`AQAB`).
    e: String,
}

impl std::fmt::Debug for KeyPair {
    // The private half stays out of test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("n", &self.n).finish()
    }
}

impl KeyPair {
    fn generate() -> KeyPair {
        let private = rsa::RsaPrivateKey::new(&mut rand08::thread_rng(), 2048)
            .expect("generate a 2048-bit RSA key");
        let der = private
            .to_pkcs1_der()
            .expect("encode the RSA key as PKCS#1 DER");
        KeyPair {
            signing: EncodingKey::from_rsa_der(der.as_bytes()),
            n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        }
    }
}

/// The process-wide key pool. Doubles share it (a JWKS only needs distinct
/// keys within one double), so the expensive keygen happens once per test
/// binary, not once per test.
static KEY_POOL: Mutex<Vec<Arc<KeyPair>>> = Mutex::new(Vec::new());

/// The pool's key number `index`, generating keys as needed. The first
/// call fills the standard pool on parallel threads to halve the wait;
/// holding the lock meanwhile makes concurrent callers wait instead of
/// generating keys of their own.
fn pooled_key(index: usize) -> Arc<KeyPair> {
    let mut pool = lock(&KEY_POOL);
    if pool.is_empty() {
        let fresh: Vec<KeyPair> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..POOLED_KEYS)
                .map(|_| scope.spawn(KeyPair::generate))
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("RSA keygen thread panicked"))
                .collect()
        });
        pool.extend(fresh.into_iter().map(Arc::new));
    }
    while pool.len() <= index {
        pool.push(Arc::new(KeyPair::generate()));
    }
    Arc::clone(&pool[index])
}

/// Seconds since the Unix epoch, for JWT time claims.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

// ---------------------------------------------------------------------------
// Test-side API
// ---------------------------------------------------------------------------

impl TeamsDouble {
    /// Starts the double on 127.0.0.1 with an OS-chosen port. The JWKS
    /// holds [`TEAMS_KID`] (endorsed `msteams`) and [`WEBCHAT_KID`]
    /// (endorsed `webchat`); [`TEAM_ID`] and [`CHANNEL`] are known
    /// channels.
    pub async fn start() -> TeamsDouble {
        // Keygen blocks for a while on first use; keep it off the runtime
        // threads so other doubles' servers keep answering meanwhile.
        let keys = tokio::task::spawn_blocking(|| {
            [TEAMS_KID, WEBCHAT_KID, UNKNOWN_KID]
                .iter()
                .enumerate()
                .map(|(index, kid)| (kid.to_string(), pooled_key(index)))
                .collect::<HashMap<_, _>>()
        })
        .await
        .expect("RSA keygen task panicked");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the Teams double");
        let port = listener
            .local_addr()
            .expect("the Teams double's listener has an address")
            .port();
        let world = World {
            keys,
            published: vec![
                (TEAMS_KID.to_string(), vec!["msteams".to_string()]),
                (WEBCHAT_KID.to_string(), vec!["webchat".to_string()]),
            ],
            next_spare: FIRST_SPARE_KEY,
            openid_fetches: 0,
            jwks_fetches: 0,
            token_requests: 0,
            token_lifetime: Duration::from_secs(DEFAULT_TOKEN_LIFETIME_SECS),
            tokens: HashMap::new(),
            channels: [TEAM_ID, CHANNEL].iter().map(|c| c.to_string()).collect(),
            threads: HashSet::new(),
            posted: Vec::new(),
            scripts: VecDeque::new(),
            calls: Vec::new(),
        };
        let shared = Arc::new(Shared {
            port,
            world: Mutex::new(world),
        });
        let app = Router::new()
            .route(OPENID_PATH, get(openid_metadata))
            .route(JWKS_PATH, get(jwks))
            .route(TOKEN_PATH, post(token))
            .fallback(connector)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the Teams double's server stopped");
        });
        TeamsDouble { shared, server }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.shared.world()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        self.shared.base()
    }

    /// The OpenID metadata URL: handoff's replacement for
    /// `https://login.botframework.com/v1/.well-known/openidconfiguration`.
    pub fn openid_url(&self) -> String {
        format!("{}{OPENID_PATH}", self.base())
    }

    /// The JWKS URL the metadata points at.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.base())
    }

    /// The token endpoint: handoff's replacement for
    /// `https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base())
    }

    /// The service URL activities carry, with the trailing slash Teams'
    /// `https://smba.trafficmanager.net/amer/` has.
    pub fn service_url(&self) -> String {
        format!("{}{SERVICE_PATH}", self.base())
    }

    // ----- keys -----

    /// Publishes a key under `kid` with these endorsements, so the next
    /// JWKS fetch lists it (to test refresh on an unknown kid). A new kid
    /// gets a key of its own; a kid the double already has keeps its key
    /// and gets the new endorsements.
    pub fn add_key(&self, kid: &str, endorsements: &[&str]) {
        let existing = self.world().keys.get(kid).cloned();
        let key = existing.unwrap_or_else(|| {
            let index = {
                let mut world = self.world();
                world.next_spare += 1;
                world.next_spare - 1
            };
            // Outside the world lock: a key past the pool takes a while.
            pooled_key(index)
        });
        let mut world = self.world();
        world.keys.insert(kid.to_string(), key);
        let endorsements: Vec<String> = endorsements.iter().map(|e| e.to_string()).collect();
        match world.published.iter_mut().find(|(k, _)| k == kid) {
            Some(entry) => entry.1 = endorsements,
            None => world.published.push((kid.to_string(), endorsements)),
        }
    }

    /// Takes `kid` out of the JWKS (a key rollover). Tokens signed with it
    /// can still be made with [`TeamsDouble::sign`].
    pub fn remove_key(&self, kid: &str) {
        self.world().published.retain(|(k, _)| k != kid);
    }

    /// An RS256 JWT over `claims`, signed with the key named `kid` (one the
    /// double has published at some point), `kid` in the header.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let key = self.world().keys.get(kid).cloned().unwrap_or_else(|| {
            panic!("the Teams double has no key {kid:?}; publish it with add_key first")
        });
        sign_with(&key, kid, claims)
    }

    /// An RS256 JWT signed by a key the JWKS never lists (kid
    /// [`UNKNOWN_KID`]): must be refused even after a JWKS refresh.
    pub fn sign_unpublished(&self, claims: &Value) -> String {
        self.sign(UNKNOWN_KID, claims)
    }

    /// An HS256 JWT over `claims` with `secret`, naming [`TEAMS_KID`] in
    /// its header so only the algorithm gives it away: handoff must refuse
    /// it (the classic algorithm-confusion forgery).
    pub fn hs256(claims: &Value, secret: &str) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(TEAMS_KID.to_string());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign an HS256 token")
    }

    /// The claims the Bot Connector puts in its token for `activity`:
    /// issuer, audience, the activity's service URL, and a validity window
    /// around now (`nbf` a little in the past, as clock skew would have it).
    pub fn claims_for(activity: &Value) -> Value {
        let now = unix_now();
        json!({
            "serviceurl": activity["serviceUrl"],
            "nbf": now - 5,
            "exp": now + 3600,
            "iat": now - 5,
            "iss": BOT_ISSUER,
            "aud": APP_ID,
        })
    }

    /// The `Authorization` value the Bot Connector would send with
    /// `activity`: `Bearer ` + a valid token signed with [`TEAMS_KID`].
    pub fn bearer_for(&self, activity: &Value) -> String {
        format!(
            "Bearer {}",
            self.sign(TEAMS_KID, &TeamsDouble::claims_for(activity))
        )
    }

    /// How often the OpenID metadata was fetched.
    pub fn openid_fetches(&self) -> usize {
        self.world().openid_fetches
    }

    /// How often the JWKS was fetched (scripted failures included), to
    /// prove caching and refresh on an unknown kid.
    pub fn jwks_fetches(&self) -> usize {
        self.world().jwks_fetches
    }

    // ----- token endpoint -----

    /// How many access tokens the token endpoint issued.
    pub fn token_requests(&self) -> usize {
        self.world().token_requests
    }

    /// The lifetime (and `expires_in`) of tokens issued from now on; 0
    /// issues tokens the connector already refuses.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.world().token_lifetime = Duration::from_secs(secs);
    }

    /// Makes every token issued so far unacceptable, as if it had expired
    /// early: the connector answers 401 until handoff fetches a new one.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for expiry in self.world().tokens.values_mut() {
            *expiry = now;
        }
    }

    // ----- connector -----

    /// Makes `channel_id` a channel the bot may start threads in.
    pub fn add_channel(&self, channel_id: &str) {
        self.world().channels.insert(channel_id.to_string());
    }

    /// Makes `thread` (`CH;messageid=ROOT`) a thread the bot may reply in
    /// though it did not start it (a person did); also adds its channel.
    pub fn add_thread(&self, thread: &str) {
        let (channel, _) = split_thread(thread);
        let mut world = self.world();
        world.channels.insert(channel.to_string());
        world.threads.insert(thread.to_string());
    }

    /// The next connector or token calls whose decoded path contains
    /// `path_contains` get these answers, one each, in order; later calls
    /// are answered normally again. Scripts are consumed in the order they
    /// were given. Connector calls must still carry a valid token to reach
    /// their script.
    pub fn script(&self, path_contains: &str, answers: &[Answer]) {
        let mut world = self.world();
        for answer in answers {
            world
                .scripts
                .push_back((path_contains.to_string(), answer.clone()));
        }
    }

    /// Every connector call, in order, refused ones included.
    pub fn calls(&self) -> Vec<Call> {
        self.world().calls.clone()
    }

    /// The activities now in thread `root_conversation`
    /// (`CH;messageid=ROOT`), root first, edits applied, deletions gone.
    /// Each is the activity the bot sent with `id` set to the id Teams gave
    /// it.
    pub fn thread(&self, root_conversation: &str) -> Vec<Value> {
        self.world()
            .posted
            .iter()
            .filter(|p| p.thread == root_conversation && !p.deleted)
            .map(|p| p.activity.clone())
            .collect()
    }

    /// The threads the bot started in `channel_id`, oldest first, as
    /// `CH;messageid=ROOT` conversation ids.
    pub fn threads(&self, channel_id: &str) -> Vec<String> {
        self.world()
            .posted
            .iter()
            .filter(|p| p.thread == format!("{channel_id};messageid={}", p.id))
            .map(|p| p.thread.clone())
            .collect()
    }

    /// The current version of an activity the bot posted (`None` if it
    /// never did, or deleted it).
    pub fn activity(&self, id: &str) -> Option<Value> {
        self.world()
            .posted
            .iter()
            .find(|p| p.id == id && !p.deleted)
            .map(|p| p.activity.clone())
    }

    /// Polls `check` every 20 ms until it returns `Some`; panics naming
    /// `what` after 20 s. Uses real time, so it also works with paused
    /// tokio time.
    pub async fn until<T>(&self, what: &str, check: impl Fn(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(value) = check(self) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {PATIENCE:?} waiting for {what}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

fn sign_with(key: &KeyPair, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key.signing).expect("sign an RS256 token")
}

// ---------------------------------------------------------------------------
// Server: metadata, keys, tokens
// ---------------------------------------------------------------------------

/// What the double answers, before it becomes an HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// `Null` means an empty body.
    body: Value,
    retry_after: Option<u64>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            retry_after: None,
        }
    }

    /// The Bot Connector's error shape.
    fn connector_error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({ "error": { "code": code, "message": message } }),
        )
    }

    /// The Microsoft identity platform's OAuth error shape.
    fn aad_error(status: u16, error: &str, code: u32, description: &str) -> Reply {
        Reply::json(
            status,
            json!({
                "error": error,
                "error_description": format!(
                    "AADSTS{code}: {description} Trace ID: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 \
                     Correlation ID: 1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809 Timestamp: {}Z",
                    Utc::now().format("%Y-%m-%d %H:%M:%S")
                ),
                "error_codes": [code],
                "timestamp": format!("{}Z", Utc::now().format("%Y-%m-%d %H:%M:%S")),
                "trace_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                "correlation_id": "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809",
            }),
        )
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = if self.body.is_null() {
            status.into_response()
        } else {
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                )],
                self.body.to_string(),
            )
                .into_response()
        };
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The surfaces a script can hit; each fails in its own dialect.
#[derive(Debug, Clone, Copy)]
enum Surface {
    Metadata,
    Token,
    Connector,
}

fn scripted_reply(surface: Surface, answer: &Answer) -> Reply {
    let mut reply = match (surface, answer) {
        (Surface::Metadata, Answer::Status(status)) => Reply::json(*status, Value::Null),
        (Surface::Metadata, Answer::RateLimited { .. }) => Reply::json(429, Value::Null),
        (Surface::Metadata, Answer::Forbidden) => Reply::json(403, Value::Null),
        (Surface::Token, Answer::Status(status)) => Reply::aad_error(
            *status,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        ),
        (Surface::Token, Answer::RateLimited { .. }) => Reply::aad_error(
            429,
            "temporarily_unavailable",
            90055,
            "The request was throttled. Please try again later.",
        ),
        (Surface::Token, Answer::Forbidden) => {
            Reply::aad_error(403, "access_denied", 7000112, "Application is disabled.")
        }
        (Surface::Connector, Answer::Status(status)) => {
            // The reason phrase without spaces ("ServiceUnavailable") is
            // the code Azure services put in such errors.
            let reason = StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("ServiceError")
                .replace(' ', "");
            Reply::connector_error(
                *status,
                &reason,
                "The service failed to process the request.",
            )
        }
        (Surface::Connector, Answer::RateLimited { .. }) => Reply::connector_error(
            429,
            "TooManyRequests",
            "Too many requests. Please retry after the time in the Retry-After header.",
        ),
        (Surface::Connector, Answer::Forbidden) => Reply::connector_error(
            403,
            "BotNotInConversationRoster",
            "The bot is not part of the conversation roster.",
        ),
    };
    if let Answer::RateLimited { retry_after_secs } = answer {
        reply.retry_after = Some(*retry_after_secs);
    }
    reply
}

impl World {
    /// Takes the first script whose fragment `path` contains.
    fn take_script(&mut self, path: &str) -> Option<Answer> {
        let index = self
            .scripts
            .iter()
            .position(|(fragment, _)| path.contains(fragment.as_str()))?;
        self.scripts.remove(index).map(|(_, answer)| answer)
    }

    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .published
            .iter()
            .map(|(kid, endorsements)| {
                let key = &self.keys[kid];
                json!({
                    "kty": "RSA",
                    "use": "sig",
                    "kid": kid,
                    "n": key.n,
                    "e": key.e,
                    "endorsements": endorsements,
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    /// The client-credentials grant, checked in the order the Microsoft
    /// identity platform reports problems.
    fn issue_token(&mut self, form: &HashMap<String, String>) -> Reply {
        let field = |name: &str| form.get(name).map(String::as_str);
        let Some(grant) = field("grant_type") else {
            return Reply::aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            );
        };
        if grant != "client_credentials" {
            return Reply::aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            );
        }
        let Some(client_id) = field("client_id") else {
            return Reply::aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            );
        };
        if client_id != APP_ID {
            return Reply::aad_error(
                400,
                "unauthorized_client",
                700016,
                &format!(
                    "Application with identifier '{client_id}' was not found in the directory \
                     'Bot Framework'."
                ),
            );
        }
        if field("client_secret") != Some(APP_PASSWORD) {
            return Reply::aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request \
                 is the client secret value, not the client secret ID, for a secret added to \
                 app '00000000-0000-0000-0000-0000000000b0'.",
            );
        }
        match field("scope") {
            None => Reply::aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            ),
            Some(SCOPE) => {
                let token = URL_SAFE_NO_PAD.encode(rand08::random::<[u8; 32]>());
                self.tokens
                    .insert(token.clone(), Instant::now() + self.token_lifetime);
                self.token_requests += 1;
                let lifetime = self.token_lifetime.as_secs();
                Reply::json(
                    200,
                    json!({
                        "token_type": "Bearer",
                        "expires_in": lifetime,
                        "ext_expires_in": lifetime,
                        "access_token": token,
                    }),
                )
            }
            Some(other) => Reply::aad_error(
                400,
                "invalid_scope",
                1002012,
                &format!("The provided value for scope {other} is not valid."),
            ),
        }
    }
}

async fn openid_metadata(State(shared): State<Arc<Shared>>) -> Reply {
    let mut world = shared.world();
    world.openid_fetches += 1;
    if let Some(answer) = world.take_script(OPENID_PATH) {
        return scripted_reply(Surface::Metadata, &answer);
    }
    let base = shared.base();
    Reply::json(
        200,
        json!({
            "issuer": BOT_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": format!("{base}{JWKS_PATH}"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }),
    )
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Reply {
    let mut world = shared.world();
    world.jwks_fetches += 1;
    if let Some(answer) = world.take_script(JWKS_PATH) {
        return scripted_reply(Surface::Metadata, &answer);
    }
    Reply::json(200, world.jwks())
}

async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Reply {
    let mut world = shared.world();
    if let Some(answer) = world.take_script(TOKEN_PATH) {
        return scripted_reply(Surface::Token, &answer);
    }
    // A non-form body (JSON, say) parses into nonsense keys and so lacks
    // grant_type, which is how the real endpoint answers it too.
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    world.issue_token(&form)
}

// ---------------------------------------------------------------------------
// Server: the Bot Connector
// ---------------------------------------------------------------------------

/// A connector route, ids decoded.
#[derive(Debug)]
enum Route {
    /// POST v3/conversations
    Create,
    /// POST v3/conversations/{conversation}/activities
    Send { conversation: String },
    /// POST v3/conversations/{conversation}/activities/{activity}
    Reply {
        conversation: String,
        activity: String,
    },
    /// PUT v3/conversations/{conversation}/activities/{activity}
    Update {
        conversation: String,
        activity: String,
    },
    /// DELETE v3/conversations/{conversation}/activities/{activity}
    Delete {
        conversation: String,
        activity: String,
    },
}

/// Finds the route for a raw (still percent-encoded) path.
fn route(method: &Method, raw_path: &str) -> Result<Route, Reply> {
    let not_found = || {
        Reply::connector_error(
            404,
            "NotFound",
            &format!("No route matches {method} {raw_path}."),
        )
    };
    let rest = raw_path
        .strip_prefix(CONVERSATIONS_PATH)
        .ok_or_else(not_found)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Err(not_found());
    }
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(raw) = segments.first()
        && raw.contains([';', ':'])
    {
        // Real clients encode the id like encodeURIComponent; an id sent
        // raw is a bug in handoff that real Teams may or may not forgive,
        // so the double never does.
        return Err(Reply::connector_error(
            400,
            "BadArgument",
            &format!(
                "The conversation id in the path must be percent-encoded; got {raw:?} with a \
                 raw ';' or ':'."
            ),
        ));
    }
    let decoded: Vec<String> = segments.iter().map(|s| percent_decode(s)).collect();
    match (method, decoded.as_slice()) {
        (&Method::POST, []) => Ok(Route::Create),
        (&Method::POST, [conversation, activities]) if activities == "activities" => {
            Ok(Route::Send {
                conversation: conversation.clone(),
            })
        }
        (method, [conversation, activities, activity]) if activities == "activities" => {
            let (conversation, activity) = (conversation.clone(), activity.clone());
            match *method {
                Method::POST => Ok(Route::Reply {
                    conversation,
                    activity,
                }),
                Method::PUT => Ok(Route::Update {
                    conversation,
                    activity,
                }),
                Method::DELETE => Ok(Route::Delete {
                    conversation,
                    activity,
                }),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

async fn connector(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let raw_path = uri.path();
    let path = percent_decode(raw_path);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let body = parse_body(&body);
    let route = route(&method, raw_path);
    let (conversation, activity_id) = match &route {
        Ok(Route::Create) => (
            body["channelData"]["channel"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            None,
        ),
        Ok(Route::Send { conversation }) => (conversation.clone(), None),
        Ok(
            Route::Reply {
                conversation,
                activity,
            }
            | Route::Update {
                conversation,
                activity,
            }
            | Route::Delete {
                conversation,
                activity,
            },
        ) => (conversation.clone(), Some(activity.clone())),
        Err(_) => (String::new(), None),
    };

    let mut world = shared.world();
    let authorized = token
        .as_ref()
        .and_then(|t| world.tokens.get(t))
        .is_some_and(|expiry| Instant::now() < *expiry);
    let reply = if !authorized {
        Reply::connector_error(
            401,
            "Unauthorized",
            "Authorization has been denied for this request.",
        )
    } else {
        match route {
            Err(refusal) => refusal,
            Ok(route) => match world.take_script(&path) {
                Some(answer) => scripted_reply(Surface::Connector, &answer),
                None => world.serve(route, &body),
            },
        }
    };
    world.calls.push(Call {
        method: method.to_string(),
        path,
        conversation,
        activity_id,
        token,
        body,
        status: reply.status,
        response: reply.body.clone(),
    });
    reply
}

impl World {
    fn serve(&mut self, route: Route, body: &Value) -> Reply {
        match route {
            Route::Create => {
                let Some(channel) = body["channelData"]["channel"]["id"].as_str() else {
                    return Reply::connector_error(
                        400,
                        "BadArgument",
                        "channelData.channel.id is required to create a conversation in a channel.",
                    );
                };
                if !self.channels.contains(channel) {
                    return conversation_not_found();
                }
                if let Err(refusal) = check_activity(&body["activity"]) {
                    return refusal;
                }
                let id = new_message_id();
                let thread = format!("{channel};messageid={id}");
                self.threads.insert(thread.clone());
                self.store(&id, &thread, &body["activity"]);
                Reply::json(201, json!({ "id": thread, "activityId": id }))
            }
            Route::Send { conversation } => self.post_in(&conversation, None, body),
            Route::Reply {
                conversation,
                activity,
            } => self.post_in(&conversation, Some(&activity), body),
            Route::Update {
                conversation,
                activity,
            } => {
                if let Err(refusal) = check_activity(body) {
                    return refusal;
                }
                let Some(posted) = self.find_posted(&conversation, &activity) else {
                    return activity_not_found();
                };
                let mut updated = body.clone();
                updated["id"] = json!(activity);
                posted.activity = updated;
                Reply::json(200, json!({ "id": activity }))
            }
            Route::Delete {
                conversation,
                activity,
            } => {
                let Some(posted) = self.find_posted(&conversation, &activity) else {
                    return activity_not_found();
                };
                posted.deleted = true;
                Reply::json(200, Value::Null)
            }
        }
    }

    /// Posts `body` into `conversation`: a new thread when it names just
    /// a channel, else a reply in the thread it names. ReplyToActivity on a
    /// bare channel replies in the thread rooted at `reply_to`.
    fn post_in(&mut self, conversation: &str, reply_to: Option<&str>, body: &Value) -> Reply {
        let (channel, root) = split_thread(conversation);
        if !self.channels.contains(channel) {
            return conversation_not_found();
        }
        if let Err(refusal) = check_activity(body) {
            return refusal;
        }
        let id = new_message_id();
        let thread = match (root, reply_to) {
            (Some(_), _) => conversation.to_string(),
            (None, Some(root)) => format!("{channel};messageid={root}"),
            (None, None) => {
                let thread = format!("{channel};messageid={id}");
                self.threads.insert(thread.clone());
                thread
            }
        };
        if !self.threads.contains(&thread) {
            return conversation_not_found();
        }
        self.store(&id, &thread, body);
        Reply::json(201, json!({ "id": id }))
    }

    fn store(&mut self, id: &str, thread: &str, activity: &Value) {
        let mut activity = activity.clone();
        activity["id"] = json!(id);
        self.posted.push(Posted {
            id: id.to_string(),
            thread: thread.to_string(),
            activity,
            deleted: false,
        });
    }

    /// A live activity the bot posted in `conversation`'s channel.
    fn find_posted(&mut self, conversation: &str, activity: &str) -> Option<&mut Posted> {
        let (channel, _) = split_thread(conversation);
        self.posted
            .iter_mut()
            .find(|p| p.id == activity && !p.deleted && split_thread(&p.thread).0 == channel)
    }
}

fn conversation_not_found() -> Reply {
    Reply::connector_error(404, "ConversationNotFound", "Conversation not found.")
}

fn activity_not_found() -> Reply {
    Reply::connector_error(404, "ActivityNotFound", "Activity not found.")
}

/// The connector refuses an activity without a type.
fn check_activity(activity: &Value) -> Result<(), Reply> {
    if activity["type"].as_str().is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(Reply::connector_error(
            400,
            "BadArgument",
            "The activity must be a JSON object with a type.",
        ))
    }
}

/// `CH;messageid=ROOT` → (`CH`, Some(`ROOT`)); a bare channel → (`CH`, None).
fn split_thread(conversation: &str) -> (&str, Option<&str>) {
    match conversation.split_once(';') {
        Some((channel, rest)) => (channel, rest.strip_prefix("messageid=")),
        None => (conversation, None),
    }
}

/// `%XX` → byte; anything else stays as it is.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let Some(high) = bytes.get(i + 1).copied().and_then(hex)
            && let Some(low) = bytes.get(i + 2).copied().and_then(hex)
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// JSON if it parses, the text if it does not, `Null` if empty.
fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    }
}

/// The next message id: 13 digits like Teams' millisecond ids, unique and
/// increasing across every double and helper in the process, so ids the
/// test makes up never collide with ids the double hands out.
fn new_message_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(ID_EPOCH);
    (NEXT.fetch_add(1, Ordering::Relaxed) + 1).to_string()
}

// ---------------------------------------------------------------------------
// Activities, as Teams sends them to the bot
// ---------------------------------------------------------------------------

/// A person of the tenant. The `29:` id is derived from the object id, so
/// the same person always gets the same id.
pub fn member(name: &str, aad: &str) -> Member {
    Member {
        aad: aad.to_string(),
        name: name.to_string(),
        mri: format!("29:1{}", URL_SAFE_NO_PAD.encode(aad)),
    }
}

/// Who installs the bot in the installation helpers.
fn team_owner() -> Member {
    member("Megan Bowen", "7faf80cb-6a14-4c6f-8e5b-6d2c4c1c1fc7")
}

/// What every activity from a Teams channel carries. `conversation` is the
/// channel or a thread in it (`CH;messageid=ROOT`).
fn channel_activity(kind: &str, service_url: &str, conversation: &str, from: Value) -> Value {
    let (channel, _) = split_thread(conversation);
    let now = Utc::now();
    // Teams reports the sender's local time; any fixed zone will do.
    let local = now.with_timezone(&FixedOffset::west_opt(7 * 3600).expect("a valid offset"));
    json!({
        "type": kind,
        "id": new_message_id(),
        "timestamp": now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "localTimestamp": local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": from,
        "conversation": {
            "isGroup": true,
            "conversationType": "channel",
            "tenantId": TENANT,
            "id": conversation,
        },
        "recipient": { "id": BOT_MRI, "name": BOT_NAME },
        "entities": [client_info()],
        "channelData": {
            "teamsChannelId": channel,
            "teamsTeamId": TEAM_ID,
            "channel": { "id": channel },
            "team": { "id": TEAM_ID },
            "tenant": { "id": TENANT },
        },
        "locale": "en-US",
    })
}

fn client_info() -> Value {
    json!({
        "type": "clientInfo",
        "locale": "en-US",
        "country": "US",
        "platform": "Web",
        "timezone": "America/Los_Angeles",
    })
}

/// Fills a message-like activity with `html` the way Teams renders it:
/// the plain `text` (mentions kept as `<at>` tags), the HTML attachment
/// (mentions as Teams' Mention spans), and a mention entity per `<at>`.
fn fill_message(activity: &mut Value, html: &str) {
    let names = mentions(html);
    activity["textFormat"] = json!("plain");
    activity["text"] = json!(plain_text(html));
    activity["attachments"] = json!([{
        "contentType": "text/html",
        "content": teams_html(html),
    }]);
    let mut entities: Vec<Value> = names
        .iter()
        .map(|name| {
            let id = if name == BOT_NAME {
                BOT_MRI.to_string()
            } else {
                format!("29:1{}", URL_SAFE_NO_PAD.encode(name))
            };
            json!({
                "type": "mention",
                "text": format!("<at>{name}</at>"),
                "mentioned": { "id": id, "name": name },
            })
        })
        .collect();
    entities.push(client_info());
    activity["entities"] = Value::Array(entities);
}

/// The names inside `<at>...</at>`, in order.
fn mentions(html: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<at>") {
        let after = &rest[start + 4..];
        let Some(end) = after.find("</at>") else {
            break;
        };
        names.push(after[..end].to_string());
        rest = &after[end + 5..];
    }
    names
}

/// `html` with each `<at>X</at>` replaced by the span Teams' HTML
/// rendering uses for a mention, numbered like the mention entities.
fn teams_html(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut index = 0;
    while let Some(start) = rest.find("<at>") {
        let after = &rest[start + 4..];
        let Some(end) = after.find("</at>") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&format!(
            "<span itemscope=\"\" itemtype=\"http://schema.skype.com/Mention\" itemid=\"{index}\">{}</span>",
            &after[..end]
        ));
        index += 1;
        rest = &after[end + 5..];
    }
    out.push_str(rest);
    out
}

/// The plain rendering of `html` Teams puts in `text`: tags dropped except
/// `<at>`, line breaks and block ends as newlines, entities decoded.
fn plain_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let tag = &rest[start + 1..start + end];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match (name.as_str(), tag.starts_with('/')) {
            ("at", false) => out.push_str("<at>"),
            ("at", true) => out.push_str("</at>"),
            ("br", _) | ("p" | "div", true) => out.push('\n'),
            _ => {}
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

/// A person's message in a channel thread (`CH;messageid=ROOT`): what Teams
/// sends the bot when someone replies there. Mention the bot as
/// `<at>handoff</at>` ([`BOT_NAME`]).
pub fn thread_message(service_url: &str, thread: &str, from: &Member, html: &str) -> Value {
    let mut activity = channel_activity("message", service_url, thread, from.account());
    if let (_, Some(root)) = split_thread(thread) {
        activity["replyToId"] = json!(root);
    }
    fill_message(&mut activity, html);
    activity
}

/// Teams' notice that `from` edited message `id_of_original` in `thread`
/// to read `html`. The activity keeps the original message's id.
pub fn edited_message(
    service_url: &str,
    thread: &str,
    from: &Member,
    id_of_original: &str,
    html: &str,
) -> Value {
    let mut activity = thread_message(service_url, thread, from, html);
    activity["type"] = json!("messageUpdate");
    activity["id"] = json!(id_of_original);
    activity["channelData"]["eventType"] = json!("editMessage");
    activity
}

/// Teams' notice that `from` deleted message `id_of_original` in `thread`.
/// The activity keeps the deleted message's id and carries no text.
pub fn deleted_message(
    service_url: &str,
    thread: &str,
    from: &Member,
    id_of_original: &str,
) -> Value {
    let mut activity = channel_activity("messageDelete", service_url, thread, from.account());
    if let (_, Some(root)) = split_thread(thread) {
        activity["replyToId"] = json!(root);
    }
    activity["id"] = json!(id_of_original);
    activity["channelData"]["eventType"] = json!("softDeleteMessage");
    activity
}

/// `from` pressing an `Action.Execute` button with `verb` on the bot's card
/// `card_activity_id` in `thread`: an `adaptiveCard/action` invoke, which
/// the bot answers in the HTTP response.
pub fn invoke_action(
    service_url: &str,
    thread: &str,
    from: &Member,
    card_activity_id: &str,
    verb: &str,
    data: Value,
) -> Value {
    let mut activity = channel_activity("invoke", service_url, thread, from.account());
    activity["name"] = json!("adaptiveCard/action");
    activity["replyToId"] = json!(card_activity_id);
    activity["value"] = json!({
        "action": {
            "type": "Action.Execute",
            "id": verb,
            "verb": verb,
            "data": data,
        },
        "trigger": "manual",
    });
    activity
}

/// The bot added to the team whose General channel is `team_channel` (in
/// Teams that is also the team's id; pass [`TEAM_ID`] to match what the
/// message helpers say).
pub fn bot_installed(service_url: &str, team_channel: &str) -> Value {
    let mut activity = channel_activity(
        "conversationUpdate",
        service_url,
        team_channel,
        json!({ "id": team_owner().mri, "aadObjectId": team_owner().aad }),
    );
    activity["id"] = json!(format!("f:{}", new_message_id()));
    activity["membersAdded"] = json!([{ "id": BOT_MRI }]);
    activity["channelData"] = json!({
        "team": { "id": team_channel, "name": TEAM_NAME, "aadGroupId": TEAM_AAD_GROUP },
        "eventType": "teamMemberAdded",
        "tenant": { "id": TENANT },
    });
    if let Some(object) = activity.as_object_mut() {
        object.remove("entities");
    }
    activity
}

/// The app installed in the team whose General channel is `team_channel`:
/// Teams sends this `installationUpdate` next to [`bot_installed`].
pub fn installation_update(service_url: &str, team_channel: &str) -> Value {
    let mut activity = channel_activity(
        "installationUpdate",
        service_url,
        team_channel,
        json!({ "id": team_owner().mri, "aadObjectId": team_owner().aad }),
    );
    activity["id"] = json!(format!("f:{}", new_message_id()));
    activity["action"] = json!("add");
    activity["channelData"] = json!({
        "settings": { "selectedChannel": { "id": team_channel } },
        "channel": { "id": team_channel },
        "team": { "id": team_channel, "name": TEAM_NAME, "aadGroupId": TEAM_AAD_GROUP },
        "tenant": { "id": TENANT },
        "source": { "name": "message" },
    });
    activity
}

// ---------------------------------------------------------------------------
// Posting to the bot
// ---------------------------------------------------------------------------

/// POSTs `activity` to `{bot_base}/api/messages` as the Bot Connector does,
/// with `authorization` as the `Authorization` header (e.g. from
/// [`TeamsDouble::bearer_for`]). Returns the status and the body: JSON if
/// it parses, else the text, `Null` if empty.
pub async fn post_activity(
    bot_base: &str,
    activity: &Value,
    authorization: Option<&str>,
) -> (u16, Value) {
    // No proxy: a proxy from the environment must never see test traffic.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build an HTTP client");
    let mut request = client
        .post(format!("{}/api/messages", bot_base.trim_end_matches('/')))
        .header(header::CONTENT_TYPE, "application/json")
        .body(activity.to_string());
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {bot_base}/api/messages failed: {e}"));
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .expect("read the bot's answer to an activity");
    (status, parse_body(&bytes))
}
