//! What people read: the handoff card's content and the customer notices.
//!
//! The card is one function of the case, so every state change re-renders
//! the whole card from stored data (no edit ever works from a stale copy).
//! `text` is the plain form every platform can show; `rich` carries every
//! field for the platform's own layout (the inbox renders it in the
//! browser, as text). Customer notices are plain text with `rich` saying
//! who speaks (`author`, `name`, `kind`) for the customer side.

use handoff_core::{AgentId, Content, Platform};

use crate::cases::{Case, CaseState};
use crate::report::human as duration;

/// Looks up the name shown for an agent.
pub trait AgentNames {
    /// The display name of `agent` (its key when not configured).
    fn display_name(&self, agent: &AgentId) -> String;
}

/// The handoff card for `case` as it is now, with its transcript link.
pub fn card(case: &Case, names: &dyn AgentNames, transcript: Option<&str>) -> Content {
    let d = &case.details;
    let who = d.customer.as_deref().unwrap_or("A customer");
    let source = d.source.as_deref().unwrap_or("chat");
    let status = match &case.state {
        CaseState::Open => "Waiting for an agent".to_owned(),
        CaseState::Claimed { by } => format!("Claimed by {}", names.display_name(by)),
        CaseState::Resolved => match (case.resolved_at, case.claimed_at.or(Some(case.opened_at))) {
            (Some(end), Some(start)) => format!("Resolved after {}", duration(end - start)),
            _ => "Resolved".to_owned(),
        },
    };
    let mut text = String::new();
    if let Some(mention) = d.mention.as_ref().filter(|_| case.state == CaseState::Open) {
        text.push_str(mention);
        text.push(' ');
    }
    text.push_str(&format!(
        "{who} on {source} needs a person ({}). {status}.",
        case.urgency.as_str()
    ));
    let reasons: Vec<&str> = d.escalations.iter().map(|e| e.detail.as_str()).collect();
    if !reasons.is_empty() {
        text.push_str(&format!("\nWhy: {}", reasons.join("; ")));
    }
    if let Some(intent) = &case.intent {
        text.push_str(&format!("\nIntent: {intent}"));
    }
    if !case.summary.is_empty() {
        text.push_str(&format!("\n{}", case.summary));
    }
    if let Some(agent) = &case.previous_owner {
        text.push_str(&format!("\nPrevious agent: {}", names.display_name(agent)));
    }
    if let Some(url) = transcript {
        text.push_str(&format!("\nTranscript: {url}"));
    }
    let owner = case.state.owner();
    Content {
        text,
        rich: Some(serde_json::json!({
            "case": case.id,
            "state": case.state.name(),
            "status": status,
            "owner": owner,
            "owner_name": owner.map(|o| names.display_name(o)),
            "customer": d.customer,
            "email": d.email,
            "verified": d.verified,
            "handle": d.handle,
            "avatar": d.avatar,
            "source": d.source,
            "urgency": case.urgency.as_str(),
            "reasons": d.escalations,
            "intent": case.intent,
            "intent_confidence": d.intent_confidence,
            "sentiment": case.sentiment,
            "language": d.language,
            "route": case.route,
            "mention": d.mention,
            "summary": case.summary,
            "facts": d.facts,
            "tried": d.tried,
            "previous_agent": case.previous_owner,
            "previous_agent_name": case.previous_owner.as_ref().map(|a| names.display_name(a)),
            "opened_at": case.opened_at,
            "claimed_at": case.claimed_at,
            "resolved_at": case.resolved_at,
            "reopen_count": case.reopen_count,
            "csat": d.csat,
            "detected_intent": d.detected_intent,
            "escalated_from": d.escalated_from,
            "delivery_error": case.last_delivery_error,
            "transcript_url": transcript,
        })),
    }
}

/// A customer's message as the team sees it in the card's thread (already
/// redacted); `rich` keeps the name and text apart so each team side can
/// escape them for its own markup.
pub fn customer_in_thread(name: Option<&str>, text: &str) -> Content {
    let name = name.unwrap_or("Customer");
    Content {
        text: format!("{name}: {text}"),
        rich: Some(serde_json::json!({"author": "customer", "name": name, "text": text})),
    }
}

/// An agent's message as the customer sees it. `from` is the team-side
/// platform it was written on: its emphasis markup (Slack's `*bold*`) is
/// still in the text, and a customer side with its own markdown (Discord)
/// converts it rather than showing it literally.
pub fn agent_message(text: &str, agent_name: &str, from: Platform) -> Content {
    Content {
        text: text.to_owned(),
        rich: Some(serde_json::json!({"author": "agent", "name": agent_name, "from": from})),
    }
}

/// A template that cannot be used, naming it.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {problem}")]
pub struct TemplateError {
    /// The template (`escalating`) and, for an override, its file.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

/// Every notice template, with the variables it is given. A team's
/// override may use any of them and nothing else (checked at start-up).
const TEMPLATES: [(&str, &str, &[&str]); 8] = [
    (
        "escalating",
        include_str!("../templates/notices/escalating.hbs"),
        &["customer", "asked", "wait", "reasons"],
    ),
    (
        "joined",
        include_str!("../templates/notices/joined.hbs"),
        &["customer", "agent"],
    ),
    (
        "resolved",
        include_str!("../templates/notices/resolved.hbs"),
        &["customer"],
    ),
    (
        "csat",
        include_str!("../templates/notices/csat.hbs"),
        &["customer"],
    ),
    (
        "still_waiting",
        include_str!("../templates/notices/still_waiting.hbs"),
        &["customer", "waited"],
    ),
    (
        "reannounce",
        include_str!("../templates/notices/reannounce.hbs"),
        &["mention", "waited", "route"],
    ),
    (
        "escalated",
        include_str!("../templates/notices/escalated.hbs"),
        &["mention", "moved", "from", "to", "urgency"],
    ),
    (
        "reminder",
        include_str!("../templates/notices/reminder.hbs"),
        &["agent", "waited"],
    ),
];

/// The customer notices and team notes, from handlebars templates: the
/// defaults in `templates/notices/`, each replaceable by a file of the same
/// name (`joined.hbs`) in the configured folder.
///
/// Output is plain text: nothing is HTML-escaped here because every side
/// escapes for its own markup (the widget sets text, Slack escapes mrkdwn).
/// Values are data, never template: a customer called `{{agent}}` is
/// printed as that text.
pub struct Notices {
    registry: handlebars::Handlebars<'static>,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").finish_non_exhaustive()
    }
}

impl Default for Notices {
    fn default() -> Self {
        Self::load(None).expect("the built-in templates are valid")
    }
}

impl Notices {
    /// The defaults, with overrides from `dir` when given. Every template
    /// is rendered once with all its variables in strict mode, so a typo
    /// in an override stops start-up instead of a customer's notice.
    pub fn load(dir: Option<&std::path::Path>) -> Result<Self, TemplateError> {
        let mut registry = handlebars::Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        for (name, default, vars) in TEMPLATES {
            let (source, origin) = match dir.map(|d| d.join(format!("{name}.hbs"))) {
                Some(path) if path.exists() => {
                    let text = std::fs::read_to_string(&path).map_err(|e| TemplateError {
                        name: path.display().to_string(),
                        problem: e.to_string(),
                    })?;
                    (text, path.display().to_string())
                }
                _ => (default.to_owned(), name.to_owned()),
            };
            let fail = |problem: String| TemplateError {
                name: origin.clone(),
                problem,
            };
            registry
                .register_template_string(name, source.trim_end())
                .map_err(|e| fail(e.to_string()))?;
            let every: serde_json::Map<String, serde_json::Value> = vars
                .iter()
                .map(|v| ((*v).to_owned(), serde_json::Value::from("x")))
                .collect();
            registry
                .render(name, &every)
                .map_err(|e| fail(format!("{e} (it may use: {})", vars.join(", "))))?;
        }
        Ok(Self { registry })
    }

    fn text(&self, name: &str, data: &serde_json::Value) -> String {
        match self.registry.render(name, data) {
            Ok(text) => text,
            // Checked at start-up, so only a value of an unexpected shape
            // gets here; the customer still gets a notice.
            Err(e) => {
                tracing::error!(template = name, error = %e, "A notice template failed to render.");
                String::new()
            }
        }
    }

    fn notice(&self, name: &str, data: serde_json::Value) -> Content {
        Content {
            text: self.text(name, &data),
            rich: Some(serde_json::json!({"author": "bot", "kind": "notice"})),
        }
    }

    /// A team note. Its values come from config and the case's state
    /// (route names, durations, agent names), never from a customer, and it
    /// may carry the route's mention, so `markup` tells the team side to
    /// post it as written rather than escape it.
    fn note(&self, name: &str, data: serde_json::Value, mut rich: serde_json::Value) -> Content {
        rich["markup"] = serde_json::Value::Bool(true);
        Content {
            text: self.text(name, &data),
            rich: Some(rich),
        }
    }

    /// Told when the case opens: a person is coming, why, that they will not
    /// have to repeat themselves, and the recent typical wait.
    pub fn escalating(&self, case: &Case, typical_wait: Option<chrono::Duration>) -> Content {
        self.notice(
            "escalating",
            serde_json::json!({
                "customer": case.details.customer,
                "asked": case.reasons.iter().any(|r| r == "human_request"),
                "wait": typical_wait.map(duration),
                "reasons": case.reasons,
            }),
        )
    }

    /// Told when an agent takes the case.
    pub fn joined(&self, case: &Case, agent_name: &str) -> Content {
        self.notice(
            "joined",
            serde_json::json!({"customer": case.details.customer, "agent": agent_name}),
        )
    }

    /// Told when the case is resolved.
    pub fn resolved(&self, case: &Case) -> Content {
        self.notice(
            "resolved",
            serde_json::json!({"customer": case.details.customer}),
        )
    }

    /// Asked after the resolved notice: the widget shows 1-5 buttons for it.
    pub fn csat(&self, case: &Case) -> Content {
        let data = serde_json::json!({"customer": case.details.customer});
        Content {
            text: self.text("csat", &data),
            rich: Some(serde_json::json!({"author": "bot", "kind": "csat", "case": case.id})),
        }
    }

    /// Told when nobody has claimed the case yet at the re-announce time.
    pub fn still_waiting(&self, case: &Case, waited: chrono::Duration) -> Content {
        self.notice(
            "still_waiting",
            serde_json::json!({"customer": case.details.customer, "waited": duration(waited)}),
        )
    }

    /// For the team, in the card's thread: the case is still unclaimed.
    pub fn reannounce(
        &self,
        case: &Case,
        mention: Option<&str>,
        waited: chrono::Duration,
    ) -> Content {
        self.note(
            "reannounce",
            serde_json::json!({"mention": mention, "waited": duration(waited), "route": case.route}),
            serde_json::json!({"kind": "sla", "timer": "reannounce"}),
        )
    }

    /// For the team: an unclaimed case moved on (or stayed, more urgent).
    pub fn escalated(&self, case: &Case, from: &str, to: &str) -> Content {
        self.note(
            "escalated",
            serde_json::json!({
                "mention": case.details.mention,
                "moved": from != to,
                "from": from,
                "to": to,
                "urgency": case.urgency.as_str(),
            }),
            serde_json::json!({"kind": "sla", "timer": "escalate", "from": from, "to": to}),
        )
    }

    /// For the owner: the customer has been waiting for an answer.
    pub fn reminder(&self, owner_name: &str, waited: chrono::Duration) -> Content {
        self.note(
            "reminder",
            serde_json::json!({"agent": owner_name, "waited": duration(waited)}),
            serde_json::json!({"kind": "sla", "timer": "remind_owner"}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{CaseState, sample};

    fn at(s: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    /// What a customer or agent might type into a name to break out.
    const HOSTILE: &str = "{{agent}} <script>alert(1)</script> <!channel> @everyone {{#each x}}";

    #[test]
    fn hostile_names_are_printed_as_data_in_every_template() {
        let n = Notices::default();
        let mut case = sample(CaseState::Open, at(0));
        case.details.customer = Some(HOSTILE.into());
        case.details.mention = Some("<!subteam^S1>".into());
        let outputs = [
            n.escalating(&case, Some(chrono::Duration::minutes(4))).text,
            n.joined(&case, HOSTILE).text,
            n.resolved(&case).text,
            n.csat(&case).text,
            n.still_waiting(&case, chrono::Duration::minutes(10)).text,
            n.reannounce(&case, None, chrono::Duration::minutes(10))
                .text,
            n.escalated(&case, "support", "tier2").text,
            n.reminder(HOSTILE, chrono::Duration::minutes(16)).text,
        ];
        for text in &outputs {
            assert!(!text.is_empty());
        }
        assert_eq!(
            outputs[1],
            format!("{HOSTILE} from our team has joined the conversation.")
        );
        assert_eq!(
            outputs[7],
            format!("{HOSTILE}, the customer has been waiting 16 min for an answer.")
        );
        assert_eq!(
            outputs[0],
            "As you asked, I'm bringing in a person from our team. They can see this whole \
             conversation, so you won't need to repeat yourself. Someone usually joins within 4 min."
        );
        assert_eq!(
            outputs[6],
            "<!subteam^S1> Nobody claimed this case in time: it moved from support to tier2 (normal)."
        );
    }

    #[test]
    fn a_folder_overrides_a_template_and_a_typo_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("joined.hbs"),
            "Hi {{customer}}, {{agent}} is here.\n",
        )
        .unwrap();
        let n = Notices::load(Some(dir.path())).unwrap();
        let mut case = sample(CaseState::Open, at(0));
        case.details.customer = Some("Ada".into());
        assert_eq!(n.joined(&case, "Alice").text, "Hi Ada, Alice is here.");
        assert!(
            n.resolved(&case).text.starts_with("This conversation"),
            "others keep the default"
        );

        std::fs::write(dir.path().join("resolved.hbs"), "Bye {{custmer}}").unwrap();
        let e = Notices::load(Some(dir.path())).unwrap_err();
        assert!(e.name.ends_with("resolved.hbs"), "{e}");
        assert!(e.problem.contains("customer"), "names what it may use: {e}");
        std::fs::write(dir.path().join("resolved.hbs"), "Bye {{#if}}").unwrap();
        assert!(Notices::load(Some(dir.path())).is_err());
    }
}
