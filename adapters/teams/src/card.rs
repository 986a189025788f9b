//! What handoff posts in Teams: the handoff card as an Adaptive Card (from
//! the handlebars template `templates/teams/card.json.hbs`) and thread
//! posts.
//!
//! Escaping belongs to this template family: every value a template prints
//! with `{{value}}` is escaped for the card's markdown and then for a JSON
//! string, so a customer's text can never forge a link, bold text or an
//! `<at>` mention, or break the JSON. `{{plain value}}` is only
//! JSON-escaped; the template uses it for values handoff made itself (the
//! case id, the transcript URL, a configured mention).
//!
//! Thread posts go out as `textFormat: plain` (Teams shows the text as it
//! is), except team notes handoff wrote itself, which may carry the
//! route's mention.

use handoff_core::Content;
pub use handoff_core::template::CardTemplateError;
use handoff_core::template::{JsonCard, sample_case};
use serde_json::{Value, json};

use crate::TeamsSettings;
use crate::markup::escape_card_markdown;

/// The built-in card template.
const CARD_TEMPLATE: &str = include_str!("../../../templates/teams/card.json.hbs");

/// Teams accepts about 28 KB per message; a thread post is cut well
/// before, pointing at the transcript for the rest.
const MAX_POST_CHARS: usize = 8000;

/// Renders cards from the template.
#[derive(Debug)]
pub struct CardRenderer {
    template: JsonCard,
}

/// A configured Teams mention: `id|Display name` pings that user (the id
/// is an Azure AD object id or a `29:` user id), `tag:id|Tag name` pings
/// everyone with that tag; a bare name is shown in bold and pings nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// What the card's text shows: `<at>Name</at>` or `**Name**`.
    pub text: String,
    /// The `msteams.entities` member that makes `<at>Name</at>` a ping.
    pub entity: Option<Value>,
}

/// Reads a configured mention.
pub fn mention(configured: &str) -> Mention {
    match configured.split_once('|') {
        Some((id, name)) if !id.trim().is_empty() && !name.trim().is_empty() => {
            let text = format!("<at>{}</at>", name.trim());
            let mentioned = match id.trim().strip_prefix("tag:") {
                Some(tag) => json!({"id": tag, "name": name.trim(), "type": "tag"}),
                None => json!({"id": id.trim(), "name": name.trim()}),
            };
            Mention {
                entity: Some(json!({"type": "mention", "text": text, "mentioned": mentioned})),
                text,
            }
        }
        _ => Mention {
            text: format!("**{}**", escape_card_markdown(configured.trim())),
            entity: None,
        },
    }
}

impl CardRenderer {
    /// The built-in template, checked by rendering a full sample card.
    pub fn new() -> Result<Self, CardTemplateError> {
        let renderer = Self {
            template: JsonCard::new("Teams", CARD_TEMPLATE, escape_card_markdown)?,
        };
        renderer
            .render(&sample_case(), &TeamsSettings::for_tests(), Some("x"))
            .map_err(|e| renderer.template.error(e))?;
        Ok(renderer)
    }

    /// The card for a case from the engine's rendering (`content.rich`
    /// holds every field of the case), as a message attachment. `notice`
    /// is shown on the card to one agent only (in an action's answer).
    pub fn card(&self, content: &Content, settings: &TeamsSettings, notice: Option<&str>) -> Value {
        let rendered = content
            .rich
            .as_ref()
            .ok_or_else(|| "the card has no rich form".to_owned())
            .and_then(|rich| self.render(rich, settings, notice));
        match rendered {
            Ok(card) => card,
            Err(e) => {
                // Checked at start-up, so only an odd value gets here; the
                // team still gets a card, as text.
                tracing::error!(error = %e, "The Teams card template failed; posting the card as text.");
                json!({
                    "type": "AdaptiveCard", "version": "1.5",
                    "body": [{"type": "TextBlock", "wrap": true, "text": escape_card_markdown(&content.text)}],
                })
            }
        }
    }

    fn render(
        &self,
        rich: &Value,
        settings: &TeamsSettings,
        notice: Option<&str>,
    ) -> Result<Value, String> {
        self.template.render(&view(rich, settings, notice))
    }
}

/// What the template is given: the card's fields, the configured mention
/// made into Teams markup, names for owners, and the lists the menus offer.
fn view(rich: &Value, settings: &TeamsSettings, notice: Option<&str>) -> Value {
    let s = |k: &str| rich[k].as_str().map(str::to_owned);
    let name = |id: Option<String>, name: Option<String>| -> Option<String> {
        let id = id?;
        Some(
            settings
                .agents
                .iter()
                .find(|a| a.id == id)
                .map(|a| a.name.clone())
                .or(name)
                .unwrap_or(id),
        )
    };
    let mention = s("mention")
        .filter(|_| rich["state"] == "open")
        .map(|m| mention(&m));
    let mut view = handoff_core::card::view(rich);
    view.extend([
        (
            "mention".to_owned(),
            json!(mention.as_ref().map(|m| m.text.clone())),
        ),
        (
            "mention_entity".to_owned(),
            json!(mention.and_then(|m| m.entity).map(|e| e.to_string())),
        ),
        ("owner".to_owned(), json!(name(s("owner"), s("owner_name")))),
        (
            "previous_agent".to_owned(),
            json!(name(s("previous_agent"), s("previous_agent_name"))),
        ),
        ("notice".to_owned(), json!(notice)),
    ]);
    handoff_core::card::add_menus(
        &mut view,
        rich,
        settings
            .agents
            .iter()
            .map(|a| (a.id.as_str(), a.name.as_str())),
        &settings.intents,
    );
    Value::Object(view)
}

/// The message activity that carries `card`.
pub fn card_activity(card: Value, summary: &str) -> Value {
    json!({
        "type": "message",
        // What the notification and the channel list show.
        "summary": summary,
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    })
}

/// A post in a card's thread. A customer's message (`rich.author` is
/// `customer`) and anything else not written by handoff's own team-note
/// templates goes out as plain text, which Teams never parses; a team note
/// (`rich.markup`) is markdown and may carry the route's mention.
pub fn thread_post(content: &Content, mentions: &[String]) -> Value {
    let rich = content.rich.as_ref();
    if rich.is_some_and(|r| r["markup"] == true) {
        let mut text = content.text.clone();
        let mut entities = Vec::new();
        for configured in mentions {
            if text.contains(configured.as_str()) {
                let m = mention(configured);
                text = text.replace(configured.as_str(), &m.text);
                entities.extend(m.entity);
            }
        }
        return json!({
            "type": "message",
            "textFormat": "markdown",
            "text": cut(&text),
            "entities": entities,
        });
    }
    let text = match rich.filter(|r| r["author"] == "customer") {
        Some(r) => format!(
            "{}: {}",
            r["name"].as_str().unwrap_or("Customer"),
            r["text"].as_str().unwrap_or_default()
        ),
        None => content.text.clone(),
    };
    json!({"type": "message", "textFormat": "plain", "text": cut(&text)})
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_POST_CHARS {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX_POST_CHARS - 80).collect();
    out.push_str(" … (cut here: the whole message is in the transcript linked on the card)");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "[your bank](https://evil.example) **urgent** <at>General</at> \"q\" \\ {{agent}}\n1. list";

    fn open_case() -> Value {
        json!({
            "case": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "state": "open", "status": "Waiting",
            "customer": HOSTILE, "email": "jo@example.com", "verified": true, "source": "webchat",
            "urgency": "urgent", "mention": "aad-team|Support team",
            "reasons": [{"reason": "human_request", "urgency": "high", "detail": HOSTILE}],
            "intent": "refund", "intent_confidence": 0.82, "sentiment": -0.6, "route": "billing",
            "summary": HOSTILE, "facts": ["order #123", HOSTILE], "tried": ["reset link"],
            "previous_agent": "bob", "previous_agent_name": "Bob",
            "opened_at": "2026-11-21T10:00:00Z", "transcript_url": "https://h.example/t/1?exp=2&sig=ab",
        })
    }

    fn card(rich: Value) -> Value {
        CardRenderer::new().unwrap().card(
            &Content {
                text: "x".into(),
                rich: Some(rich),
            },
            &TeamsSettings::for_tests(),
            None,
        )
    }

    fn texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for key in ["text", "value", "title"] {
                    if let Some(Value::String(t)) = m.get(key) {
                        out.push(t.clone());
                    }
                }
                m.values().for_each(|x| texts(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| texts(x, out)),
            _ => {}
        }
    }

    fn verbs(card: &Value) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if m.get("type").and_then(Value::as_str) == Some("Action.Execute") {
                        out.push(m["verb"].as_str().unwrap().to_owned());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(card, &mut out);
        out
    }

    #[test]
    fn hostile_customer_text_never_becomes_markup() {
        let card = card(open_case());
        let mut all = Vec::new();
        texts(&card, &mut all);
        let joined = all.join("\n");
        assert!(!joined.contains("[your bank](https"), "{joined}");
        assert!(
            joined.contains(r"\[your bank\]\(https://evil\.example\)"),
            "{joined}"
        );
        assert!(!joined.contains("<at>General</at>"));
        assert!(!joined.contains("**urgent**"));
        assert!(
            joined.replace('\\', "").contains("{{agent}}"),
            "values are never template syntax"
        );
        // The configured mention is the only ping, with its entity.
        assert!(joined.contains("<at>Support team</at>"));
        assert_eq!(
            card["msteams"]["entities"],
            json!([{"type": "mention", "text": "<at>Support team</at>",
                "mentioned": {"id": "aad-team", "name": "Support team"}}])
        );
        assert!(!card.to_string().contains("null"), "no null members");
        assert_eq!(card["version"], "1.5");
        let transcript = card["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["type"] == "Action.OpenUrl")
            .unwrap();
        assert_eq!(transcript["url"], "https://h.example/t/1?exp=2&sig=ab");
    }

    #[test]
    fn actions_follow_the_state_and_carry_the_case() {
        let open = card(open_case());
        assert_eq!(verbs(&open), ["claim", "resolve", "reassign", "intent"]);
        assert_eq!(
            open["actions"][0]["data"]["case"],
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
        );
        let mut claimed = open_case();
        claimed["state"] = json!("claimed");
        claimed["owner"] = json!("alice");
        let c = card(claimed);
        assert_eq!(verbs(&c), ["release", "resolve", "reassign", "intent"]);
        let text = c.to_string();
        assert!(text.contains("Claimed by Alice"), "{text}");
        assert!(
            !text.contains("<at>Support team</at>"),
            "the mention is for open cases"
        );
        // The owner is not offered as a reassignment target.
        assert!(!text.contains(r#""value":"alice""#));
        let mut resolved = open_case();
        resolved["state"] = json!("resolved");
        assert!(verbs(&card(resolved)).is_empty());
    }

    #[test]
    fn a_notice_shows_on_the_card_for_one_agent() {
        let c = CardRenderer::new().unwrap().card(
            &Content {
                text: "x".into(),
                rich: Some(open_case()),
            },
            &TeamsSettings::for_tests(),
            Some("Bob already claimed this case."),
        );
        assert!(c.to_string().contains("Bob already claimed this case"));
    }

    #[test]
    fn a_tag_mention_says_it_is_a_tag() {
        let m = mention("tag:MjQ4|Billing");
        assert_eq!(m.text, "<at>Billing</at>");
        assert_eq!(
            m.entity.unwrap()["mentioned"],
            json!({"id": "MjQ4", "name": "Billing", "type": "tag"})
        );
    }

    #[test]
    fn a_bare_mention_is_bold_text_that_pings_nobody() {
        let m = mention("Support *team*");
        assert_eq!(m.text, r"**Support \*team\***");
        assert_eq!(m.entity, None);
    }

    #[test]
    fn thread_posts_are_plain_except_team_notes() {
        let customer = thread_post(
            &Content {
                text: "ignored".into(),
                rich: Some(json!({"author": "customer", "name": "Jo", "text": HOSTILE})),
            },
            &[],
        );
        assert_eq!(customer["textFormat"], "plain");
        assert_eq!(customer["text"], format!("Jo: {HOSTILE}"));
        let note = thread_post(
            &Content {
                text: "aad-team|Support team Still waiting.".into(),
                rich: Some(json!({"markup": true})),
            },
            &["aad-team|Support team".to_owned()],
        );
        assert_eq!(note["textFormat"], "markdown");
        assert_eq!(note["text"], "<at>Support team</at> Still waiting.");
        assert_eq!(note["entities"][0]["mentioned"]["id"], "aad-team");
        let long = thread_post(&Content::text("x".repeat(20_000)), &[]);
        assert!(long["text"].as_str().unwrap().chars().count() <= MAX_POST_CHARS);
    }
}
