//! Optional summary enrichment through any OpenAI-compatible chat
//! completions endpoint (`llm.base_url`, `llm.model`, key `LLM_API_KEY`).
//!
//! The offline summary is always computed first; the model only gets a
//! redacted transcript (masked entities never leave handoff), one strict
//! timeout, and no retries: a card that waits for a slow model is worse
//! than a card with the extractive summary. Any failure — timeout, HTTP
//! error, unexpected JSON, an empty or overlong answer — returns the
//! offline summary and says why, for the log.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::summary::{Author, Turn, cut};
use super::{Analyzer, entities};
use crate::config::Secret;

/// The most transcript characters sent to the model.
const MAX_PROMPT_CHARS: usize = 6_000;
/// The longest summary accepted from the model, in characters.
const MAX_ANSWER_CHARS: usize = 480;

/// `[llm]`: off unless `base_url` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// The API root, e.g. `https://api.openai.com/v1`; `/chat/completions`
    /// is appended. Unset: no enrichment.
    pub base_url: Option<String>,
    /// The model name the endpoint expects.
    pub model: String,
    /// The whole call's time limit, in milliseconds.
    pub timeout_ms: u64,
    /// The answer's token limit.
    pub max_tokens: u32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            model: "gpt-4o-mini".to_owned(),
            timeout_ms: 4_000,
            max_tokens: 160,
        }
    }
}

/// Why the model's summary was not used.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// No answer within the timeout.
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
    /// The request failed or the endpoint answered with an error status.
    #[error("the model endpoint failed: {0}")]
    Http(String),
    /// The answer was not a chat completion with text.
    #[error("the model's answer was unusable: {0}")]
    Unusable(String),
}

/// A client for the configured endpoint.
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    url: String,
    model: String,
    timeout: Duration,
    max_tokens: u32,
    key: Option<Secret>,
}

impl LlmClient {
    /// A client, or `None` when `llm.base_url` is unset.
    pub fn from_config(config: &LlmConfig, key: Option<Secret>) -> Option<Self> {
        let base = config.base_url.as_deref()?.trim_end_matches('/');
        let timeout = Duration::from_millis(config.timeout_ms);
        Some(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            url: format!("{base}/chat/completions"),
            model: config.model.clone(),
            timeout,
            max_tokens: config.max_tokens,
            key,
        })
    }

    /// Asks the model to summarise `turns`; the transcript is redacted with
    /// the analyser's policy first.
    pub async fn summarize(
        &self,
        analyzer: &Analyzer,
        turns: &[Turn<'_>],
    ) -> Result<String, LlmError> {
        let body = json!({
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": transcript(analyzer, turns)},
            ],
        });
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key.expose());
        }
        // reqwest's own timeout and the outer one race; either is a timeout.
        let timeout = self.timeout;
        let failed = move |e: reqwest::Error, wrap: fn(String) -> LlmError| {
            if e.is_timeout() {
                LlmError::Timeout(timeout)
            } else {
                wrap(e.to_string())
            }
        };
        let call = async {
            let response = request
                .send()
                .await
                .map_err(|e| failed(e, LlmError::Http))?;
            let status = response.status();
            if !status.is_success() {
                return Err(LlmError::Http(format!("HTTP {status}")));
            }
            response
                .json::<Completion>()
                .await
                .map_err(|e| failed(e, LlmError::Unusable))
        };
        let completion = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| LlmError::Timeout(self.timeout))??;
        let text = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        if text.is_empty() {
            return Err(LlmError::Unusable("no text in the first choice".to_owned()));
        }
        Ok(cut(&text, MAX_ANSWER_CHARS))
    }
}

const SYSTEM_PROMPT: &str = "You write the summary on a customer support handoff card. \
Given a chat transcript, state in at most three short sentences: the customer's problem \
in their own terms, the key facts (order numbers, amounts, dates), and what the bot already \
tried. Plain text only, no markup, no greeting, never invent facts.";

/// The transcript as the model sees it: one line per turn, masked, cut to
/// a bounded size (the latest turns are kept).
fn transcript(analyzer: &Analyzer, turns: &[Turn<'_>]) -> String {
    let mut found = Vec::new();
    let mut lines: Vec<String> = turns
        .iter()
        .map(|t| {
            entities::find(t.text, &mut found);
            let who = match t.author {
                Author::Customer => "customer",
                Author::Bot => "bot",
                Author::Agent => "agent",
                Author::System => "system",
            };
            format!("{who}: {}", analyzer.redaction().redact(t.text, &found))
        })
        .collect();
    let mut total: usize = lines.iter().map(|l| l.len() + 1).sum();
    while total > MAX_PROMPT_CHARS && lines.len() > 1 {
        total -= lines.remove(0).len() + 1;
    }
    cut(&lines.join("\n"), MAX_PROMPT_CHARS)
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}
