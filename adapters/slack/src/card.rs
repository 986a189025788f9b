//! What handoff posts in Slack: the handoff card as Block Kit (from the
//! handlebars template `templates/slack/card.json.hbs`) and thread posts.
//!
//! Escaping belongs to this template family: every value a template prints
//! with `{{value}}` is escaped for mrkdwn and then for a JSON string, so a
//! customer's text can never ping `<!channel>`, mention anyone, disguise a
//! link or break the JSON. `{{plain value}}` is only JSON-escaped; the
//! template uses it for `plain_text` fields (which Slack never parses) and
//! for markup handoff built itself (the route's configured mention, an
//! owner's `<@U…>`). After rendering, [`fit`] holds the blocks to Slack's
//! limits, cutting long text with a link to the transcript.

use handoff_core::Content;
use handoff_core::markup::escape_mrkdwn;
pub use handoff_core::template::CardTemplateError;
use handoff_core::template::{JsonCard, sample_case};
use serde_json::{Value, json};

use crate::SlackSettings;

/// The built-in card template.
const CARD_TEMPLATE: &str = include_str!("../../../templates/slack/card.json.hbs");

/// Slack's published Block Kit limits that a card can reach.
mod limit {
    pub const BLOCKS: usize = 50;
    pub const HEADER: usize = 150;
    pub const SECTION: usize = 3000;
    pub const FIELD: usize = 2000;
    pub const CONTEXT_ELEMENTS: usize = 10;
    pub const CONTEXT: usize = 2000;
    pub const ACTION_ELEMENTS: usize = 25;
    pub const BUTTON: usize = 75;
    pub const OPTIONS: usize = 100;
    pub const OPTION_TEXT: usize = 75;
    pub const OPTION_VALUE: usize = 150;
    /// Slack accepts 40,000 characters of message text but advises staying
    /// under 4,000; longer thread posts are cut there.
    pub const MESSAGE: usize = 3900;
}

/// A card or thread post ready for `chat.postMessage` / `chat.update`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    /// The `text` argument: notification and fallback, in mrkdwn.
    pub text: String,
    /// The `blocks` argument, when the message has any.
    pub blocks: Option<Value>,
}

/// Renders cards from the template.
#[derive(Debug)]
pub struct CardRenderer {
    template: JsonCard,
}

impl CardRenderer {
    /// The built-in template, checked by rendering a full sample card.
    pub fn new() -> Result<Self, CardTemplateError> {
        let renderer = Self {
            template: JsonCard::new("Slack", CARD_TEMPLATE, escape_mrkdwn)?,
        };
        renderer
            .blocks(&sample_case(), &SlackSettings::for_tests())
            .map_err(|e| renderer.template.error(e))?;
        Ok(renderer)
    }

    /// The card for a case, from the engine's rendering (`content.rich`
    /// holds every field of the case; see the root crate's `render::card`).
    pub fn card(&self, content: &Content, settings: &SlackSettings) -> SlackMessage {
        let Some(rich) = content.rich.as_ref() else {
            return thread_post(content);
        };
        match self.blocks(rich, settings) {
            Ok(blocks) => SlackMessage {
                text: fallback_text(rich),
                blocks: Some(blocks),
            },
            Err(e) => {
                // Checked at start-up, so only an odd value gets here; the
                // team still gets a card, as text.
                tracing::error!(error = %e, "The Slack card template failed; posting the card as text.");
                SlackMessage {
                    text: escape_mrkdwn(&content.text),
                    blocks: None,
                }
            }
        }
    }

    fn blocks(&self, rich: &Value, settings: &SlackSettings) -> Result<Value, String> {
        let mut blocks = self.template.render(&view(rich, settings))?;
        fit(&mut blocks, rich["transcript_url"].as_str());
        Ok(blocks)
    }
}

/// What the template is given: the card's fields, with the markup handoff
/// builds itself (mentions) already made, and the choices the menus offer.
fn view(rich: &Value, settings: &SlackSettings) -> Value {
    let s = |k: &str| rich[k].as_str().map(str::to_owned);
    let person = |id: Option<String>, name: Option<String>| -> Option<String> {
        let id = id?;
        Some(match settings.slack_user_of(&id) {
            Some(user) => format!("<@{user}>"),
            None => escape_mrkdwn(name.as_deref().unwrap_or(&id)),
        })
    };
    let mut view = handoff_core::card::view(rich);
    let open = rich["state"] == "open";
    view.extend([
        (
            "mention".to_owned(),
            json!(if open { s("mention") } else { None }),
        ),
        (
            "owner".to_owned(),
            json!(person(s("owner"), s("owner_name"))),
        ),
        (
            "previous_agent".to_owned(),
            json!(person(s("previous_agent"), s("previous_agent_name"))),
        ),
        ("reaction_hint".to_owned(), json!(settings.reaction_hint())),
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

/// The message `text` that goes with the blocks: what notifications and
/// screen readers show.
fn fallback_text(rich: &Value) -> String {
    let customer = rich["customer"].as_str().unwrap_or("A customer");
    let status = rich["status"].as_str().unwrap_or_default();
    let mention = rich["mention"]
        .as_str()
        .filter(|_| rich["state"] == "open")
        .map(|m| format!("{m} "))
        .unwrap_or_default();
    format!(
        "{mention}{} needs a person ({}). {}.",
        escape_mrkdwn(customer),
        rich["urgency"].as_str().unwrap_or("normal"),
        escape_mrkdwn(status)
    )
}

/// A post in a card's thread. A customer's message (`rich.author` is
/// `customer`) is shown as theirs; a note written by the team's own
/// templates (`rich.markup`) may hold the route's mention and is posted as
/// it is; anything else is text and escaped.
pub fn thread_post(content: &Content) -> SlackMessage {
    let rich = content.rich.as_ref();
    let text = if rich.is_some_and(|r| r["markup"] == true) {
        content.text.clone()
    } else if let Some(r) = rich.filter(|r| r["author"] == "customer") {
        format!(
            "*{}*: {}",
            escape_mrkdwn(r["name"].as_str().unwrap_or("Customer")),
            escape_mrkdwn(r["text"].as_str().unwrap_or_default())
        )
    } else {
        escape_mrkdwn(&content.text)
    };
    SlackMessage {
        text: cut_mrkdwn(
            &text,
            limit::MESSAGE,
            " … _(cut here: the whole message is in the transcript linked on the card)_",
        ),
        blocks: None,
    }
}

/// Holds `blocks` to Slack's limits: long texts are cut (mrkdwn ones with a
/// link to the transcript), lists are shortened.
pub fn fit(blocks: &mut Value, transcript: Option<&str>) {
    let more = match transcript {
        Some(url) => format!(" … <{}|more in the transcript>", escape_mrkdwn(url)),
        None => " …".to_owned(),
    };
    let Some(list) = blocks.as_array_mut() else {
        return;
    };
    list.truncate(limit::BLOCKS);
    // `get_mut`, never `value[key]`: indexing would add `null` members,
    // which Slack refuses.
    let cut = |v: Option<&mut Value>, max: usize| {
        if let Some(v) = v {
            cut_text_object(v, max, &more);
        }
    };
    for block in list.iter_mut() {
        let kind = block["type"].as_str().unwrap_or_default().to_owned();
        let Some(block) = block.as_object_mut() else {
            continue;
        };
        match kind.as_str() {
            "header" => cut(block.get_mut("text"), limit::HEADER),
            "section" => {
                cut(block.get_mut("text"), limit::SECTION);
                if let Some(fields) = block.get_mut("fields").and_then(Value::as_array_mut) {
                    fields.truncate(10);
                    fields.iter_mut().for_each(|f| cut(Some(f), limit::FIELD));
                }
            }
            "context" => {
                if let Some(elements) = block.get_mut("elements").and_then(Value::as_array_mut) {
                    elements.truncate(limit::CONTEXT_ELEMENTS);
                    elements
                        .iter_mut()
                        .for_each(|e| cut(Some(e), limit::CONTEXT));
                }
            }
            "actions" => {
                let Some(elements) = block.get_mut("elements").and_then(Value::as_array_mut) else {
                    continue;
                };
                elements.truncate(limit::ACTION_ELEMENTS);
                for e in elements.iter_mut().filter_map(Value::as_object_mut) {
                    cut(e.get_mut("text"), limit::BUTTON);
                    cut(e.get_mut("placeholder"), limit::BUTTON);
                    if let Some(options) = e.get_mut("options").and_then(Value::as_array_mut) {
                        options.retain(|o| {
                            o["value"].as_str().map_or(0, |v| v.chars().count())
                                <= limit::OPTION_VALUE
                        });
                        options.truncate(limit::OPTIONS);
                        for o in options.iter_mut().filter_map(Value::as_object_mut) {
                            cut(o.get_mut("text"), limit::OPTION_TEXT);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Cuts a text object (`{"type": "mrkdwn"|"plain_text", "text": …}`).
fn cut_text_object(object: &mut Value, max: usize, more: &str) {
    let mrkdwn = object["type"] == "mrkdwn";
    let Some(text) = object.get_mut("text") else {
        return;
    };
    let Some(s) = text.as_str() else {
        return;
    };
    if s.chars().count() <= max {
        return;
    }
    *text = Value::String(if mrkdwn {
        cut_mrkdwn(s, max, more)
    } else {
        cut_plain(s, max)
    });
}

fn cut_plain(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` in at most `max` characters, ending with `suffix` when cut. The
/// cut never splits an entity (`&amp;`) or a `<…>` token, which would leave
/// broken markup.
pub fn cut_mrkdwn(text: &str, max: usize, suffix: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(suffix.chars().count());
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut head = &text[..end];
    if let Some(open) = head.rfind('<')
        && !head[open..].contains('>')
    {
        head = &head[..open];
    }
    if let Some(amp) = head.rfind('&')
        && !head[amp..].contains(';')
    {
        head = &head[..amp];
    }
    format!("{head}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "<!channel> <@U1> <https://evil.example|your bank> & \"quotes\" \\ {{agent}}";

    fn card(rich: Value) -> SlackMessage {
        CardRenderer::new().unwrap().card(
            &Content {
                text: "x".into(),
                rich: Some(rich),
            },
            &SlackSettings::for_tests(),
        )
    }

    fn texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                // Only mrkdwn is parsed by Slack; plain_text shows as is.
                if let (Some(Value::String(t)), Some("mrkdwn")) =
                    (m.get("text"), m.get("type").and_then(Value::as_str))
                {
                    out.push(t.clone());
                }
                m.values().for_each(|x| texts(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| texts(x, out)),
            _ => {}
        }
    }

    fn open_case() -> Value {
        json!({
            "case": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "state": "open", "status": "Waiting",
            "customer": HOSTILE, "email": "jo@example.com", "verified": true, "source": "webchat",
            "urgency": "urgent", "mention": "<!subteam^S1>",
            "reasons": [{"reason": "human_request", "urgency": "high", "detail": HOSTILE}],
            "intent": "refund", "intent_confidence": 0.82, "sentiment": -0.6, "route": "billing",
            "summary": HOSTILE, "facts": ["order #123", HOSTILE], "tried": ["reset link"],
            "previous_agent": "bob", "previous_agent_name": "Bob",
            "opened_at": "2026-11-21T10:00:00Z", "transcript_url": "https://h.example/t/1?exp=2&sig=ab",
        })
    }

    #[test]
    fn hostile_customer_text_never_becomes_markup() {
        let m = card(open_case());
        let blocks = m.blocks.unwrap();
        let mut all = Vec::new();
        texts(&blocks, &mut all);
        let joined = all.join("\n");
        // The configured mention is markup; nothing from the customer is.
        assert!(joined.contains("<!subteam^S1>"));
        assert!(!joined.contains("<!channel>"), "{joined}");
        assert!(!joined.contains("<@U1>"));
        assert!(!joined.contains("<https://evil"));
        assert!(joined.contains("&lt;!channel&gt;"));
        assert!(
            joined.contains("{{agent}}"),
            "values are never template syntax"
        );
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert!(m.text.starts_with("<!subteam^S1> &lt;!channel&gt;"));
        assert!(
            !blocks.to_string().contains("null"),
            "Slack refuses null members"
        );
        assert!(!m.text.contains("<@U1>"));
    }

    #[test]
    fn a_discord_customer_shows_their_handle_and_picture() {
        let mut rich = open_case();
        rich["source"] = json!("discord");
        rich["handle"] = json!("@nelly_<!here>");
        rich["avatar"] = json!("https://cdn.discordapp.com/avatars/1/a.png");
        let blocks = card(rich.clone()).blocks.unwrap();
        let who = &blocks[1];
        assert_eq!(who["accessory"]["type"], "image");
        assert_eq!(
            who["accessory"]["image_url"],
            "https://cdn.discordapp.com/avatars/1/a.png"
        );
        let text = who["text"]["text"].as_str().unwrap();
        assert!(text.contains("(@nelly_&lt;!here&gt;) on discord"), "{text}");
        // Only https pictures are shown.
        rich["avatar"] = json!("javascript:alert(1)");
        assert!(card(rich).blocks.unwrap()[1].get("accessory").is_none());
    }

    #[test]
    fn buttons_follow_the_state() {
        let action_ids = |rich: Value| -> Vec<String> {
            let blocks = card(rich).blocks.unwrap();
            blocks
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b["type"] == "actions")
                .flat_map(|b| b["elements"].as_array().unwrap().clone())
                .map(|e| e["action_id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            action_ids(open_case()),
            [
                "handoff.claim",
                "handoff.resolve",
                "handoff.reassign",
                "handoff.intent"
            ]
        );
        let mut claimed = open_case();
        claimed["state"] = json!("claimed");
        claimed["owner"] = json!("alice");
        assert_eq!(
            action_ids(claimed.clone()),
            [
                "handoff.release",
                "handoff.resolve",
                "handoff.reassign",
                "handoff.intent"
            ]
        );
        let text = serde_json::to_string(&card(claimed).blocks).unwrap();
        assert!(text.contains("Claimed by <@UALICE>"), "{text}");
        let mut resolved = open_case();
        resolved["state"] = json!("resolved");
        assert!(action_ids(resolved).is_empty());
    }

    #[test]
    fn long_content_is_cut_within_limits_with_a_transcript_link() {
        let mut rich = open_case();
        rich["summary"] = json!("word & <b> ".repeat(2000));
        rich["customer"] = json!("N".repeat(400));
        rich["facts"] = json!((0..400).map(|i| format!("fact {i}")).collect::<Vec<_>>());
        let blocks = card(rich).blocks.unwrap();
        let list = blocks.as_array().unwrap();
        assert!(list.len() <= 50);
        let header = list[0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= 150);
        for b in list.iter().filter(|b| b["type"] == "section") {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000, "{}", t.len());
            }
        }
        let summary = list
            .iter()
            .find_map(|b| {
                b["text"]["text"]
                    .as_str()
                    .filter(|t| t.starts_with("*Summary*"))
            })
            .unwrap();
        assert!(summary.ends_with("|more in the transcript>"), "{summary}");
        assert!(summary.contains("<https://h.example/t/1?exp=2&amp;sig=ab|"));
    }

    #[test]
    fn cutting_never_splits_an_entity_or_a_link() {
        assert_eq!(cut_mrkdwn("ab &amp; cd", 6, "…"), "ab …");
        assert_eq!(cut_mrkdwn("ab <https://x|y> cd", 8, "…"), "ab …");
        assert_eq!(cut_mrkdwn("short", 10, "…"), "short");
    }

    #[test]
    fn thread_posts_escape_everything_but_team_markup() {
        let customer = thread_post(&Content {
            text: "ignored".into(),
            rich: Some(json!({"author": "customer", "name": "<@U1>", "text": HOSTILE})),
        });
        assert!(customer.text.starts_with("*&lt;@U1&gt;*: &lt;!channel&gt;"));
        let note = thread_post(&Content {
            text: "<!subteam^S1> still waiting".into(),
            rich: Some(json!({"markup": true})),
        });
        assert_eq!(note.text, "<!subteam^S1> still waiting");
        let plain = thread_post(&Content::text("<!here> x"));
        assert_eq!(plain.text, "&lt;!here&gt; x");
        let long = thread_post(&Content::text("&".repeat(10_000)));
        assert!(long.text.chars().count() <= 3900);
        assert!(long.text.contains("&amp; …"));
    }
}
