//! Discord's REST API v10, the calls handoff makes, over reqwest.
//!
//! Not serenity's `Http`: with its rate limiter off (it bypasses a
//! configured base URL) a 429 comes back as an error whose JSON body,
//! the only place with Discord's fractional `retry_after`, is lost; and its
//! errors do not keep the status apart from Discord's error code. The
//! outbox needs both to decide between waiting, retrying and giving up.

use std::time::Duration;

use handoff_core::DeliveryError;
use serde_json::{Value, json};

/// Every call gives up after this long; the outbox retries it.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Discord's JSON error codes handoff acts on.
pub mod codes {
    /// The channel does not exist (or the bot cannot see it).
    pub const UNKNOWN_CHANNEL: i64 = 10_003;
    /// The interaction expired or was answered already.
    pub const UNKNOWN_INTERACTION: i64 = 10_062;
    /// The user's DMs are closed to the bot, or they blocked it.
    pub const CANNOT_DM: i64 = 50_007;
    /// The bot lacks a permission in that channel.
    pub const MISSING_PERMISSIONS: i64 = 50_013;
    /// A thread was already opened from that message.
    pub const THREAD_EXISTS: i64 = 160_004;
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Discord asked us to wait (HTTP 429).
    #[error("rate limited by Discord for {retry_after:?}")]
    RateLimited {
        /// From the body's `retry_after` (seconds, fractional).
        retry_after: Duration,
    },
    /// Discord answered with an error.
    #[error("Discord refused {what}: {message} (HTTP {status}, code {code})")]
    Refused {
        /// What handoff asked for.
        what: String,
        /// The HTTP status.
        status: u16,
        /// Discord's JSON error code (0 when there was none).
        code: i64,
        /// Discord's message.
        message: String,
    },
    /// No usable answer (network, timeout, a body that is not JSON).
    #[error("Discord could not be reached for {what}: {reason}")]
    Unreachable {
        /// What handoff asked for.
        what: String,
        /// What went wrong.
        reason: String,
    },
}

impl ApiError {
    /// Discord's error code, when it answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ApiError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<ApiError> for DeliveryError {
    fn from(e: ApiError) -> Self {
        match &e {
            ApiError::RateLimited { retry_after } => DeliveryError::RateLimited {
                retry_after: *retry_after,
            },
            ApiError::Refused {
                code: codes::CANNOT_DM,
                ..
            } => DeliveryError::Permanent {
                reason: "the customer cannot be reached on Discord: they closed their DMs or \
                         blocked the bot (Discord error 50007)"
                    .to_owned(),
            },
            // 401: the token was revoked or rotated. Nothing is wrong with
            // the message; it can go once the token is fixed (the error log
            // says so on every attempt until then).
            ApiError::Refused { status, .. } => {
                DeliveryError::from_status(*status, e.to_string(), None)
            }
            ApiError::Unreachable { .. } => DeliveryError::Transient {
                reason: e.to_string(),
                retry_after: None,
            },
        }
    }
}

/// A client for one bot token.
#[derive(Clone)]
pub struct DiscordApi {
    http: reqwest::Client,
    /// `{api_url}/api/v10`.
    base: String,
    auth: String,
}

impl std::fmt::Debug for DiscordApi {
    // The token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordApi")
            .field("base", &self.base)
            .finish()
    }
}

impl DiscordApi {
    /// A client for `api_url` (Discord's is `https://discord.com`).
    pub fn new(api_url: &str, token: &str) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent("DiscordBot (https://github.com/handoff-bot/handoff, 0.1)")
            .build()
            .map_err(|e| ApiError::Unreachable {
                what: "an HTTP client".into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: format!("{}/api/v10", api_url.trim_end_matches('/')),
            auth: format!("Bot {token}"),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let what = format!("{method} {path}");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        if let Some(body) = body {
            req = req.json(body);
        }
        let unreachable = |reason: String| ApiError::Unreachable {
            what: what.clone(),
            reason,
        };
        let resp = req.send().await.map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let retry_header = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        let bytes = resp.bytes().await.map_err(|e| unreachable(e.to_string()))?;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) if (200..300).contains(&status) => {
                    return Err(unreachable("the answer is not JSON".into()));
                }
                Err(_) => Value::Null,
            }
        };
        answer(what, status, retry_header, json)
    }

    /// GET `path` (under `/api/v10`).
    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// POST `body` to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Posts a message; `body` is Discord's create-message JSON.
    pub async fn create_message(&self, channel: &str, body: &Value) -> Result<Value, ApiError> {
        self.post(&format!("/channels/{channel}/messages"), body)
            .await
    }

    /// Opens a public thread from `message` in `channel`. A thread that
    /// already exists (a retry after a lost answer) counts as opened.
    pub async fn open_thread(
        &self,
        channel: &str,
        message: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        // A week of quiet before Discord archives it; a customer writing
        // again unarchives it.
        let body = json!({"name": name, "auto_archive_duration": 10080});
        match self
            .post(
                &format!("/channels/{channel}/messages/{message}/threads"),
                &body,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(codes::THREAD_EXISTS) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Up to 100 messages of `channel` after the message `after` (or the
    /// latest ones without it), oldest first.
    pub async fn messages(
        &self,
        channel: &str,
        after: Option<&str>,
        limit: u8,
    ) -> Result<Vec<Value>, ApiError> {
        let mut path = format!("/channels/{channel}/messages?limit={}", limit.min(100));
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        let Value::Array(mut page) = self.get(&path).await? else {
            return Err(ApiError::Unreachable {
                what: format!("GET {path}"),
                reason: "the answer is not a list of messages".into(),
            });
        };
        // Discord lists newest first whatever the anchor.
        page.sort_by_key(|m| snowflake(&m["id"]));
        Ok(page)
    }

    /// Answers an interaction (a button click) within Discord's 3 seconds.
    pub async fn answer_interaction(
        &self,
        id: &str,
        token: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        self.post(&format!("/interactions/{id}/{token}/callback"), body)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                // The token answers for the bot for 15 minutes: keep it out
                // of errors and logs.
                ApiError::Refused {
                    status,
                    code,
                    message,
                    ..
                } => ApiError::Refused {
                    what: format!("POST /interactions/{id}/…/callback"),
                    status,
                    code,
                    message,
                },
                ApiError::Unreachable { .. } => ApiError::Unreachable {
                    what: format!("POST /interactions/{id}/…/callback"),
                    reason: "no answer".into(),
                },
                other => other,
            })
    }
}

/// A snowflake's numeric value (0 for anything else): snowflakes sort by
/// creation time as numbers, not as strings.
pub fn snowflake(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Milliseconds since the Unix epoch at which a snowflake was made.
pub fn snowflake_millis(id: u64) -> i64 {
    // Discord's epoch, the first second of 2015.
    ((id >> 22) + 1_420_070_400_000) as i64
}

/// Turns Discord's answer into a value or an error. Pure, so every status
/// is tested without a server.
fn answer(
    what: String,
    status: u16,
    retry_header: Option<f64>,
    json: Value,
) -> Result<Value, ApiError> {
    if (200..300).contains(&status) {
        return Ok(json);
    }
    if status == 429 {
        // The body's value is fractional seconds; the header is whole
        // seconds rounded up, so it is only the fallback.
        let secs = json["retry_after"]
            .as_f64()
            .or(retry_header)
            .filter(|s| s.is_finite())
            .unwrap_or(1.0)
            .clamp(0.0, 3600.0);
        return Err(ApiError::RateLimited {
            retry_after: Duration::from_secs_f64(secs),
        });
    }
    Err(ApiError::Refused {
        what,
        status,
        code: json["code"].as_i64().unwrap_or(0),
        message: json["message"].as_str().unwrap_or("no message").to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: i64) -> DeliveryError {
        answer(
            "POST /x".into(),
            status,
            None,
            json!({"code": code, "message": "m"}),
        )
        .unwrap_err()
        .into()
    }

    #[test]
    fn rate_limits_wait_for_the_bodys_fractional_seconds() {
        let e = answer(
            "POST /x".into(),
            429,
            Some(1.0),
            json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": false}),
        )
        .unwrap_err();
        assert_eq!(
            DeliveryError::from(e),
            DeliveryError::RateLimited {
                retry_after: Duration::from_millis(250)
            }
        );
        // Without a body, the header.
        let e = answer("GET /y".into(), 429, Some(2.0), Value::Null).unwrap_err();
        assert_eq!(
            e,
            ApiError::RateLimited {
                retry_after: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn closed_dms_are_permanent_and_say_so() {
        let DeliveryError::Permanent { reason } = refused(403, codes::CANNOT_DM) else {
            panic!()
        };
        assert!(reason.contains("closed their DMs"), "{reason}");
        assert!(matches!(
            refused(403, codes::MISSING_PERMISSIONS),
            DeliveryError::Permanent { .. }
        ));
        assert!(matches!(
            refused(404, codes::UNKNOWN_CHANNEL),
            DeliveryError::Permanent { .. }
        ));
    }

    #[test]
    fn server_errors_and_a_revoked_token_pass() {
        assert!(matches!(refused(502, 0), DeliveryError::Transient { .. }));
        assert!(matches!(refused(401, 0), DeliveryError::Transient { .. }));
        let nan = answer("GET /y".into(), 429, Some(f64::NAN), Value::Null).unwrap_err();
        assert_eq!(
            nan,
            ApiError::RateLimited {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            answer("GET /z".into(), 200, None, json!([1])).unwrap(),
            json!([1])
        );
    }

    #[test]
    fn snowflakes_sort_and_date_as_numbers() {
        assert!(snowflake(&json!("175928847299117063")) > snowflake(&json!("99999999999999999")));
        assert_eq!(snowflake(&json!(null)), 0);
        // Discord's documented example: 2016-04-30 11:18:25.796 UTC.
        assert_eq!(snowflake_millis(175_928_847_299_117_063), 1_462_015_105_796);
    }
}
