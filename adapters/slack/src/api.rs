//! Slack's Web API through slack-morphism's client, with the answers turned
//! into what the outbox understands: a 429 is a pause of exactly
//! Retry-After, a server trouble is retried, a refusal (`channel_not_found`,
//! `not_in_channel`, `invalid_auth`) is final and says why.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handoff_core::DeliveryError;
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

/// How long a looked-up display name is trusted.
const NAME_TTL: Duration = Duration::from_secs(3600);

/// The most one batch of name look-ups may delay an acknowledgement (Slack
/// wants one within 3 s); a name not found in time is simply left out.
const NAME_BUDGET: Duration = Duration::from_millis(1500);

/// Why a Web API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// HTTP 429 (or `ratelimited`).
    #[error("Slack rate limited the call; retry after {0:?}")]
    RateLimited(Duration),
    /// Slack answered `ok: false` with this code.
    #[error("Slack refused the call: {code}")]
    Refused {
        /// Slack's error code (`channel_not_found`).
        code: String,
        /// The scope it lacks, for `missing_scope`.
        needed: Option<String>,
    },
    /// No usable answer (connection, timeout, 5xx, not JSON).
    #[error("Slack could not be reached: {0}")]
    Unreachable(String),
}

/// Codes Slack documents as temporary.
const TRANSIENT_CODES: [&str; 5] = [
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
];

impl ApiError {
    /// What the outbox should do about it.
    pub fn delivery_error(&self) -> DeliveryError {
        match self {
            ApiError::RateLimited(after) => DeliveryError::RateLimited {
                retry_after: *after,
            },
            ApiError::Refused { code, .. } if TRANSIENT_CODES.contains(&code.as_str()) => {
                DeliveryError::Transient {
                    reason: format!("Slack answered {code}"),
                    retry_after: None,
                }
            }
            ApiError::Refused { code, needed } => DeliveryError::Permanent {
                reason: match (code.as_str(), needed) {
                    ("not_in_channel", _) => {
                        "the bot is not in that Slack channel (invite it with /invite @handoff)"
                            .to_owned()
                    }
                    ("channel_not_found", _) => {
                        "Slack has no such channel, or the bot cannot see it".to_owned()
                    }
                    (_, Some(scope)) => format!("Slack refused it: {code} (needs {scope})"),
                    _ => format!("Slack refused it: {code}"),
                },
            },
            ApiError::Unreachable(reason) => DeliveryError::Transient {
                reason: format!("Slack could not be reached: {reason}"),
                retry_after: None,
            },
        }
    }
}

fn api_error(e: SlackClientError) -> ApiError {
    match e {
        SlackClientError::RateLimitError(r) => {
            // Slack always sends Retry-After; a minute is its own advice
            // for when it is missing.
            ApiError::RateLimited(r.retry_after.unwrap_or(Duration::from_secs(60)))
        }
        SlackClientError::ApiError(a) => {
            let needed = a
                .http_response_body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .and_then(|v| v["needed"].as_str().map(str::to_owned));
            if a.code == "ratelimited" {
                return ApiError::RateLimited(Duration::from_secs(60));
            }
            ApiError::Refused {
                code: a.code,
                needed,
            }
        }
        other => ApiError::Unreachable(other.to_string()),
    }
}

/// The longest one Web API call may take; the client has no limit of its
/// own, and a hung connection must not hold a worker or a websocket loop.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

async fn bounded(
    method: &str,
    call: impl Future<Output = Result<Value, SlackClientError>>,
) -> Result<Value, ApiError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(answer) => answer.map_err(api_error),
        Err(_) => Err(ApiError::Unreachable(format!(
            "{method} did not answer within {CALL_TIMEOUT:?}"
        ))),
    }
}

/// User id -> display name (none: the user has none) and when it was read.
type NameCache = HashMap<String, (Option<String>, Instant)>;

type Connector = SlackClientHyperConnector<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

/// A Slack workspace as the bot sees it.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
    app_token: Option<SlackApiToken>,
    names: Arc<Mutex<NameCache>>,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi").finish_non_exhaustive()
    }
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("the Slack client could not be set up: {0}")]
pub struct SetupError(String);

impl SlackApi {
    /// A client for `api_url` (Slack's, or a test double's) with the bot
    /// token and, for Socket Mode, the app token.
    pub fn new(
        api_url: &str,
        bot_token: &str,
        app_token: Option<&str>,
    ) -> Result<Self, SetupError> {
        // slack-morphism's default connector is HTTPS-only; a test double
        // on http://127.0.0.1 needs plain HTTP too.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| SetupError(format!("no CA certificates could be loaded ({e})")))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(api_url.trim_end_matches('/'));
        let token = |t: &str| SlackApiToken::new(SlackApiTokenValue::new(t.to_owned()));
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            token: token(bot_token),
            app_token: app_token.map(token),
            names: Arc::default(),
        })
    }

    /// Calls a Web API method with a JSON body.
    pub async fn post(&self, method: &str, args: &Value) -> Result<Value, ApiError> {
        let session = self.client.open_session(&self.token);
        let call = session
            .http_session_api
            .http_post::<Value, Value>(method, args, None);
        bounded(method, call).await
    }

    /// Calls a Web API method that takes a query string.
    pub async fn get(&self, method: &str, params: &[(&str, &str)]) -> Result<Value, ApiError> {
        let params: Vec<(&str, Option<&str>)> =
            params.iter().map(|(k, v)| (*k, Some(*v))).collect();
        let session = self.client.open_session(&self.token);
        let call = session
            .http_session_api
            .http_get::<Value, _, &str>(method, &params, None);
        bounded(method, call).await
    }

    /// `apps.connections.open`: a fresh Socket Mode websocket URL.
    pub async fn socket_url(&self) -> Result<String, ApiError> {
        let Some(app_token) = &self.app_token else {
            return Err(ApiError::Refused {
                code: "no SLACK_APP_TOKEN is set".into(),
                needed: None,
            });
        };
        let session = self.client.open_session(app_token);
        let no_args = json!({});
        let call = session.http_session_api.http_post::<Value, Value>(
            "apps.connections.open",
            &no_args,
            None,
        );
        let answer = bounded("apps.connections.open", call).await?;
        answer["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Unreachable("apps.connections.open gave no url".into()))
    }

    /// `auth.test`: who the bot is.
    pub async fn whoami(&self) -> Result<Value, ApiError> {
        self.post("auth.test", &json!({})).await
    }

    /// Display names for `users` (from `users.info`, cached for an hour),
    /// within [`NAME_BUDGET`]. Unknown or slow ones are left out.
    pub async fn names(&self, users: &[String]) -> HashMap<String, String> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = self.names.lock().expect("name cache lock");
            for u in users {
                match cache.get(u) {
                    Some((name, at)) if at.elapsed() < NAME_TTL => {
                        if let Some(n) = name {
                            found.insert(u.clone(), n.clone());
                        }
                    }
                    _ => missing.push(u.clone()),
                }
            }
        }
        if missing.is_empty() {
            return found;
        }
        let lookups = futures::future::join_all(missing.iter().map(|u| self.lookup(u)));
        let Ok(results) = tokio::time::timeout(NAME_BUDGET, lookups).await else {
            tracing::warn!(
                users = missing.len(),
                "Slack users.info was too slow; names are left out of this event."
            );
            return found;
        };
        let mut cache = self.names.lock().expect("name cache lock");
        for (u, result) in missing.into_iter().zip(results) {
            match result {
                Ok(name) => {
                    if let Some(n) = &name {
                        found.insert(u.clone(), n.clone());
                    }
                    cache.insert(u, (name, Instant::now()));
                }
                Err(e) => tracing::warn!(user = %u, error = %e, "Slack users.info failed."),
            }
        }
        found
    }

    async fn lookup(&self, user: &str) -> Result<Option<String>, ApiError> {
        let answer = self.get("users.info", &[("user", user)]).await?;
        let u = &answer["user"];
        let pick = |v: &Value| {
            v.as_str()
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        };
        Ok(pick(&u["profile"]["display_name"])
            .or_else(|| pick(&u["profile"]["real_name"]))
            .or_else(|| pick(&u["real_name"]))
            .or_else(|| pick(&u["name"])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_outbox_decisions() {
        assert_eq!(
            ApiError::RateLimited(Duration::from_secs(7)).delivery_error(),
            DeliveryError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        assert!(matches!(
            ApiError::Refused {
                code: "internal_error".into(),
                needed: None
            }
            .delivery_error(),
            DeliveryError::Transient { .. }
        ));
        let DeliveryError::Permanent { reason } = (ApiError::Refused {
            code: "not_in_channel".into(),
            needed: None,
        })
        .delivery_error() else {
            panic!()
        };
        assert!(reason.contains("/invite"));
        assert!(matches!(
            ApiError::Unreachable("refused".into()).delivery_error(),
            DeliveryError::Transient { .. }
        ));
    }
}
