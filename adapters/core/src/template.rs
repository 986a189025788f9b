//! Handlebars for the team sides' cards, which are JSON (Slack's Block Kit,
//! Teams' Adaptive Cards) with the platform's markup inside its strings.
//!
//! Escaping belongs to the template family: `{{value}}` is escaped for the
//! platform's markup (a function each platform passes) and then for a JSON
//! string, so customer text can neither become markup nor break the JSON.
//! `{{plain value}}` is only JSON-escaped, for values handoff made itself
//! (ids, URLs, a configured mention) and for fields the platform never
//! parses. A rendered card is parsed back, and `null` members (which a
//! template leaves where a block does not apply, and which the platforms
//! refuse) are dropped.

use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext};
use serde_json::Value;

/// A card template that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the {platform} card template: {problem}")]
pub struct CardTemplateError {
    /// Whose template.
    pub platform: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// One platform's card template, ready to render.
pub struct JsonCard {
    platform: &'static str,
    registry: Handlebars<'static>,
}

impl std::fmt::Debug for JsonCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonCard")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// `text` as the inside of a JSON string literal.
pub fn json_escape(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_owned()
}

fn plain_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let text = match h.param(0).map(|p| p.value()) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    out.write(&json_escape(&text))?;
    Ok(())
}

impl JsonCard {
    /// `template` for `platform`, whose markup `escape` makes text literal.
    pub fn new(
        platform: &'static str,
        template: &str,
        escape: fn(&str) -> String,
    ) -> Result<Self, CardTemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(false);
        registry.register_escape_fn(move |s| json_escape(&escape(s)));
        registry.register_helper("plain", Box::new(plain_helper));
        registry
            .register_template_string("card", template)
            .map_err(|e| CardTemplateError {
                platform,
                problem: e.to_string(),
            })?;
        Ok(Self { platform, registry })
    }

    /// Names a failed start-up check of the template.
    pub fn error(&self, problem: String) -> CardTemplateError {
        CardTemplateError {
            platform: self.platform,
            problem,
        }
    }

    /// The card for `view`, as JSON without `null` members.
    pub fn render(&self, view: &Value) -> Result<Value, String> {
        let rendered = self
            .registry
            .render("card", view)
            .map_err(|e| e.to_string())?;
        let mut card: Value = serde_json::from_str(&rendered)
            .map_err(|e| format!("the template did not produce JSON: {e}"))?;
        drop_nulls(&mut card);
        Ok(card)
    }
}

/// A case with every field a card shows, for checking a template at
/// start-up: a template that fails on it fails before any card is due.
pub fn sample_case() -> Value {
    serde_json::json!({
        "case": "00000000-0000-0000-0000-000000000000", "state": "open",
        "customer": "x", "source": "webchat", "urgency": "high", "mention": "x",
        "reasons": [{"detail": "x"}], "facts": ["x"], "tried": ["x"], "summary": "x",
        "transcript_url": "https://x", "opened_at": "2026-01-01T00:00:00Z",
    })
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(drop_nulls);
        }
        Value::Object(map) => map.values_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_escaped_for_the_markup_and_the_json_and_nulls_dropped() {
        let card = JsonCard::new(
            "test",
            r#"[{"a": "{{x}}", "b": "{{plain x}}"}, {{#if y}}{"c": 1}{{else}}null{{/if}}]"#,
            |s| s.replace('*', r"\*"),
        )
        .unwrap();
        let out = card.render(&json!({"x": "*\"q\"* {{y}}"})).unwrap();
        assert_eq!(
            out,
            json!([{"a": "\\*\"q\"\\* {{y}}", "b": "*\"q\"* {{y}}"}])
        );
        assert!(JsonCard::new("test", "{{#if}", |s| s.to_owned()).is_err());
    }
}
