//! What people read: the handoff card's content and the customer notices.
//!
//! The card is one function of the case, so every state change re-renders
//! the whole card from stored data (no edit ever works from a stale copy).
//! `text` is the plain form every platform can show; `rich` carries every
//! field for the platform's own layout (the inbox renders it in the
//! browser, as text). Customer notices are plain text with `rich` saying
//! who speaks (`author`, `name`, `kind`) for the customer side.

use handoff_core::{AgentId, Content};

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

/// A notice from handoff to the customer.
fn notice(text: String) -> Content {
    Content {
        text,
        rich: Some(serde_json::json!({"author": "bot", "kind": "notice"})),
    }
}

/// Told when the case opens: a person is coming, why, and that they will
/// not have to repeat themselves.
pub fn escalating_notice(case: &Case, typical_wait: Option<chrono::Duration>) -> Content {
    let why = if case.reasons.iter().any(|r| r == "human_request") {
        "As you asked, I'm bringing in a person from our team."
    } else {
        "I'm bringing in a person from our team to help with this."
    };
    let wait = match typical_wait {
        Some(w) => format!(" Someone usually joins within {}.", duration(w)),
        None => String::new(),
    };
    notice(format!(
        "{why} They can see this whole conversation, so you won't need to repeat yourself.{wait}"
    ))
}

/// Told when an agent takes the case.
pub fn joined_notice(agent_name: &str) -> Content {
    notice(format!(
        "{agent_name} from our team has joined the conversation."
    ))
}

/// Told when the case is resolved.
pub fn resolved_notice() -> Content {
    notice(
        "This conversation has been marked as resolved. If there is anything else, just write here."
            .to_owned(),
    )
}

/// An agent's message as the customer sees it.
pub fn agent_message(text: &str, agent_name: &str) -> Content {
    Content {
        text: text.to_owned(),
        rich: Some(serde_json::json!({"author": "agent", "name": agent_name})),
    }
}

/// Asked after the resolved notice: the widget shows 1-5 buttons for it.
pub fn csat_question(case: handoff_core::CaseId) -> Content {
    Content {
        text: "How did we do? Rate this conversation from 1 (bad) to 5 (great).".to_owned(),
        rich: Some(serde_json::json!({"author": "bot", "kind": "csat", "case": case})),
    }
}

/// Told when nobody has claimed the case yet at the re-announce time.
pub fn still_waiting_notice() -> Content {
    notice(
        "You're still in the queue: a person from our team will be with you as soon as possible. \
         Thanks for waiting, and feel free to add anything here meanwhile."
            .to_owned(),
    )
}

/// For the team, in the card's thread: the case is still unclaimed.
pub fn reannounce_note(mention: Option<&str>, waited: chrono::Duration) -> Content {
    let call = mention.map(|m| format!("{m} ")).unwrap_or_default();
    Content {
        text: format!(
            "{call}Still waiting for an agent after {}. Claim it if you can take it.",
            duration(waited)
        ),
        rich: Some(serde_json::json!({"kind": "sla", "timer": "reannounce"})),
    }
}

/// For the team: an unclaimed case moved to another route.
pub fn escalated_note(case: &Case, from: &str, to: &str) -> Content {
    let call = case
        .details
        .mention
        .as_deref()
        .map(|m| format!("{m} "))
        .unwrap_or_default();
    let moved = if from == to {
        format!("stays with {to} and is now {}", case.urgency.as_str())
    } else {
        format!("moved from {from} to {to} ({})", case.urgency.as_str())
    };
    Content {
        text: format!("{call}Nobody claimed this case in time: it {moved}."),
        rich: Some(serde_json::json!({"kind": "sla", "timer": "escalate", "from": from, "to": to})),
    }
}

/// For the owner: the customer has been waiting for an answer.
pub fn reminder_note(owner_name: &str, waited: chrono::Duration) -> Content {
    Content {
        text: format!(
            "{owner_name}, the customer has been waiting {} for an answer.",
            duration(waited)
        ),
        rich: Some(serde_json::json!({"kind": "sla", "timer": "remind_owner"})),
    }
}
