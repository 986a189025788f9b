//! Deciding whether a conversation escalates, why, how urgently and where:
//! analysis, triggers and routing put together.
//!
//! One [`Intelligence`] serves the engine (on every message, and on the
//! unanswered-message sweep) and `handoff replay` (over saved
//! conversations), so a dry run decides exactly what production would.
//! Pure: callers pass the turns, metadata and time in.

use chrono::{DateTime, Utc};
use handoff_core::Platform;
use serde::Serialize;

use crate::analysis::llm::LlmClient;
use crate::analysis::summary::{self, Author, Summary, Turn};
use crate::analysis::{Analyzer, IntentResult, Scratch, lang};
use crate::cases::Urgency;
use crate::config::Config;
use crate::routing::{Route, RouteInput, RoutingConfig, Target};
use crate::triggers::{Escalation, Situation, Triggers, TurnFacts, top_urgency, truthy};

/// The built analysis, rules and routes.
#[derive(Debug)]
pub struct Intelligence {
    analyzer: Analyzer,
    triggers: Triggers,
    routing: RoutingConfig,
    fallback_intent: String,
    llm: Option<LlmClient>,
}

/// A conversation that escalates, with everything its card needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Every rule that fired, in rule order.
    pub escalations: Vec<Escalation>,
    /// The highest urgency among them.
    pub urgency: Urgency,
    /// The conversation's intent and its confidence.
    pub intent: Option<(String, f32)>,
    /// The latest customer message's sentiment score.
    pub sentiment: Option<f32>,
    /// The conversation's language, if known.
    pub language: Option<String>,
    /// The chosen route's name.
    pub route: String,
    /// Where the card goes.
    #[serde(skip)]
    pub target: Target,
    /// The offline summary.
    pub summary: Summary,
}

impl Decision {
    /// The reason codes, in order.
    pub fn reasons(&self) -> Vec<String> {
        self.escalations.iter().map(|e| e.reason.clone()).collect()
    }
}

/// A customer as the rules and routes see them.
#[derive(Debug, Clone, Copy)]
pub struct CustomerFacts<'a> {
    /// Plan, VIP, language and similar.
    pub metadata: &'a serde_json::Map<String, serde_json::Value>,
    /// Where they wrote.
    pub source: Platform,
}

impl Intelligence {
    /// Builds the analyser and compiles the rules (validated by config).
    pub fn new(config: &Config) -> Result<Self, crate::triggers::RuleError> {
        let settings = config.analysis.settings();
        let analyzer = Analyzer::new(&settings);
        let triggers = Triggers::new(&config.triggers, analyzer.intent_names())?;
        Ok(Self {
            analyzer,
            triggers,
            routing: config.routing.clone(),
            fallback_intent: settings.fallback_intent,
            llm: LlmClient::from_config(&config.llm, config.secrets.llm_api_key.clone()),
        })
    }

    /// How far back a customer's last agent counts as "previous agent"
    /// (`None`: off).
    pub fn previous_agent_window(&self) -> Option<chrono::Duration> {
        let days = self.routing.previous_agent_days;
        (days > 0).then(|| chrono::Duration::days(i64::from(days)))
    }

    /// The summary text for a card: the LLM's when one is configured and
    /// answers in time, else the offline one.
    pub async fn summary_text(&self, decision: &Decision, turns: &[TurnFacts]) -> String {
        let offline = decision.summary.text();
        let Some(llm) = &self.llm else {
            return offline;
        };
        match llm.summarize(&self.analyzer, &as_turns(turns)).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(error = %e, "LLM summary failed; using the offline summary.");
                offline
            }
        }
    }

    /// The analyser.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// `text` as the team may see it: entities the redaction policy names
    /// masked (card numbers always). Used for everything that leaves the
    /// customer side: thread relays, transcripts, the inbox.
    pub fn redact(&self, text: &str) -> String {
        let mut entities = Vec::new();
        crate::analysis::entities::find(text, &mut entities);
        self.analyzer.redaction().redact(text, &entities)
    }

    /// The routes.
    pub fn routing(&self) -> &crate::routing::RoutingConfig {
        &self.routing
    }

    /// The rules.
    pub fn triggers(&self) -> &Triggers {
        &self.triggers
    }

    /// One turn, analysed where it is the customer's.
    pub fn facts(
        &self,
        author: Author,
        text: &str,
        at: DateTime<Utc>,
        confidence: Option<f32>,
        scratch: &mut Scratch,
    ) -> TurnFacts {
        let mut facts = TurnFacts {
            author,
            text: text.to_owned(),
            at,
            sentiment: 0.0,
            human_request: false,
            intent: None,
            confidence,
        };
        if author == Author::Customer
            && let Ok(a) = self.analyzer.analyze(text, scratch)
        {
            facts.sentiment = a.sentiment.score;
            facts.human_request = a.human_request;
            facts.intent = a.intent;
        }
        facts
    }

    /// Whether the conversation escalates now (its last turn having just
    /// arrived, or `now` being a timer's tick), and if so how.
    pub fn decide(
        &self,
        turns: &[TurnFacts],
        customer: CustomerFacts<'_>,
        now: DateTime<Utc>,
    ) -> Option<Decision> {
        let escalations = self.triggers.evaluate(&Situation {
            turns,
            metadata: customer.metadata,
            now,
        });
        if escalations.is_empty() {
            return None;
        }
        Some(self.decision(turns, customer, escalations))
    }

    fn decision(
        &self,
        turns: &[TurnFacts],
        customer: CustomerFacts<'_>,
        escalations: Vec<Escalation>,
    ) -> Decision {
        let urgency = top_urgency(&escalations);
        let intent = self.conversation_intent(turns);
        let sentiment = turns
            .iter()
            .rev()
            .find(|t| t.author == Author::Customer)
            .map(|t| t.sentiment);
        let customer_text: Vec<&str> = turns
            .iter()
            .filter(|t| t.author == Author::Customer)
            .map(|t| t.text.as_str())
            .collect();
        let language = customer
            .metadata
            .get("language")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or_else(|| lang::guess(&customer_text.join(" ")).map(str::to_owned));
        let reasons: Vec<String> = escalations.iter().map(|e| e.reason.clone()).collect();
        let route: Route = self.routing.route(&RouteInput {
            intent: intent.as_ref().map(|(n, _)| n.as_str()),
            urgency,
            reasons: &reasons,
            vip: is_vip(customer.metadata),
            source: customer.source,
            language: language.as_deref(),
        });
        Decision {
            escalations,
            urgency,
            intent,
            sentiment,
            language,
            target: route.target(urgency),
            route: route.name,
            summary: summary::summarize(&self.analyzer, &as_turns(turns)),
        }
    }

    /// The conversation's topic: the most confident specific intent among
    /// the customer's messages (asking for a person is not a topic), else
    /// the latest message's.
    fn conversation_intent(&self, turns: &[TurnFacts]) -> Option<(String, f32)> {
        let mut best: Option<&IntentResult> = None;
        let mut latest = None;
        for i in turns.iter().filter_map(|t| t.intent.as_ref()) {
            let specific = i.name != self.fallback_intent && i.name != "human_agent";
            if specific && best.is_none_or(|b| i.confidence > b.confidence) {
                best = Some(i);
            }
            latest = Some(i);
        }
        best.or(latest).map(|i| (i.name.clone(), i.confidence))
    }
}

/// The turns as the summarisers read them.
fn as_turns(turns: &[TurnFacts]) -> Vec<Turn<'_>> {
    turns
        .iter()
        .map(|t| Turn {
            author: t.author,
            text: &t.text,
        })
        .collect()
}

/// The VIP flag the routes match on: metadata `vip` truthy.
fn is_vip(metadata: &serde_json::Map<String, serde_json::Value>) -> bool {
    metadata.get("vip").is_some_and(truthy)
}
