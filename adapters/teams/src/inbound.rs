//! Teams activities, already verified, turned into engine events. Pure:
//! no I/O, so every rule is tested on plain JSON.
//!
//! What counts:
//! - a message in a card's thread (a channel conversation whose id ends
//!   in `;messageid=<card>`): an agent's reply, with Teams' HTML made
//!   into plain text and mentions stripped;
//! - its edit (`messageUpdate`) and deletion (`messageDelete`);
//! - a card button (`invoke` named `adaptiveCard/action`, from
//!   `Action.Execute`).
//!
//! Everything else (installs, top-level channel posts, personal chats,
//! reactions, the bot's own messages, other bots) is set aside with a
//! reason. Who a person is comes from their Azure AD object id, the id
//! `[[agents]] teams_user` names.

use chrono::{DateTime, Utc};
use handoff_core::{
    AgentAction, AgentEdit, AgentId, AgentReply, Attachment, CaseAction, CaseId, InboundError,
    InboundEvent, InboundKind, MessageRef, Platform, PlatformUser,
};
use serde_json::Value;

use crate::markup::{html_to_text, plain_mentions_stripped};

/// The longest agent message taken (Teams' own limit is about 28 KB).
const MAX_TEXT: usize = 40_000;

/// What the parse needs besides the activity.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// When handoff received it.
    pub received_at: DateTime<Utc>,
}

/// A verified activity, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Something for the engine.
    Event(InboundEvent),
    /// A card button; the response shows the card after the engine acted.
    Action {
        /// The event to store.
        event: InboundEvent,
        /// The case the card belongs to.
        case: CaseId,
    },
    /// Nothing for handoff, and why.
    Ignored(&'static str),
}

fn malformed(why: impl Into<String>) -> InboundError {
    InboundError::Malformed(why.into())
}

/// The Microsoft Entra tenant an activity comes from.
pub fn tenant_of(a: &Value) -> Option<&str> {
    a["channelData"]["tenant"]["id"]
        .as_str()
        .or(a["conversation"]["tenantId"].as_str())
        .filter(|t| !t.is_empty())
}

/// A short, stable fingerprint of an edit's text (FNV-1a), so two edits
/// of one message with the same timestamp are still two events.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The card thread a conversation id names: `19:…@thread.tacv2;messageid=123`
/// is the thread under the channel post (card) 123.
pub fn card_thread(conversation: &str) -> Option<MessageRef> {
    let (_, root) = conversation.rsplit_once(";messageid=")?;
    (!root.is_empty()).then(|| MessageRef::new(Platform::Teams, conversation, root))
}

fn actor(a: &Value) -> Result<PlatformUser, InboundError> {
    let from = &a["from"];
    // The AAD object id is what config names; the `29:` id is per app.
    let id = from["aadObjectId"]
        .as_str()
        .or(from["id"].as_str())
        .ok_or_else(|| malformed("the activity names no sender"))?;
    Ok(PlatformUser {
        user_id: id.to_owned(),
        display_name: from["name"].as_str().map(str::to_owned),
    })
}

fn str_field<'a>(a: &'a Value, key: &str) -> Result<&'a str, InboundError> {
    a[key]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed(format!("the activity has no {key}")))
}

/// The activity's text as a customer may read it: from the HTML rendering
/// Teams attaches where there is one (it keeps links and lists), else from
/// `text`; mentions stripped either way.
fn text_of(a: &Value) -> String {
    let html = a["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|at| at["contentType"] == "text/html")
        .and_then(|at| at["content"].as_str());
    match html {
        Some(h) => html_to_text(h),
        None => plain_mentions_stripped(a["text"].as_str().unwrap_or_default()),
    }
}

/// Files shared with a message. Teams hands a bot only links that need
/// the bot's own token or expire within the hour, so none can go to a
/// customer: they are named, and the agent is asked for a public link.
fn files_of(a: &Value) -> (Vec<Attachment>, Vec<String>) {
    let mut withheld = Vec::new();
    for at in a["attachments"].as_array().into_iter().flatten() {
        let kind = at["contentType"].as_str().unwrap_or_default();
        if kind == "application/vnd.microsoft.teams.file.download.info"
            || kind.starts_with("image/")
        {
            withheld.push(at["name"].as_str().unwrap_or("an image").to_owned());
        }
    }
    (Vec::new(), withheld)
}

/// Classifies one verified activity.
pub fn activity(a: &Value, cx: Context) -> Result<Parsed, InboundError> {
    let kind = str_field(a, "type")?;
    let id = str_field(a, "id")?;
    let from = &a["from"];
    if from["id"].is_string() && from["id"] == a["recipient"]["id"] {
        return Ok(Parsed::Ignored("the bot's own activity"));
    }
    if from["role"] == "bot" {
        return Ok(Parsed::Ignored("another bot's activity"));
    }
    let conversation = a["conversation"]["id"].as_str().unwrap_or_default();
    let event = |event_id: String, kind: InboundKind| InboundEvent {
        platform: Platform::Teams,
        event_id,
        received_at: cx.received_at,
        kind,
    };
    match kind {
        "invoke" if a["name"] == "adaptiveCard/action" => {
            let action = &a["value"]["action"];
            let data = &action["data"];
            let case: CaseId = data["case"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| malformed("the card action names no case"))?;
            let wanted = |key: &str| {
                data[key]
                    .as_str()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| malformed(format!("the card action has no {key}")))
            };
            let verb = action["verb"].as_str().unwrap_or_default();
            let case_action = match verb {
                "claim" => CaseAction::Claim,
                "release" => CaseAction::Release,
                "resolve" => CaseAction::Resolve,
                "reassign" => CaseAction::Reassign {
                    to: AgentId::new(wanted("to")?),
                },
                "intent" => CaseAction::CorrectIntent {
                    intent: wanted("intent")?,
                },
                other => return Err(malformed(format!("unknown card action {other:?}"))),
            };
            Ok(Parsed::Action {
                event: event(
                    id.to_owned(),
                    InboundKind::AgentAction(AgentAction {
                        case,
                        actor: actor(a)?,
                        action: case_action,
                    }),
                ),
                case,
            })
        }
        "message" | "messageUpdate" | "messageDelete" => {
            if a["conversation"]["conversationType"] != "channel" {
                return Ok(Parsed::Ignored("not in a team channel"));
            }
            let Some(thread) = card_thread(conversation) else {
                return Ok(Parsed::Ignored("a channel post outside any thread"));
            };
            let actor = actor(a)?;
            // Teams message ids are unique within a channel, not across
            // channels: the event id names the thread too.
            let key = format!("{conversation}|{id}");
            if kind == "message" {
                let text = text_of(a);
                if text.chars().count() > MAX_TEXT {
                    return Err(InboundError::TooLarge(format!(
                        "a message of {} characters",
                        text.chars().count()
                    )));
                }
                let (attachments, withheld) = files_of(a);
                return Ok(Parsed::Event(event(
                    key,
                    InboundKind::AgentReply(AgentReply {
                        thread,
                        actor,
                        text,
                        platform_message_id: id.to_owned(),
                        attachments,
                        withheld,
                    }),
                )));
            }
            // An edit or deletion carries the message's own id, so the
            // event id must tell it apart from the message and from other
            // edits of it.
            let (event_id, text) = match a["channelData"]["eventType"].as_str() {
                Some("editMessage") if kind == "messageUpdate" => {
                    let text = text_of(a);
                    let at = a["timestamp"].as_str().unwrap_or_default();
                    (
                        format!("{key}:edit:{at}:{:016x}", fingerprint(&text)),
                        Some(text),
                    )
                }
                Some("softDeleteMessage") if kind == "messageDelete" => {
                    (format!("{key}:delete"), None)
                }
                _ => return Ok(Parsed::Ignored("a message change handoff does not follow")),
            };
            Ok(Parsed::Event(event(
                event_id,
                InboundKind::AgentEdit(AgentEdit {
                    thread,
                    actor,
                    platform_message_id: id.to_owned(),
                    text,
                }),
            )))
        }
        "conversationUpdate" | "installationUpdate" => {
            Ok(Parsed::Ignored("an installation or membership change"))
        }
        _ => Ok(Parsed::Ignored("an activity type handoff does not use")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CHANNEL: &str = "19:ab12cd34@thread.tacv2";
    const THREAD: &str = "19:ab12cd34@thread.tacv2;messageid=1700000000001";

    fn cx() -> Context {
        Context {
            received_at: "2026-11-21T10:00:00Z".parse().unwrap(),
        }
    }

    /// A reply in a channel thread, shaped like Microsoft's documented
    /// Teams message activity.
    fn reply(html: &str) -> Value {
        json!({
            "type": "message", "id": "1700000000123", "timestamp": "2026-11-21T10:00:00.000Z",
            "serviceUrl": "https://smba.trafficmanager.net/amer/", "channelId": "msteams",
            "from": {"id": "29:1a2b", "name": "Alice Liddell", "aadObjectId": "aad-alice"},
            "conversation": {"isGroup": true, "conversationType": "channel", "id": THREAD,
                "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"},
            "recipient": {"id": "28:bot", "name": "handoff"},
            "textFormat": "plain", "text": "<at>handoff</at> Hello",
            "attachments": [{"contentType": "text/html", "content": html}],
            "channelData": {"teamsChannelId": CHANNEL, "channel": {"id": CHANNEL},
                "tenant": {"id": "72f988bf-86f1-41af-91ab-2d7cd011db47"}},
            "replyToId": "1700000000001",
        })
    }

    #[test]
    fn a_reply_in_a_card_thread_is_an_agent_reply() {
        let Parsed::Event(e) = activity(&reply("<p>Hello</p>"), cx()).unwrap() else {
            panic!("a reply is an event");
        };
        assert_eq!(e.event_id, format!("{THREAD}|1700000000123"));
        let InboundKind::AgentReply(r) = e.kind else {
            panic!("an agent reply");
        };
        assert_eq!(
            r.thread,
            MessageRef::new(Platform::Teams, THREAD, "1700000000001")
        );
        assert_eq!(r.actor.user_id, "aad-alice");
        assert_eq!(r.actor.display_name.as_deref(), Some("Alice Liddell"));
        assert_eq!(r.platform_message_id, "1700000000123");
    }

    #[test]
    fn files_are_withheld_by_name() {
        let mut a = reply("<p>see file</p>");
        a["attachments"].as_array_mut().unwrap().push(json!({
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "name": "invoice.pdf",
            "contentUrl": "https://contoso.sharepoint.com/sites/x/invoice.pdf",
            "content": {"downloadUrl": "https://contoso.sharepoint.com/download?tempauth=x", "fileType": "pdf"},
        }));
        let Parsed::Event(InboundEvent {
            kind: InboundKind::AgentReply(r),
            ..
        }) = activity(&a, cx()).unwrap()
        else {
            panic!("a reply");
        };
        assert_eq!(r.withheld, ["invoice.pdf"]);
        assert!(r.attachments.is_empty());
    }

    #[test]
    fn edits_and_deletions_have_their_own_event_ids() {
        let mut edit = reply("<p>Hello again</p>");
        edit["type"] = json!("messageUpdate");
        edit["channelData"]["eventType"] = json!("editMessage");
        let Parsed::Event(e) = activity(&edit, cx()).unwrap() else {
            panic!("an edit is an event");
        };
        assert!(
            e.event_id.starts_with(&format!(
                "{THREAD}|1700000000123:edit:2026-11-21T10:00:00.000Z:"
            )),
            "{}",
            e.event_id
        );
        assert!(matches!(
            e.kind,
            InboundKind::AgentEdit(AgentEdit { text: Some(_), .. })
        ));
        let mut delete = reply("");
        delete["type"] = json!("messageDelete");
        delete["channelData"]["eventType"] = json!("softDeleteMessage");
        let Parsed::Event(e) = activity(&delete, cx()).unwrap() else {
            panic!("a deletion is an event");
        };
        assert_eq!(e.event_id, format!("{THREAD}|1700000000123:delete"));
        assert!(matches!(
            e.kind,
            InboundKind::AgentEdit(AgentEdit { text: None, .. })
        ));
    }

    #[test]
    fn card_actions_name_their_case_and_choice() {
        let case = CaseId::new();
        let invoke = |verb: &str, data: Value| {
            json!({
                "type": "invoke", "name": "adaptiveCard/action", "id": "f:1",
                "channelId": "msteams", "serviceUrl": "https://smba.trafficmanager.net/amer/",
                "from": {"id": "29:1a2b", "name": "Bob", "aadObjectId": "aad-bob"},
                "recipient": {"id": "28:bot"},
                "conversation": {"conversationType": "channel", "id": THREAD},
                "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"},
            })
        };
        let parse = |v: Value| activity(&v, cx());
        let Parsed::Action { event, case: c } =
            parse(invoke("claim", json!({"case": case.to_string()}))).unwrap()
        else {
            panic!("an action");
        };
        assert_eq!(c, case);
        assert_eq!(event.event_id, "f:1");
        let InboundKind::AgentAction(a) = event.kind else {
            panic!("an agent action");
        };
        assert_eq!(a.action, CaseAction::Claim);
        assert_eq!(a.actor.user_id, "aad-bob");
        let Parsed::Action { event, .. } = parse(invoke(
            "reassign",
            json!({"case": case.to_string(), "to": "alice"}),
        ))
        .unwrap() else {
            panic!("an action");
        };
        assert!(matches!(
            event.kind,
            InboundKind::AgentAction(AgentAction { action: CaseAction::Reassign { to }, .. }) if to.as_str() == "alice"
        ));
        for bad in [
            invoke("claim", json!({})),
            invoke("claim", json!({"case": "not-a-uuid"})),
            invoke("reassign", json!({"case": case.to_string()})),
            invoke("explode", json!({"case": case.to_string()})),
        ] {
            assert!(matches!(parse(bad), Err(InboundError::Malformed(_))));
        }
    }

    #[test]
    fn what_is_not_for_handoff_is_set_aside() {
        let mut own = reply("x");
        own["from"]["id"] = json!("28:bot");
        assert_eq!(
            activity(&own, cx()).unwrap(),
            Parsed::Ignored("the bot's own activity")
        );
        let mut top = reply("x");
        top["conversation"]["id"] = json!(CHANNEL);
        assert!(matches!(activity(&top, cx()).unwrap(), Parsed::Ignored(_)));
        let mut personal = reply("x");
        personal["conversation"]["conversationType"] = json!("personal");
        assert!(matches!(
            activity(&personal, cx()).unwrap(),
            Parsed::Ignored(_)
        ));
        let mut bot = reply("x");
        bot["from"]["role"] = json!("bot");
        assert!(matches!(activity(&bot, cx()).unwrap(), Parsed::Ignored(_)));
        let mut install = reply("x");
        install["type"] = json!("conversationUpdate");
        assert!(matches!(
            activity(&install, cx()).unwrap(),
            Parsed::Ignored(_)
        ));
        assert!(matches!(
            activity(&json!({"type": "message"}), cx()),
            Err(InboundError::Malformed(_))
        ));
        let huge = reply(&"x".repeat(MAX_TEXT + 1));
        assert!(matches!(
            activity(&huge, cx()),
            Err(InboundError::TooLarge(_))
        ));
    }
}
