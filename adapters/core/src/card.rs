//! What every team side's handoff card shows, worked out once from the
//! engine's rendering of a case (`Content::rich` of a card; see the root
//! crate's `render::card`). Each team side adds what only it has (mention
//! markup, its own user ids, its menus) and escapes the values for its own
//! markup in its template family.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The card's platform-neutral values: state flags, the urgency's icon and
/// label, who the customer is, the facts, and times made readable. Values
/// are raw text; templates escape them.
pub fn view(rich: &Value) -> Map<String, Value> {
    let s = |k: &str| rich[k].as_str().map(str::to_owned);
    let state = rich["state"].as_str().unwrap_or("open");
    let urgency = rich["urgency"].as_str().unwrap_or("normal");
    let reasons: Vec<String> = rich["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["detail"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let took = match (
        rich["resolved_at"].as_str().and_then(parse_time),
        rich["claimed_at"]
            .as_str()
            .or(rich["opened_at"].as_str())
            .and_then(parse_time),
    ) {
        (Some(end), Some(start)) => Some(human(end - start)),
        _ => None,
    };
    let opened = rich["opened_at"].as_str().and_then(parse_time);
    let view = json!({
        "case": s("case"),
        "open": state == "open",
        "claimed": state == "claimed",
        "resolved": state == "resolved",
        "urgency_icon": match urgency { "urgent" => "🔴", "high" => "🟠", "low" => "⚪", _ => "🔵" },
        "urgency_label": capitalise(urgency),
        "customer": s("customer").unwrap_or_else(|| "A customer".to_owned()),
        "source": s("source").unwrap_or_else(|| "chat".to_owned()),
        "email": s("email"),
        "verified": rich["verified"].as_bool().unwrap_or(false),
        "handle": s("handle"),
        // Only https pictures: anything else could be a tracking or
        // script URL a customer chose.
        "avatar": s("avatar").filter(|u| u.starts_with("https://")),
        "took": took,
        "opened_unix": opened.map(|t| t.timestamp()),
        "opened_at": opened.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
        "delivery_error": s("delivery_error"),
        "reasons": reasons,
        "intent": s("intent"),
        "intent_confidence": rich["intent_confidence"].as_f64().map(|c| format!("{:.0}%", c * 100.0)),
        "detected_intent": s("detected_intent"),
        "sentiment": rich["sentiment"].as_f64().map(|v| format!("{} ({v:+.2})", match v {
            v if v <= -0.05 => "negative",
            v if v >= 0.05 => "positive",
            _ => "neutral",
        })),
        "route": s("route").unwrap_or_else(|| "default".to_owned()),
        "escalated_from": s("escalated_from"),
        "summary": s("summary").filter(|t| !t.is_empty()),
        "facts": rich["facts"],
        "tried": rich["tried"],
        "csat": rich["csat"],
        "transcript_url": s("transcript_url"),
    });
    match view {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Adds the card's menus to `view`: who the case can be handed to (every
/// agent, given as `(id, name)`, but its owner) and the intents it can be
/// corrected to.
pub fn add_menus<'a>(
    view: &mut Map<String, Value>,
    rich: &Value,
    agents: impl IntoIterator<Item = (&'a str, &'a str)>,
    intents: &[String],
) {
    let owner = rich["owner"].as_str();
    let agents: Vec<Value> = agents
        .into_iter()
        .filter(|(id, _)| Some(*id) != owner)
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    view.insert("agents".to_owned(), Value::Array(agents));
    view.insert("intents".to_owned(), json!(intents));
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn human(d: chrono::Duration) -> String {
    let mins = d.num_minutes();
    match mins {
        m if m < 1 => "less than a minute".to_owned(),
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_states_and_labels_are_worked_out() {
        let v = view(&json!({
            "case": "c1", "state": "resolved", "urgency": "high",
            "opened_at": "2026-11-21T10:00:00Z", "claimed_at": "2026-11-21T10:05:00Z",
            "resolved_at": "2026-11-21T11:35:00Z", "sentiment": -0.4, "intent_confidence": 0.816,
            "avatar": "http://tracker.example/a.png", "reasons": [{"detail": "asked for a person"}],
        }));
        assert_eq!(v["resolved"], true);
        assert_eq!(v["open"], false);
        assert_eq!(v["urgency_icon"], "🟠");
        assert_eq!(v["urgency_label"], "High");
        assert_eq!(v["took"], "90 min");
        assert_eq!(v["sentiment"], "negative (-0.40)");
        assert_eq!(v["intent_confidence"], "82%");
        assert_eq!(v["avatar"], Value::Null);
        assert_eq!(v["customer"], "A customer");
        assert_eq!(v["reasons"], json!(["asked for a person"]));
        assert_eq!(v["opened_at"], "2026-11-21 10:00 UTC");
    }
}
