//! Escalation triggers: configured rules over a conversation, each firing
//! an [`Escalation`] with a reason code and an urgency.
//!
//! Pure: the engine (and `handoff replay`) hands in the conversation's
//! turns, already analysed, and the customer's metadata; rules never look
//! anything up. Several rules can fire at once and the card shows every
//! reason; the case takes the highest urgency.

use chrono::{DateTime, Duration, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::analysis::IntentResult;
use crate::analysis::sentiment::Trend;
use crate::analysis::summary::Author;
use crate::cases::Urgency;

/// One configured rule (`[[triggers]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TriggerRule {
    /// The customer asks for a person.
    HumanRequest {
        /// Reason code (default `human_request`).
        #[serde(default)]
        reason: Option<String>,
        /// Default high.
        #[serde(default)]
        urgency: Option<Urgency>,
    },
    /// Sensitive words, patterns or intents in a customer message.
    Keywords {
        /// Reason code (default `keyword`).
        #[serde(default)]
        reason: Option<String>,
        /// Default normal.
        #[serde(default)]
        urgency: Option<Urgency>,
        /// Whole words or phrases, case-insensitive.
        #[serde(default)]
        keywords: Vec<String>,
        /// Regular expressions (Rust `regex` syntax).
        #[serde(default)]
        patterns: Vec<String>,
        /// Intents that escalate on their own.
        #[serde(default)]
        intents: Vec<String>,
    },
    /// Sentiment below a threshold, or falling over several messages.
    Sentiment {
        /// Reason code (default `negative_sentiment`, or
        /// `falling_sentiment` when only the trend fired).
        #[serde(default)]
        reason: Option<String>,
        /// Default high.
        #[serde(default)]
        urgency: Option<Urgency>,
        /// Fire when the latest customer message scores below this.
        #[serde(default)]
        below: Option<f32>,
        /// Fire when the mood fell across this many customer messages.
        #[serde(default)]
        falling_over: Option<usize>,
    },
    /// The customer repeats themselves or says the answer did not help.
    RepeatedFailure {
        /// Reason code (default `repeated_failure`).
        #[serde(default)]
        reason: Option<String>,
        /// Default normal.
        #[serde(default)]
        urgency: Option<Urgency>,
        /// Word-overlap (Jaccard) at which two messages are the same
        /// question; default 0.6.
        #[serde(default)]
        similarity: Option<f32>,
    },
    /// The first responder reported an answer with low confidence.
    LowConfidence {
        /// Reason code (default `low_confidence`).
        #[serde(default)]
        reason: Option<String>,
        /// Default normal.
        #[serde(default)]
        urgency: Option<Urgency>,
        /// Fire below this confidence (0..1); default 0.5.
        #[serde(default)]
        below: Option<f32>,
    },
    /// A VIP customer, from the customer's metadata.
    Vip {
        /// Reason code (default `vip`).
        #[serde(default)]
        reason: Option<String>,
        /// Default high.
        #[serde(default)]
        urgency: Option<Urgency>,
        /// The metadata key (default `vip`).
        #[serde(default)]
        key: Option<String>,
        /// Values that mean VIP (default: true, "true", "yes", 1).
        #[serde(default)]
        values: Vec<serde_json::Value>,
    },
    /// More than N bot turns without a person.
    BotTurns {
        /// Reason code (default `bot_turns`).
        #[serde(default)]
        reason: Option<String>,
        /// Default normal.
        #[serde(default)]
        urgency: Option<Urgency>,
        /// Fire when the bot has answered more than this many times.
        more_than: usize,
    },
    /// A customer message left unanswered for N minutes.
    Unanswered {
        /// Reason code (default `unanswered`).
        #[serde(default)]
        reason: Option<String>,
        /// Default normal.
        #[serde(default)]
        urgency: Option<Urgency>,
        /// Minutes without a bot or agent answer.
        minutes: u64,
    },
}

/// The rules a fresh install runs.
pub fn default_rules() -> Vec<TriggerRule> {
    vec![
        TriggerRule::HumanRequest {
            reason: None,
            urgency: None,
        },
        TriggerRule::Keywords {
            reason: Some("sensitive_topic".into()),
            urgency: Some(Urgency::Urgent),
            keywords: [
                "lawyer",
                "attorney",
                "legal action",
                "sue",
                "chargeback",
                "police",
                "fraud",
                "hacked",
                "stolen",
                "data breach",
                "gdpr",
            ]
            .map(String::from)
            .to_vec(),
            patterns: Vec::new(),
            intents: vec!["fraud_security".into()],
        },
        TriggerRule::Keywords {
            reason: Some("account_or_money".into()),
            urgency: Some(Urgency::Normal),
            keywords: Vec::new(),
            patterns: Vec::new(),
            intents: vec![
                "refund".into(),
                "cancellation".into(),
                "account_access".into(),
            ],
        },
        TriggerRule::Sentiment {
            reason: None,
            urgency: None,
            below: Some(-0.6),
            falling_over: Some(3),
        },
        TriggerRule::RepeatedFailure {
            reason: None,
            urgency: None,
            similarity: None,
        },
        TriggerRule::LowConfidence {
            reason: None,
            urgency: None,
            below: None,
        },
        TriggerRule::Vip {
            reason: None,
            urgency: None,
            key: None,
            values: Vec::new(),
        },
        TriggerRule::BotTurns {
            reason: None,
            urgency: None,
            more_than: 4,
        },
        TriggerRule::Unanswered {
            reason: None,
            urgency: None,
            minutes: 10,
        },
    ]
}

/// A rule that cannot be used, naming its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {problem}")]
pub struct RuleError {
    /// The dotted key (`triggers[2].patterns[0]`).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// Why a conversation escalates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalation {
    /// The reason code shown on the card and counted in metrics.
    pub reason: String,
    /// How urgent this reason is.
    pub urgency: Urgency,
    /// What exactly fired, for people ("matched `chargeback`").
    pub detail: String,
}

/// One turn, analysed, as the rules read it.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnFacts {
    /// Who wrote it.
    pub author: Author,
    /// The text.
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Sentiment score (customer turns).
    pub sentiment: f32,
    /// Asked for a person (customer turns).
    pub human_request: bool,
    /// Detected intent and its confidence (customer turns).
    pub intent: Option<IntentResult>,
    /// The first responder's confidence (bot turns).
    pub confidence: Option<f32>,
}

/// What the rules are evaluated on.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    /// The conversation so far, oldest first; the last turn is the one
    /// that just arrived.
    pub turns: &'a [TurnFacts],
    /// The customer's metadata.
    pub metadata: &'a serde_json::Map<String, serde_json::Value>,
    /// Now (for the unanswered timer).
    pub now: DateTime<Utc>,
}

/// Rules compiled once (regexes built, names checked).
#[derive(Debug, Clone)]
pub struct Triggers {
    rules: Vec<Compiled>,
}

#[derive(Debug, Clone)]
struct Compiled {
    rule: TriggerRule,
    keywords: Vec<Vec<String>>,
    patterns: Vec<Regex>,
}

/// Phrases saying the last answer did not help.
const NOT_HELPED: &[&str] = &[
    "didn't help",
    "did not help",
    "doesn't help",
    "does not help",
    "not helpful",
    "no help",
    "didn't work",
    "did not work",
    "doesn't work",
    "does not work",
    "still doesn't",
    "still does not",
    "still not working",
    "still broken",
    "same problem",
    "same issue",
    "not what i asked",
    "doesn't answer",
    "didn't answer",
    "you already said",
    "already tried",
    "already did that",
    "i tried that",
    "tried that already",
    "that's wrong",
    "not the answer",
    "useless",
    "not solved",
    "wasn't helpful",
    "unhelpful",
];

impl Triggers {
    /// Compiles `rules`, checking regexes and that every named intent is
    /// one of `intents`.
    pub fn new(rules: &[TriggerRule], intents: &[String]) -> Result<Self, RuleError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let err = |key: String, problem: String| RuleError {
                key: format!("triggers[{i}]{key}"),
                problem,
            };
            let mut patterns = Vec::new();
            let mut keywords = Vec::new();
            match rule {
                TriggerRule::Keywords {
                    keywords: words,
                    patterns: sources,
                    intents: named,
                    ..
                } => {
                    if words.is_empty() && sources.is_empty() && named.is_empty() {
                        return Err(err(
                            String::new(),
                            "needs at least one of `keywords`, `patterns`, `intents`".into(),
                        ));
                    }
                    for (j, source) in sources.iter().enumerate() {
                        let re = regex::RegexBuilder::new(source)
                            .case_insensitive(true)
                            .size_limit(1 << 20)
                            .build()
                            .map_err(|e| {
                                err(
                                    format!(".patterns[{j}]"),
                                    format!(
                                        "is not a valid regular expression: {}",
                                        one_line(&e.to_string())
                                    ),
                                )
                            })?;
                        patterns.push(re);
                    }
                    for (j, name) in named.iter().enumerate() {
                        if !intents.contains(name) {
                            return Err(err(
                                format!(".intents[{j}]"),
                                format!(
                                    "names the unknown intent {name:?} (known: {})",
                                    intents.join(", ")
                                ),
                            ));
                        }
                    }
                    keywords = words
                        .iter()
                        .map(|w| words_of(w))
                        .filter(|w| !w.is_empty())
                        .collect();
                }
                TriggerRule::Sentiment {
                    below,
                    falling_over,
                    ..
                } => {
                    if below.is_none() && falling_over.is_none() {
                        return Err(err(String::new(), "needs `below` or `falling_over`".into()));
                    }
                    if below.is_some_and(|b| !(-1.0..=1.0).contains(&b)) {
                        return Err(err(".below".into(), "must be between -1 and 1".into()));
                    }
                    if falling_over.is_some_and(|n| n < 2) {
                        return Err(err(
                            ".falling_over".into(),
                            "must be at least 2 messages".into(),
                        ));
                    }
                }
                TriggerRule::RepeatedFailure {
                    similarity: Some(s),
                    ..
                } if !(0.0..=1.0).contains(s) => {
                    return Err(err(".similarity".into(), "must be between 0 and 1".into()));
                }
                TriggerRule::LowConfidence { below: Some(b), .. } if !(0.0..=1.0).contains(b) => {
                    return Err(err(".below".into(), "must be between 0 and 1".into()));
                }
                TriggerRule::Unanswered { minutes: 0, .. } => {
                    return Err(err(".minutes".into(), "must be at least 1".into()));
                }
                _ => {}
            }
            compiled.push(Compiled {
                rule: rule.clone(),
                keywords,
                patterns,
            });
        }
        Ok(Self { rules: compiled })
    }

    /// The shortest unanswered-timer, if any rule has one (the engine's
    /// sweep interval follows it).
    pub fn unanswered_after(&self) -> Option<Duration> {
        self.rules
            .iter()
            .filter_map(|c| match c.rule {
                TriggerRule::Unanswered { minutes, .. } => Some(Duration::minutes(minutes as i64)),
                _ => None,
            })
            .min()
    }

    /// Every rule that fires on the situation, in rule order, one
    /// escalation per reason code.
    pub fn evaluate(&self, s: &Situation<'_>) -> Vec<Escalation> {
        let mut out: Vec<Escalation> = Vec::new();
        let Some(last) = s.turns.last() else {
            return out;
        };
        for c in &self.rules {
            if let Some(e) = c.fire(s, last)
                && !out.iter().any(|o| o.reason == e.reason)
            {
                out.push(e);
            }
        }
        out
    }
}

impl Compiled {
    fn fire(&self, s: &Situation<'_>, last: &TurnFacts) -> Option<Escalation> {
        let customer_turn = last.author == Author::Customer;
        let make = |reason: &Option<String>,
                    code: &str,
                    urgency: &Option<Urgency>,
                    default: Urgency,
                    detail: String| {
            Some(Escalation {
                reason: reason.clone().unwrap_or_else(|| code.to_owned()),
                urgency: urgency.unwrap_or(default),
                detail,
            })
        };
        match &self.rule {
            TriggerRule::HumanRequest { reason, urgency } => {
                if customer_turn && last.human_request {
                    return make(
                        reason,
                        "human_request",
                        urgency,
                        Urgency::High,
                        "asked for a person".into(),
                    );
                }
            }
            TriggerRule::Keywords {
                reason,
                urgency,
                intents,
                ..
            } => {
                if !customer_turn {
                    return None;
                }
                let words = words_of(&last.text);
                if let Some(k) = self.keywords.iter().find(|k| contains_words(&words, k)) {
                    return make(
                        reason,
                        "keyword",
                        urgency,
                        Urgency::Normal,
                        format!("mentioned “{}”", k.join(" ")),
                    );
                }
                if let Some(p) = self.patterns.iter().find(|p| p.is_match(&last.text)) {
                    return make(
                        reason,
                        "keyword",
                        urgency,
                        Urgency::Normal,
                        format!("matched /{}/", p.as_str()),
                    );
                }
                if let Some(intent) = last
                    .intent
                    .as_ref()
                    .map(|i| &i.name)
                    .filter(|i| intents.contains(i))
                {
                    return make(
                        reason,
                        "keyword",
                        urgency,
                        Urgency::Normal,
                        format!("intent {intent}"),
                    );
                }
            }
            TriggerRule::Sentiment {
                reason,
                urgency,
                below,
                falling_over,
            } => {
                if !customer_turn {
                    return None;
                }
                if let Some(b) = below.filter(|b| last.sentiment < *b) {
                    return make(
                        reason,
                        "negative_sentiment",
                        urgency,
                        Urgency::High,
                        format!("sentiment {:.2} below {b:.2}", last.sentiment),
                    );
                }
                if let Some(n) = falling_over {
                    let scores: Vec<f32> = s
                        .turns
                        .iter()
                        .filter(|t| t.author == Author::Customer)
                        .map(|t| t.sentiment)
                        .collect();
                    if scores.len() >= *n {
                        let trend = Trend::of(&scores, *n)?;
                        if trend.falling {
                            return make(
                                reason,
                                "falling_sentiment",
                                urgency,
                                Urgency::Normal,
                                format!("sentiment fell by {:.2} over {n} messages", -trend.change),
                            );
                        }
                    }
                }
            }
            TriggerRule::RepeatedFailure {
                reason,
                urgency,
                similarity,
            } => {
                if !customer_turn {
                    return None;
                }
                let earlier = &s.turns[..s.turns.len() - 1];
                let after_bot = earlier
                    .iter()
                    .rev()
                    .find(|t| t.author != Author::Customer)
                    .is_some_and(|t| t.author == Author::Bot);
                let lower = last.text.to_lowercase().replace('’', "'");
                if after_bot && NOT_HELPED.iter().any(|p| lower.contains(p)) {
                    return make(
                        reason,
                        "repeated_failure",
                        urgency,
                        Urgency::Normal,
                        "said the answer did not help".into(),
                    );
                }
                let threshold = similarity.unwrap_or(0.6);
                let words = content_words(&last.text);
                if words.len() >= 3 {
                    let repeated = earlier
                        .iter()
                        .filter(|t| t.author == Author::Customer)
                        .any(|t| jaccard(&words, &content_words(&t.text)) >= threshold);
                    if repeated {
                        return make(
                            reason,
                            "repeated_failure",
                            urgency,
                            Urgency::Normal,
                            "asked the same thing again".into(),
                        );
                    }
                }
            }
            TriggerRule::LowConfidence {
                reason,
                urgency,
                below,
            } => {
                let b = below.unwrap_or(0.5);
                if let Some(c) = last
                    .confidence
                    .filter(|c| last.author == Author::Bot && *c < b)
                {
                    return make(
                        reason,
                        "low_confidence",
                        urgency,
                        Urgency::Normal,
                        format!("the bot's answer had confidence {c:.2}"),
                    );
                }
            }
            TriggerRule::Vip {
                reason,
                urgency,
                key,
                values,
            } => {
                let key = key.as_deref().unwrap_or("vip");
                let value = s.metadata.get(key)?;
                let vip = if values.is_empty() {
                    truthy(value)
                } else {
                    values.contains(value)
                };
                if customer_turn && vip {
                    return make(
                        reason,
                        "vip",
                        urgency,
                        Urgency::High,
                        format!("customer {key} = {value}"),
                    );
                }
            }
            TriggerRule::BotTurns {
                reason,
                urgency,
                more_than,
            } => {
                let bot = s.turns.iter().filter(|t| t.author == Author::Bot).count();
                if bot > *more_than && !s.turns.iter().any(|t| t.author == Author::Agent) {
                    return make(
                        reason,
                        "bot_turns",
                        urgency,
                        Urgency::Normal,
                        format!("{bot} bot answers"),
                    );
                }
            }
            TriggerRule::Unanswered {
                reason,
                urgency,
                minutes,
            } => {
                if customer_turn && s.now - last.at >= Duration::minutes(*minutes as i64) {
                    return make(
                        reason,
                        "unanswered",
                        urgency,
                        Urgency::Normal,
                        format!("no answer for {} minutes", (s.now - last.at).num_minutes()),
                    );
                }
            }
        }
        None
    }
}

/// The highest urgency among escalations (normal when none).
pub fn top_urgency(escalations: &[Escalation]) -> Urgency {
    escalations
        .iter()
        .map(|e| e.urgency)
        .max()
        .unwrap_or(Urgency::Normal)
}

/// True for metadata values that mean yes (`true`, `"yes"`, `1`).
pub fn truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        serde_json::Value::String(s) => {
            matches!(s.to_lowercase().as_str(), "true" | "yes" | "1" | "vip")
        }
        _ => false,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lowercased words (letters, digits, apostrophes).
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().replace('’', "'"))
        .collect()
}

fn contains_words(words: &[String], phrase: &[String]) -> bool {
    words.windows(phrase.len()).any(|w| w == phrase)
}

/// Words that carry the question, for near-duplicate detection.
fn content_words(text: &str) -> Vec<String> {
    const SKIP: &[&str] = &[
        "a", "an", "the", "i", "my", "me", "is", "it", "to", "of", "and", "please", "again", "you",
        "hello", "hi", "still",
    ];
    let mut w: Vec<String> = words_of(text)
        .into_iter()
        .filter(|w| !SKIP.contains(&w.as_str()))
        .collect();
    w.sort();
    w.dedup();
    w
}

fn jaccard(a: &[String], b: &[String]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.iter().filter(|w| b.binary_search(w).is_ok()).count();
    common as f32 / (a.len() + b.len() - common) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(author: Author, text: &str, minute: i64) -> TurnFacts {
        TurnFacts {
            author,
            text: text.into(),
            at: DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap(),
            sentiment: 0.0,
            human_request: false,
            intent: None,
            confidence: None,
        }
    }

    fn names() -> Vec<String> {
        crate::analysis::intent::default_taxonomy()
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    fn reasons(
        rules: &[TriggerRule],
        turns: &[TurnFacts],
        meta: serde_json::Value,
        now_minute: i64,
    ) -> Vec<String> {
        let t = Triggers::new(rules, &names()).unwrap();
        let meta = meta.as_object().cloned().unwrap_or_default();
        let s = Situation {
            turns,
            metadata: &meta,
            now: DateTime::from_timestamp(1_700_000_000 + now_minute * 60, 0).unwrap(),
        };
        t.evaluate(&s).into_iter().map(|e| e.reason).collect()
    }

    #[test]
    fn human_request_and_keywords_fire_with_their_urgency() {
        let mut last = turn(Author::Customer, "I will call my lawyer. agent please", 0);
        last.human_request = true;
        let t = Triggers::new(&default_rules(), &names()).unwrap();
        let meta = serde_json::Map::new();
        let turns = [last];
        let fired = t.evaluate(&Situation {
            turns: &turns,
            metadata: &meta,
            now: turns[0].at,
        });
        let got: Vec<(&str, Urgency)> = fired
            .iter()
            .map(|e| (e.reason.as_str(), e.urgency))
            .collect();
        assert_eq!(
            got,
            [
                ("human_request", Urgency::High),
                ("sensitive_topic", Urgency::Urgent)
            ]
        );
        assert_eq!(top_urgency(&fired), Urgency::Urgent);
    }

    #[test]
    fn sentiment_below_and_falling() {
        let rules = [TriggerRule::Sentiment {
            reason: None,
            urgency: None,
            below: Some(-0.6),
            falling_over: Some(3),
        }];
        let mut a = turn(Author::Customer, "ok", 0);
        a.sentiment = 0.3;
        let mut b = turn(Author::Customer, "hmm", 1);
        b.sentiment = 0.0;
        let mut c = turn(Author::Customer, "this is bad", 2);
        c.sentiment = -0.4;
        assert_eq!(
            reasons(
                &rules,
                &[a.clone(), b.clone(), c.clone()],
                serde_json::json!({}),
                2
            ),
            ["falling_sentiment"]
        );
        c.sentiment = -0.8;
        assert_eq!(
            reasons(&rules, &[a.clone(), b, c], serde_json::json!({}), 2),
            ["negative_sentiment"]
        );
        assert!(reasons(&rules, &[a], serde_json::json!({}), 0).is_empty());
    }

    #[test]
    fn repeated_failure_by_repetition_or_complaint_after_a_bot_answer() {
        let rules = [TriggerRule::RepeatedFailure {
            reason: None,
            urgency: None,
            similarity: None,
        }];
        let turns = [
            turn(Author::Customer, "how do I change my delivery address", 0),
            turn(Author::Bot, "Go to Settings > Addresses.", 1),
            turn(Author::Customer, "that didn’t help", 2),
        ];
        assert_eq!(
            reasons(&rules, &turns, serde_json::json!({}), 2),
            ["repeated_failure"]
        );
        let again = [
            turn(Author::Customer, "how do I change my delivery address", 0),
            turn(Author::Customer, "How do I change the delivery address?", 1),
        ];
        assert_eq!(
            reasons(&rules, &again, serde_json::json!({}), 1),
            ["repeated_failure"]
        );
        let different = [
            turn(Author::Customer, "how do I change my delivery address", 0),
            turn(Author::Customer, "and can I pay by invoice", 1),
        ];
        assert!(reasons(&rules, &different, serde_json::json!({}), 1).is_empty());
    }

    #[test]
    fn low_confidence_bot_turns_vip_and_unanswered() {
        let mut bot = turn(Author::Bot, "Maybe try restarting?", 1);
        bot.confidence = Some(0.2);
        let customer = turn(Author::Customer, "hello", 0);
        let rules = default_rules();
        assert_eq!(
            reasons(&rules, &[customer.clone(), bot], serde_json::json!({}), 1),
            ["low_confidence"]
        );
        let many: Vec<TurnFacts> = (0..5)
            .map(|i| turn(Author::Bot, "Here is an article.", i))
            .collect();
        assert_eq!(
            reasons(&rules, &many, serde_json::json!({}), 5),
            ["bot_turns"]
        );
        assert_eq!(
            reasons(
                &rules,
                std::slice::from_ref(&customer),
                serde_json::json!({"vip": true}),
                0
            ),
            ["vip"]
        );
        assert!(
            reasons(
                &rules,
                std::slice::from_ref(&customer),
                serde_json::json!({"vip": false}),
                0
            )
            .is_empty()
        );
        let plan = [TriggerRule::Vip {
            reason: None,
            urgency: None,
            key: Some("plan".into()),
            values: vec!["enterprise".into()],
        }];
        assert_eq!(
            reasons(
                &plan,
                std::slice::from_ref(&customer),
                serde_json::json!({"plan": "enterprise"}),
                0
            ),
            ["vip"]
        );
        assert_eq!(
            reasons(
                &rules,
                std::slice::from_ref(&customer),
                serde_json::json!({}),
                10
            ),
            ["unanswered"]
        );
        assert!(reasons(&rules, &[customer], serde_json::json!({}), 9).is_empty());
    }

    #[test]
    fn bad_rules_name_their_key() {
        let bad_regex = [TriggerRule::Keywords {
            reason: None,
            urgency: None,
            keywords: vec![],
            patterns: vec!["ok".into(), "(unclosed".into()],
            intents: vec![],
        }];
        let e = Triggers::new(&bad_regex, &names()).unwrap_err();
        assert_eq!(e.key, "triggers[0].patterns[1]");
        assert!(e.problem.contains("regular expression"));
        let bad_intent = [
            TriggerRule::HumanRequest {
                reason: None,
                urgency: None,
            },
            TriggerRule::Keywords {
                reason: None,
                urgency: None,
                keywords: vec![],
                patterns: vec![],
                intents: vec!["billing".into(), "warranty".into()],
            },
        ];
        let e = Triggers::new(&bad_intent, &names()).unwrap_err();
        assert_eq!(e.key, "triggers[1].intents[1]");
        assert!(e.problem.contains("\"warranty\""));
    }

    #[test]
    fn rules_parse_from_toml_and_refuse_unknown_fields() {
        #[derive(Deserialize)]
        struct T {
            triggers: Vec<TriggerRule>,
        }
        let t: T = toml::from_str(
            "[[triggers]]\nkind = \"keywords\"\nreason = \"legal\"\nurgency = \"urgent\"\nkeywords = [\"lawyer\"]\n\
             [[triggers]]\nkind = \"unanswered\"\nminutes = 5\n",
        )
        .unwrap();
        assert_eq!(t.triggers.len(), 2);
        assert!(toml::from_str::<T>("[[triggers]]\nkind = \"vip\"\nbogus = 1\n").is_err());
        assert!(toml::from_str::<T>("[[triggers]]\nkind = \"nope\"\n").is_err());
    }
}
