//! Analysis against real parts: the LLM summary against a local
//! OpenAI-compatible double on 127.0.0.1 (success, slow, failing, garbage),
//! and the sentiment model against handoff's own hand-labelled support set.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use handoff::analysis::llm::{LlmClient, LlmConfig, LlmError};
use handoff::analysis::sentiment::Label;
use handoff::analysis::summary::{Author, Turn};
use handoff::analysis::{Analyzer, AnalyzerSettings, Scratch};
use handoff::config::{Config, Secret};
use handoff::escalation::{CustomerFacts, Intelligence};
use serde_json::{Value, json};

/// How the double answers.
#[derive(Clone, Copy)]
enum Mode {
    Answer,
    Slow,
    Fail,
    Garbage,
}

/// Each request's Authorization header and JSON body.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

#[derive(Clone)]
struct Double {
    mode: Mode,
    seen: Seen,
}

async fn completions(
    State(d): State<Double>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    d.seen.lock().unwrap().push((auth, body));
    match d.mode {
        Mode::Answer => (
            StatusCode::OK,
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Customer was charged twice for order 88123\n and wants a person."}}]
            })
            .to_string(),
        ),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::OK, "{}".into())
        }
        Mode::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":{\"message\":\"boom\"}}".into()),
        Mode::Garbage => (StatusCode::OK, "{\"choices\": \"nope\"}".into()),
    }
}

/// Starts the double; returns its base URL and what it saw.
async fn double(mode: Mode) -> (String, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(Double {
            mode,
            seen: Arc::clone(&seen),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

fn llm_config(base_url: &str, timeout_ms: u64) -> LlmConfig {
    LlmConfig {
        base_url: Some(base_url.to_owned()),
        model: "test-model".into(),
        timeout_ms,
        max_tokens: 100,
    }
}

const TURNS: [Turn<'static>; 3] = [
    Turn {
        author: Author::Customer,
        text: "I was charged twice for order 88123, card 4242 4242 4242 4242",
    },
    Turn {
        author: Author::Bot,
        text: "You can request a refund on the Orders page.",
    },
    Turn {
        author: Author::Customer,
        text: "that didn't help, agent please",
    },
];

#[tokio::test]
async fn the_model_gets_a_redacted_transcript_and_its_answer_is_used() {
    let (url, seen) = double(Mode::Answer).await;
    let analyzer = Analyzer::new(&AnalyzerSettings::default());
    let client =
        LlmClient::from_config(&llm_config(&url, 2_000), Some(Secret::new("test-key"))).unwrap();
    let text = client.summarize(&analyzer, &TURNS).await.unwrap();
    assert_eq!(
        text,
        "Customer was charged twice for order 88123 and wants a person."
    );
    let seen = seen.lock().unwrap();
    let (auth, body) = &seen[0];
    assert_eq!(auth.as_deref(), Some("Bearer test-key"));
    assert_eq!(body["model"], "test-model");
    let transcript = body["messages"][1]["content"].as_str().unwrap();
    assert!(transcript.contains("customer: I was charged twice for order 88123"));
    assert!(transcript.contains("[card ending 4242]"));
    assert!(
        !transcript.contains("4242 4242"),
        "card numbers never leave handoff"
    );
}

#[tokio::test]
async fn a_slow_failing_or_garbled_model_is_an_error_not_a_hang() {
    let analyzer = Analyzer::new(&AnalyzerSettings::default());
    let (url, _) = double(Mode::Slow).await;
    let client = LlmClient::from_config(&llm_config(&url, 200), None).unwrap();
    assert!(matches!(
        client.summarize(&analyzer, &TURNS).await,
        Err(LlmError::Timeout(_))
    ));
    let (url, _) = double(Mode::Fail).await;
    let client = LlmClient::from_config(&llm_config(&url, 2_000), None).unwrap();
    assert!(
        matches!(client.summarize(&analyzer, &TURNS).await, Err(LlmError::Http(m)) if m.contains("500"))
    );
    let (url, _) = double(Mode::Garbage).await;
    let client = LlmClient::from_config(&llm_config(&url, 2_000), None).unwrap();
    assert!(matches!(
        client.summarize(&analyzer, &TURNS).await,
        Err(LlmError::Unusable(_))
    ));
    // Nothing listens here: refused at once.
    let client = LlmClient::from_config(&llm_config("http://127.0.0.1:9", 2_000), None).unwrap();
    assert!(matches!(
        client.summarize(&analyzer, &TURNS).await,
        Err(LlmError::Http(_))
    ));
}

#[tokio::test]
async fn the_card_falls_back_to_the_offline_summary() {
    let (url, seen) = double(Mode::Fail).await;
    let mut config = Config {
        llm: llm_config(&url, 2_000),
        ..Config::default()
    };
    let intel = Intelligence::new(&config).unwrap();
    let mut scratch = Scratch::default();
    let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let turns: Vec<_> = TURNS
        .iter()
        .map(|t| intel.facts(t.author, t.text, at, None, &mut scratch))
        .collect();
    let metadata = serde_json::Map::new();
    let customer = CustomerFacts {
        metadata: &metadata,
        source: handoff_core::Platform::Webchat,
    };
    let decision = intel
        .decide(&turns, customer, at)
        .expect("asks for a person");
    let text = intel.summary_text(&decision, &turns).await;
    assert_eq!(text, decision.summary.text());
    assert!(
        text.contains("order 88123") && !text.contains("4242 4242"),
        "{text}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the model was asked once, no retries"
    );

    let (url, _) = double(Mode::Answer).await;
    config.llm = llm_config(&url, 2_000);
    let intel = Intelligence::new(&config).unwrap();
    assert!(
        intel
            .summary_text(&decision, &turns)
            .await
            .starts_with("Customer was charged twice")
    );
}

/// A regression guard on handoff's own hand-labelled support messages
/// (tests/fixtures/support_sentiment.tsv); the public comparison with VADER
/// is `scripts/analysis-eval`.
#[test]
fn support_messages_are_read_the_way_a_support_lead_reads_them() {
    let analyzer = Analyzer::new(&AnalyzerSettings::default());
    let mut scratch = Scratch::default();
    let data = include_str!("fixtures/support_sentiment.tsv");
    let (mut right, mut total, mut predicted_negative, mut true_negative) = (0, 0, 0, 0);
    for line in data
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (gold, text) = line.split_once('\t').unwrap();
        let label = analyzer
            .analyze(text, &mut scratch)
            .unwrap()
            .sentiment
            .label;
        total += 1;
        if label.as_str() == gold {
            right += 1;
        }
        if label == Label::Negative {
            predicted_negative += 1;
            if gold == "negative" {
                true_negative += 1;
            }
        }
    }
    let accuracy = f64::from(right) / f64::from(total);
    let precision = f64::from(true_negative) / f64::from(predicted_negative);
    assert!(total >= 100);
    assert!(accuracy >= 0.85, "accuracy {accuracy:.3}");
    assert!(precision >= 0.95, "negative precision {precision:.3}");
}
