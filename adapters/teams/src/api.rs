//! The Bot Framework connector calls handoff makes, and the OAuth2
//! client-credentials token they carry.
//!
//! The token is cached until five minutes before it expires; a 401 from
//! the connector drops it, so the retry fetches a fresh one. Conversation
//! ids hold `:`, `@`, `;` and `=` (`19:…@thread.tacv2;messageid=…`) and
//! are percent-encoded as one path segment.

use std::time::{Duration, Instant};

use handoff_core::DeliveryError;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::{BOT_SCOPE, TeamsSettings};

/// Every call gives up after this long; the outbox retries it.
const TIMEOUT: Duration = Duration::from_secs(30);
/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// The wait used when Teams says 429 without a Retry-After (rate limits do
/// not count as failed attempts, so this is not doubled; Microsoft asks
/// for seconds, not a tight loop).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Teams asked us to wait (HTTP 429).
    #[error("rate limited by Teams for {retry_after:?}")]
    RateLimited {
        /// From the Retry-After header.
        retry_after: Duration,
    },
    /// Teams or the token endpoint answered with an error.
    #[error("{what} was refused: {message} (HTTP {status}{})", code_suffix(code))]
    Refused {
        /// What handoff asked for.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The error code in the body (`ConversationNotFound`,
        /// `invalid_client`), when there was one.
        code: String,
        /// The message in the body.
        message: String,
        /// The Retry-After header, when a 503 carried one.
        retry_after: Option<Duration>,
    },
    /// No usable answer (network, timeout, a body that is not JSON).
    #[error("{what} failed: {reason}")]
    Unreachable {
        /// What handoff asked for.
        what: String,
        /// What went wrong.
        reason: String,
    },
}

fn code_suffix(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(", {code}")
    }
}

impl From<ApiError> for DeliveryError {
    fn from(e: ApiError) -> Self {
        match &e {
            ApiError::RateLimited { retry_after } => DeliveryError::RateLimited {
                retry_after: *retry_after,
            },
            ApiError::Unreachable { .. } => DeliveryError::Transient {
                reason: e.to_string(),
                retry_after: None,
            },
            ApiError::Refused {
                status: 403, code, ..
            } => DeliveryError::Permanent {
                reason: format!(
                    "{e}. The handoff app is probably not installed in that team ({code}); add it to the team in Teams."
                ),
            },
            ApiError::Refused {
                status,
                retry_after,
                ..
            } => DeliveryError::from_status(*status, e.to_string(), *retry_after),
        }
    }
}

/// No answer: the error names what was asked, never the URL (a token
/// endpoint's URL may name the tenant, a service URL the region).
fn unreachable(what: &str, e: reqwest::Error) -> ApiError {
    ApiError::Unreachable {
        what: what.into(),
        reason: e.without_url().to_string(),
    }
}

/// A conversation id as one URL path segment, encoded as JavaScript's
/// `encodeURIComponent` does (what the Bot Framework SDKs send).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A thread (reply chain) handoff created in a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The thread's conversation id (`19:…;messageid=…`).
    pub conversation: String,
    /// The id of the thread's root activity (the card).
    pub activity: String,
}

/// The connector client.
pub struct TeamsApi {
    http: reqwest::Client,
    app_id: String,
    app_password: String,
    token_url: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for TeamsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsApi")
            .field("app_id", &self.app_id)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

/// The HTTP client every Teams call uses (the token check's key fetches
/// too).
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

impl TeamsApi {
    /// A client for the bot `settings` names.
    pub fn new(http: reqwest::Client, settings: &TeamsSettings) -> Self {
        Self {
            http,
            app_id: settings.app_id.clone(),
            app_password: settings.app_password.clone(),
            token_url: settings.token_url.clone(),
            token: Mutex::new(None),
        }
    }

    /// Asks the token endpoint for a fresh token; returns it and how long
    /// it lives. `handoff doctor` calls this directly.
    pub async fn fetch_token(&self) -> Result<(String, Duration), ApiError> {
        let what = "the Teams token request";
        let answer = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.app_id.as_str()),
                ("client_secret", self.app_password.as_str()),
                ("scope", BOT_SCOPE),
            ])
            .send()
            .await
            .map_err(|e| unreachable(what, e))?;
        let status = answer.status().as_u16();
        if status == 429 {
            // Entra throttles too: wait, do not give the command up.
            return Err(ApiError::RateLimited {
                retry_after: retry_after(answer.headers()).unwrap_or(DEFAULT_RETRY_AFTER),
            });
        }
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(ApiError::Refused {
                what: what.into(),
                status,
                code: body["error"].as_str().unwrap_or_default().to_owned(),
                // Azure's descriptions name the problem (AADSTS7000215:
                // Invalid client secret) and never echo the secret.
                message: body["error_description"]
                    .as_str()
                    .unwrap_or("no description")
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                retry_after: None,
            });
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| ApiError::Unreachable {
                what: what.into(),
                reason: "the answer holds no access_token".into(),
            })?;
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600));
        Ok((token.to_owned(), lifetime))
    }

    /// The cached token, renewed when it is about to expire.
    async fn token(&self) -> Result<String, ApiError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch_token().await?;
        // A token shorter-lived than the margin is used for half its life.
        let keep = lifetime.checked_sub(RENEW_BEFORE).unwrap_or(lifetime / 2);
        *cached = Some((token.clone(), Instant::now() + keep));
        Ok(token)
    }

    async fn call(
        &self,
        what: &str,
        method: reqwest::Method,
        url: String,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let token = self.token().await?;
        let answer = self
            .http
            .request(method, &url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| unreachable(what, e))?;
        let status = answer.status().as_u16();
        let wait = retry_after(answer.headers());
        let text = answer.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(json),
            429 => Err(ApiError::RateLimited {
                retry_after: wait.unwrap_or(DEFAULT_RETRY_AFTER),
            }),
            _ => {
                if status == 401 {
                    // Whatever the reason, the next try starts from a new
                    // token.
                    *self.token.lock().await = None;
                }
                let error = &json["error"];
                Err(ApiError::Refused {
                    what: what.into(),
                    status,
                    code: error["code"].as_str().unwrap_or_default().to_owned(),
                    message: error["message"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| text.chars().take(200).collect()),
                    retry_after: wait,
                })
            }
        }
    }

    fn conversations(service_url: &str) -> String {
        format!("{}/v3/conversations", service_url.trim_end_matches('/'))
    }

    /// Starts a new thread in `channel` with `activity` as its root.
    pub async fn create_thread(
        &self,
        service_url: &str,
        channel: &str,
        activity: &Value,
    ) -> Result<Created, ApiError> {
        let body = json!({
            "isGroup": true,
            "channelData": {"channel": {"id": channel}},
            "activity": activity,
        });
        let answer = self
            .call(
                "Posting a card",
                reqwest::Method::POST,
                Self::conversations(service_url),
                &body,
            )
            .await?;
        let conversation = answer["id"].as_str();
        let activity = answer["activityId"]
            .as_str()
            .or_else(|| conversation.and_then(|c| c.rsplit_once(";messageid=").map(|(_, id)| id)));
        match (conversation, activity) {
            (Some(c), Some(a)) => Ok(Created {
                conversation: c.to_owned(),
                activity: a.to_owned(),
            }),
            _ => Err(ApiError::Unreachable {
                what: "Posting a card".into(),
                reason: format!("the answer names no conversation and activity: {answer}"),
            }),
        }
    }

    /// Posts `activity` into `conversation` (a thread's id posts in the
    /// thread); returns the new activity's id.
    pub async fn send(
        &self,
        service_url: &str,
        conversation: &str,
        activity: &Value,
    ) -> Result<String, ApiError> {
        let url = format!(
            "{}/{}/activities",
            Self::conversations(service_url),
            encode_segment(conversation)
        );
        let answer = self
            .call("Posting in a thread", reqwest::Method::POST, url, activity)
            .await?;
        Ok(answer["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Replaces the activity `id` in `conversation` (the card, in place).
    pub async fn update(
        &self,
        service_url: &str,
        conversation: &str,
        id: &str,
        activity: &Value,
    ) -> Result<(), ApiError> {
        let url = format!(
            "{}/{}/activities/{}",
            Self::conversations(service_url),
            encode_segment(conversation),
            encode_segment(id)
        );
        self.call("Updating a card", reqwest::Method::PUT, url, activity)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_are_one_encoded_segment() {
        assert_eq!(
            encode_segment("19:abc@thread.tacv2;messageid=1700000000001"),
            "19%3Aabc%40thread.tacv2%3Bmessageid%3D1700000000001"
        );
        assert_eq!(encode_segment("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
    }

    #[test]
    fn errors_map_to_what_the_outbox_does_next() {
        let refused = |status: u16, code: &str| ApiError::Refused {
            what: "x".into(),
            status,
            code: code.into(),
            message: "m".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            DeliveryError::from(ApiError::RateLimited {
                retry_after: Duration::from_secs(2)
            }),
            DeliveryError::RateLimited {
                retry_after: Duration::from_secs(2)
            }
        );
        assert!(matches!(
            DeliveryError::from(refused(503, "ServiceUnavailable")),
            DeliveryError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            DeliveryError::from(refused(401, "")),
            DeliveryError::Transient { .. }
        ));
        let DeliveryError::Permanent { reason } =
            DeliveryError::from(refused(403, "BotNotInConversationRoster"))
        else {
            panic!("a 403 is permanent");
        };
        assert!(reason.contains("not installed in that team"), "{reason}");
        assert!(matches!(
            DeliveryError::from(refused(404, "ConversationNotFound")),
            DeliveryError::Permanent { .. }
        ));
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "NaN".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
