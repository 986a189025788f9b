//! Checks that an activity really comes from Teams through the Bot
//! Framework: the bearer token on every request must be signed by a key
//! from Bot Framework's published key set, issued by Bot Framework, meant
//! for this bot, unexpired, signed by a key endorsed for the activity's
//! channel, and bound to the service URL the activity names (or a stolen
//! token could point handoff's replies, and its outgoing token, elsewhere).
//!
//! Keys come from the OpenID metadata's `jwks_uri` and are cached. They are
//! fetched again once a day, and when a token names a key handoff has not
//! seen (Microsoft rotates keys); that second kind of refresh is spaced out
//! so a stream of forged key ids cannot make handoff hammer the key server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::BOT_ISSUER;

/// How long fetched keys are trusted without looking again.
const KEYS_FOR: Duration = Duration::from_secs(24 * 3600);
/// The least time between two refreshes caused by unknown key ids.
const UNKNOWN_KID_PAUSE: Duration = Duration::from_secs(10);
/// How soon a failed refresh of stale keys is tried again.
const RETRY_FETCH: Duration = Duration::from_secs(60);
/// A key fetch gives up after this long: requests wait for it.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock skew allowed on `exp` and `nbf`, as Bot Framework's SDKs allow.
const SKEW_SECS: u64 = 300;

/// Why a request was refused. Each says what failed, for the log; the
/// caller answers 401 whatever it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("no bearer token")]
    Missing,
    /// The token failed a check.
    #[error("{0}")]
    Invalid(String),
    /// The key set could not be fetched, so nothing can be checked.
    #[error("the Bot Framework key set could not be fetched: {0}")]
    Keys(String),
}

/// One published key.
struct Key {
    decoding: DecodingKey,
    /// The channels (`msteams`, `webchat`, …) this key may sign for.
    endorsements: Vec<String>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Key>,
    fetched: Option<Instant>,
    unknown_refresh: Option<Instant>,
}

/// What a valid token said that handoff uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The token's `serviceurl`, equal to the activity's.
    pub service_url: String,
}

/// Checks tokens for one bot.
pub struct Verifier {
    http: reqwest::Client,
    openid_url: String,
    app_id: String,
    keys: Mutex<KeySet>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("openid_url", &self.openid_url)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

fn invalid(why: impl Into<String>) -> AuthError {
    AuthError::Invalid(why.into())
}

impl Verifier {
    /// For the bot `app_id`, with keys named by `openid_url`.
    pub fn new(http: reqwest::Client, openid_url: &str, app_id: &str) -> Self {
        Self {
            http,
            openid_url: openid_url.to_owned(),
            app_id: app_id.to_owned(),
            keys: Mutex::new(KeySet::default()),
        }
    }

    /// Fetches the key set once; how many keys it holds (for `doctor`).
    pub async fn check_keys(&self) -> Result<usize, AuthError> {
        self.fetch().await.map(|keys| keys.len())
    }

    /// Checks `authorization` (the header's value) for an activity from
    /// `channel_id` naming `service_url`.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        channel_id: &str,
        service_url: &str,
    ) -> Result<Verified, AuthError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| invalid(format!("the token is not a JWT ({e})")))?;
        // Only RSA signatures: a symmetric algorithm would let anyone who
        // knows a public key forge tokens with it.
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        ) {
            return Err(invalid(format!(
                "the token is signed with {:?}, not RSA",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no signing key"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = SKEW_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[BOT_ISSUER]);
        validation.set_audience(&[&self.app_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = {
            let keys = self.keys_with(&kid).await?;
            let key = keys
                .keys
                .get(&kid)
                .ok_or_else(|| invalid(format!("the signing key {kid:?} is not published")))?;
            if !key.endorsements.iter().any(|e| e == channel_id) {
                return Err(invalid(format!(
                    "the signing key is not endorsed for the channel {channel_id:?}"
                )));
            }
            jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
                .map_err(|e| invalid(format!("the token does not check out ({e})")))?
                .claims
        };
        let claimed = claims["serviceurl"].as_str().unwrap_or_default();
        if claimed.is_empty() {
            return Err(invalid("the token names no service URL"));
        }
        if claimed != service_url {
            return Err(invalid(format!(
                "the token is for the service URL {claimed:?}, the activity names {service_url:?}"
            )));
        }
        Ok(Verified {
            service_url: claimed.to_owned(),
        })
    }

    /// The key set, fetched first when stale or when it lacks `kid`.
    async fn keys_with(&self, kid: &str) -> Result<tokio::sync::MutexGuard<'_, KeySet>, AuthError> {
        let mut keys = self.keys.lock().await;
        let now = Instant::now();
        let stale = keys.fetched.is_none_or(|t| now - t > KEYS_FOR);
        let unknown = !keys.keys.contains_key(kid)
            && keys
                .unknown_refresh
                .is_none_or(|t| now - t > UNKNOWN_KID_PAUSE);
        if stale || unknown {
            if !stale {
                keys.unknown_refresh = Some(now);
                tracing::info!(
                    kid,
                    "A Teams token names a key not seen before; fetching the key set again."
                );
            }
            match self.fetch().await {
                Ok(fresh) => {
                    keys.keys = fresh;
                    keys.fetched = Some(now);
                }
                // Keys fetched earlier still serve while the key server is
                // down; with none there is nothing to check against.
                Err(e) if keys.keys.is_empty() => return Err(e),
                Err(e) => {
                    // Try again in a minute, not on every request, while
                    // the key server is down.
                    keys.fetched = now.checked_sub(KEYS_FOR - RETRY_FETCH).or(keys.fetched);
                    tracing::warn!(error = %e, "Could not refresh the Bot Framework key set; using the keys fetched before.");
                }
            }
        }
        Ok(keys)
    }

    async fn fetch(&self) -> Result<HashMap<String, Key>, AuthError> {
        let get = |url: String| async move {
            let answer = self
                .http
                .get(&url)
                .timeout(FETCH_TIMEOUT)
                .send()
                .await
                .map_err(|e| AuthError::Keys(format!("{url}: {e}")))?;
            if !answer.status().is_success() {
                return Err(AuthError::Keys(format!(
                    "{url} answered {}",
                    answer.status()
                )));
            }
            answer
                .json::<Value>()
                .await
                .map_err(|e| AuthError::Keys(format!("{url}: not JSON ({e})")))
        };
        let metadata = get(self.openid_url.clone()).await?;
        let jwks_uri = metadata["jwks_uri"]
            .as_str()
            .ok_or_else(|| AuthError::Keys("the OpenID metadata has no jwks_uri".into()))?;
        let set = get(jwks_uri.to_owned()).await?;
        let keys = parse_keys(&set);
        if keys.is_empty() {
            return Err(AuthError::Keys("the key set holds no RSA key".into()));
        }
        tracing::debug!(count = keys.len(), "Fetched the Bot Framework key set.");
        Ok(keys)
    }
}

/// The RSA keys of a JWKS document, by key id. Keys of other types, or
/// without an id, cannot sign Bot Framework tokens and are skipped.
fn parse_keys(set: &Value) -> HashMap<String, Key> {
    set["keys"]
        .as_array()
        .into_iter()
        .flatten()
        // Bot Framework's keys say `"kty": "RSA"`; older key sets left it
        // out, and a key with a modulus and exponent can only be RSA.
        .filter(|k| k["kty"] == "RSA" || k["kty"].is_null())
        .filter_map(|k| {
            let kid = k["kid"].as_str()?;
            let decoding =
                DecodingKey::from_rsa_components(k["n"].as_str()?, k["e"].as_str()?).ok()?;
            let endorsements = k["endorsements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect();
            Some((
                kid.to_owned(),
                Key {
                    decoding,
                    endorsements,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_rsa_keys_with_ids_are_kept_with_their_endorsements() {
        // The key and its parts come from a real Bot Framework token, as
        // recorded in botbuilder-js's tests (tests/fixtures/teams/README.md).
        let fixture: Value =
            serde_json::from_str(include_str!("../tests/fixtures/openid_jwk_kat.json")).unwrap();
        let mut set = fixture["jwks"].clone();
        set["keys"][0]["endorsements"] = json!(["msteams", "skype"]);
        set["keys"].as_array_mut().unwrap().extend([
            json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "a", "y": "b"}),
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        ]);
        let keys = parse_keys(&set);
        assert_eq!(keys.len(), 1);
        let key = &keys["SsZsBNhZcF3Q9S4trpQBTByNRRI"];
        assert_eq!(key.endorsements, ["msteams", "skype"]);
    }
}
