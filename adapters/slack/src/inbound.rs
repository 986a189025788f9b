//! What Slack sends, as engine events. Pure: the Events API handler and the
//! Socket Mode listener both hand their JSON here, so the two paths cannot
//! disagree about what a payload means.
//!
//! Only what handoff acts on becomes an event: human replies in a thread
//! (and their edits and deletions), reactions, and card buttons and menus.
//! The bot's own messages and reactions, other bots, channel chatter
//! outside threads and every other event type are set aside with a reason.

use chrono::{DateTime, Utc};
use handoff_core::{
    AgentAction, AgentEdit, AgentId, AgentReply, Attachment, CaseAction, CaseId, InboundError,
    InboundEvent, InboundKind, MessageRef, Platform, PlatformUser, Reaction,
};
use serde_json::Value;

use crate::mrkdwn;

/// What a payload turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// The Events API's set-up handshake: answer with the challenge.
    Challenge(String),
    /// Something for the engine. Names are filled in by [`name_users`]
    /// before it is stored.
    Event(Box<InboundEvent>),
    /// Nothing handoff acts on, and why (for the debug log).
    Ignored(&'static str),
}

/// The parts of a payload handoff needs to know who is who.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The bot's own user id (from `auth.test`), to ignore its own doings.
    pub bot_user: Option<&'a str>,
    /// When the payload arrived.
    pub received_at: DateTime<Utc>,
}

fn malformed(what: &str) -> InboundError {
    InboundError::Malformed(what.to_owned())
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn user(id: &str) -> PlatformUser {
    PlatformUser {
        user_id: id.to_owned(),
        display_name: None,
    }
}

/// An Events API body (`url_verification` or `event_callback`).
pub fn event(body: &Value, ctx: Context<'_>) -> Result<Parsed, InboundError> {
    match str_of(body, "type") {
        Some("url_verification") => Ok(Parsed::Challenge(
            str_of(body, "challenge")
                .ok_or_else(|| malformed("url_verification without a challenge"))?
                .to_owned(),
        )),
        Some("event_callback") => {
            let event_id =
                str_of(body, "event_id").ok_or_else(|| malformed("event without an event_id"))?;
            let event = body
                .get("event")
                .filter(|e| e.is_object())
                .ok_or_else(|| malformed("event_callback without an event"))?;
            Ok(match callback(event, ctx)? {
                Some(kind) => Parsed::Event(Box::new(InboundEvent {
                    platform: Platform::Slack,
                    event_id: event_id.to_owned(),
                    received_at: ctx.received_at,
                    kind,
                })),
                None => Parsed::Ignored(ignored_reason(event)),
            })
        }
        Some(_) => Ok(Parsed::Ignored("an envelope type handoff does not use")),
        None => Err(malformed("a body without a type")),
    }
}

fn ignored_reason(event: &Value) -> &'static str {
    match (str_of(event, "type"), str_of(event, "subtype")) {
        (Some("message"), Some(_)) => "a message subtype handoff does not relay",
        (Some("message"), None) => "a message outside a thread, by a bot, or by handoff itself",
        (Some("reaction_added" | "reaction_removed"), _) => {
            "a reaction by handoff itself or not on a message"
        }
        _ => "an event type handoff does not use",
    }
}

fn callback(e: &Value, ctx: Context<'_>) -> Result<Option<InboundKind>, InboundError> {
    let is_bot = |m: &Value| {
        m.get("bot_id").is_some_and(|b| !b.is_null() && b != "")
            || str_of(m, "subtype") == Some("bot_message")
            || (ctx.bot_user.is_some() && str_of(m, "user") == ctx.bot_user)
    };
    match str_of(e, "type") {
        Some("message") => {
            let channel =
                str_of(e, "channel").ok_or_else(|| malformed("message without a channel"))?;
            match str_of(e, "subtype") {
                None | Some("file_share" | "thread_broadcast") => {
                    if is_bot(e) {
                        return Ok(None);
                    }
                    Ok(thread_reply(e, channel).map(InboundKind::AgentReply))
                }
                Some("message_changed") => {
                    let m = e
                        .get("message")
                        .ok_or_else(|| malformed("message_changed without message"))?;
                    if is_bot(m) {
                        return Ok(None);
                    }
                    Ok(edit(m, channel, str_of(m, "text").map(str::to_owned)))
                }
                Some("message_deleted") => {
                    let Some(m) = e.get("previous_message") else {
                        return Ok(None);
                    };
                    if is_bot(m) {
                        return Ok(None);
                    }
                    Ok(edit(m, channel, None))
                }
                Some(_) => Ok(None),
            }
        }
        Some(kind @ ("reaction_added" | "reaction_removed")) => {
            let actor = str_of(e, "user").ok_or_else(|| malformed("reaction without a user"))?;
            if Some(actor) == ctx.bot_user {
                return Ok(None);
            }
            let item = e
                .get("item")
                .ok_or_else(|| malformed("reaction without an item"))?;
            if str_of(item, "type") != Some("message") {
                return Ok(None);
            }
            let (Some(channel), Some(ts), Some(name)) = (
                str_of(item, "channel"),
                str_of(item, "ts"),
                str_of(e, "reaction"),
            ) else {
                return Err(malformed("reaction without channel, ts or name"));
            };
            Ok(Some(InboundKind::Reaction(Reaction {
                message: MessageRef::new(Platform::Slack, channel, ts),
                actor: user(actor),
                // A skin tone is how it looks, not what it means.
                name: name.split("::").next().unwrap_or(name).to_owned(),
                added: kind == "reaction_added",
            })))
        }
        _ => Ok(None),
    }
}

/// The thread a message is a reply in: none for a top-level message (a
/// message is its own thread's root when `thread_ts == ts`).
fn thread_of(m: &Value) -> Option<(&str, &str)> {
    let ts = str_of(m, "ts")?;
    let thread = str_of(m, "thread_ts")?;
    (thread != ts).then_some((thread, ts))
}

fn thread_reply(m: &Value, channel: &str) -> Option<AgentReply> {
    let (thread, ts) = thread_of(m)?;
    let author = str_of(m, "user")?;
    let mut attachments = Vec::new();
    let mut withheld = Vec::new();
    for f in m
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = str_of(f, "name")
            .or_else(|| str_of(f, "title"))
            .unwrap_or("a file")
            .to_owned();
        // Slack files are private to the workspace unless shared publicly;
        // a link the customer cannot open is worse than none.
        match str_of(f, "permalink_public").filter(|_| f["public_url_shared"] == true) {
            Some(url) => attachments.push(Attachment {
                name,
                url: url.to_owned(),
            }),
            None => withheld.push(name),
        }
    }
    Some(AgentReply {
        thread: MessageRef::new(Platform::Slack, channel, thread),
        actor: user(author),
        text: str_of(m, "text").unwrap_or_default().to_owned(),
        platform_message_id: ts.to_owned(),
        attachments,
        withheld,
    })
}

fn edit(m: &Value, channel: &str, text: Option<String>) -> Option<InboundKind> {
    let (thread, ts) = thread_of(m)?;
    Some(InboundKind::AgentEdit(AgentEdit {
        thread: MessageRef::new(Platform::Slack, channel, thread),
        actor: user(str_of(m, "user")?),
        platform_message_id: ts.to_owned(),
        text,
    }))
}

/// An interactivity payload (the JSON inside `payload=`).
pub fn interaction(payload: &Value, ctx: Context<'_>) -> Result<Parsed, InboundError> {
    match str_of(payload, "type") {
        Some("block_actions") => {}
        Some(_) => return Ok(Parsed::Ignored("an interaction type handoff does not use")),
        None => return Err(malformed("an interaction without a type")),
    }
    let actor = payload
        .get("user")
        .and_then(|u| str_of(u, "id"))
        .ok_or_else(|| malformed("block_actions without a user"))?;
    let action = payload
        .get("actions")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .ok_or_else(|| malformed("block_actions without an action"))?;
    let Some(action_id) = str_of(action, "action_id").and_then(|a| a.strip_prefix("handoff."))
    else {
        return Ok(Parsed::Ignored(
            "an action on something other than a handoff card",
        ));
    };
    let chosen = str_of(action, "value").or_else(|| {
        action
            .get("selected_option")
            .and_then(|o| str_of(o, "value"))
    });
    let case = str_of(action, "block_id")
        .and_then(|b| b.strip_prefix("handoff:"))
        .or(str_of(action, "value"))
        .and_then(|c| c.parse::<CaseId>().ok())
        .ok_or_else(|| malformed("a card action without its case"))?;
    let chosen = || {
        chosen
            .map(str::to_owned)
            .ok_or_else(|| malformed("a menu action without a chosen option"))
    };
    let action = match action_id {
        "claim" => CaseAction::Claim,
        "release" => CaseAction::Release,
        "resolve" => CaseAction::Resolve,
        "reassign" => CaseAction::Reassign {
            to: AgentId::new(chosen()?),
        },
        "intent" => CaseAction::CorrectIntent { intent: chosen()? },
        _ => {
            return Ok(Parsed::Ignored(
                "a handoff action this version does not know",
            ));
        }
    };
    // Interactions carry no event id; the trigger id is unique per click.
    let id = str_of(payload, "trigger_id")
        .or_else(|| str_of(action_of(payload), "action_ts"))
        .ok_or_else(|| malformed("block_actions without trigger_id or action_ts"))?;
    Ok(Parsed::Event(Box::new(InboundEvent {
        platform: Platform::Slack,
        event_id: format!("interaction:{id}"),
        received_at: ctx.received_at,
        kind: InboundKind::AgentAction(AgentAction {
            case,
            actor: user(actor),
            action,
        }),
    })))
}

fn action_of(payload: &Value) -> &Value {
    payload
        .get("actions")
        .and_then(|a| a.get(0))
        .unwrap_or(&Value::Null)
}

/// The user ids whose names an event needs: its actor, and everyone an
/// agent's text mentions.
pub fn users_to_name(event: &InboundEvent) -> Vec<String> {
    let (actor, text) = match &event.kind {
        InboundKind::AgentReply(r) => (&r.actor, Some(r.text.as_str())),
        InboundKind::AgentEdit(e) => (&e.actor, e.text.as_deref()),
        InboundKind::AgentAction(a) => (&a.actor, None),
        InboundKind::Reaction(r) => (&r.actor, None),
        _ => return Vec::new(),
    };
    let mut users = vec![actor.user_id.clone()];
    for u in text.map(mrkdwn::mentioned_users).unwrap_or_default() {
        if !users.contains(&u) {
            users.push(u);
        }
    }
    users
}

/// Fills in the actor's display name and turns an agent's Slack markup into
/// the plain text a customer may read.
pub fn name_users(event: &mut InboundEvent, names: &dyn Fn(&str) -> Option<String>) {
    let (actor, text) = match &mut event.kind {
        InboundKind::AgentReply(r) => (&mut r.actor, Some(&mut r.text)),
        InboundKind::AgentEdit(e) => (&mut e.actor, e.text.as_mut()),
        InboundKind::AgentAction(a) => (&mut a.actor, None),
        InboundKind::Reaction(r) => (&mut r.actor, None),
        _ => return,
    };
    actor.display_name = names(&actor.user_id);
    if let Some(text) = text {
        *text = mrkdwn::to_plain(text, names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context<'static> {
        Context {
            bot_user: Some("U0BOT"),
            received_at: Utc::now(),
        }
    }

    fn kind_of(p: Parsed) -> InboundKind {
        match p {
            Parsed::Event(e) => e.kind,
            other => panic!("{other:?}"),
        }
    }

    fn callback_of(event: Value) -> Parsed {
        super::event(
            &json!({"type": "event_callback", "event_id": "Ev1", "event": event}),
            ctx(),
        )
        .unwrap()
    }

    #[test]
    fn a_human_thread_reply_is_an_agent_reply() {
        let p = callback_of(json!({"type": "message", "channel": "C1", "user": "U1",
            "text": "hi <@U2>", "ts": "2.0", "thread_ts": "1.0"}));
        let Parsed::Event(mut e) = p else {
            panic!("{p:?}")
        };
        assert_eq!(e.event_id, "Ev1");
        assert_eq!(users_to_name(&e), ["U1", "U2"]);
        name_users(&mut e, &|u| Some(format!("name-{u}")));
        let InboundKind::AgentReply(r) = e.kind else {
            panic!()
        };
        assert_eq!(r.thread, MessageRef::new(Platform::Slack, "C1", "1.0"));
        assert_eq!(r.platform_message_id, "2.0");
        assert_eq!(r.text, "hi @name-U2");
        assert_eq!(r.actor.display_name.as_deref(), Some("name-U1"));
    }

    #[test]
    fn bots_handoff_itself_and_top_level_messages_are_ignored() {
        for event in [
            json!({"type": "message", "channel": "C1", "user": "U0BOT", "text": "x", "ts": "2", "thread_ts": "1"}),
            json!({"type": "message", "channel": "C1", "bot_id": "B9", "text": "x", "ts": "2", "thread_ts": "1"}),
            json!({"type": "message", "subtype": "bot_message", "channel": "C1", "text": "x", "ts": "2", "thread_ts": "1"}),
            json!({"type": "message", "channel": "C1", "user": "U1", "text": "x", "ts": "2"}),
            json!({"type": "message", "channel": "C1", "user": "U1", "text": "x", "ts": "1", "thread_ts": "1"}),
            json!({"type": "message", "subtype": "channel_join", "channel": "C1", "user": "U1", "ts": "2", "thread_ts": "1"}),
            json!({"type": "reaction_added", "user": "U0BOT", "reaction": "eyes", "item": {"type": "message", "channel": "C1", "ts": "1"}}),
            json!({"type": "app_home_opened", "user": "U1"}),
        ] {
            assert!(
                matches!(callback_of(event.clone()), Parsed::Ignored(_)),
                "{event}"
            );
        }
    }

    #[test]
    fn private_files_are_withheld_and_public_ones_linked() {
        let p = callback_of(
            json!({"type": "message", "subtype": "file_share", "channel": "C1",
            "user": "U1", "text": "", "ts": "2", "thread_ts": "1", "files": [
                {"name": "private.pdf", "url_private": "https://files.slack.com/p", "public_url_shared": false},
                {"name": "guide.pdf", "permalink_public": "https://slack-files.com/T-F-x", "public_url_shared": true},
            ]}),
        );
        let InboundKind::AgentReply(r) = kind_of(p) else {
            panic!()
        };
        assert_eq!(r.withheld, ["private.pdf"]);
        assert_eq!(r.attachments[0].url, "https://slack-files.com/T-F-x");
    }

    #[test]
    fn edits_and_deletes_name_the_message() {
        let p = callback_of(
            json!({"type": "message", "subtype": "message_changed", "channel": "C1",
            "hidden": true, "ts": "3", "message": {"type": "message", "user": "U1", "text": "new",
            "ts": "2", "thread_ts": "1"}, "previous_message": {"user": "U1", "text": "old", "ts": "2", "thread_ts": "1"}}),
        );
        let InboundKind::AgentEdit(e) = kind_of(p) else {
            panic!()
        };
        assert_eq!(
            (e.platform_message_id.as_str(), e.text.as_deref()),
            ("2", Some("new"))
        );
        let p = callback_of(
            json!({"type": "message", "subtype": "message_deleted", "channel": "C1",
            "hidden": true, "ts": "4", "deleted_ts": "2", "previous_message": {"user": "U1", "text": "old", "ts": "2", "thread_ts": "1"}}),
        );
        let InboundKind::AgentEdit(e) = kind_of(p) else {
            panic!()
        };
        assert_eq!(e.text, None);
    }

    #[test]
    fn reactions_drop_skin_tones() {
        let p = callback_of(
            json!({"type": "reaction_added", "user": "U1", "reaction": "eyes::skin-tone-2",
            "item": {"type": "message", "channel": "C1", "ts": "1.0"}}),
        );
        let InboundKind::Reaction(r) = kind_of(p) else {
            panic!()
        };
        assert_eq!((r.name.as_str(), r.added), ("eyes", true));
    }

    #[test]
    fn the_handshake_and_bad_bodies() {
        assert_eq!(
            event(
                &json!({"type": "url_verification", "challenge": "abc"}),
                ctx()
            )
            .unwrap(),
            Parsed::Challenge("abc".into())
        );
        assert!(event(&json!({"event": {}}), ctx()).is_err());
        assert!(event(&json!({"type": "event_callback", "event": {}}), ctx()).is_err());
    }

    #[test]
    fn card_buttons_and_menus_become_actions() {
        let case = CaseId::new();
        let payload = |action: Value| {
            json!({"type": "block_actions", "user": {"id": "U1", "username": "al"},
                "trigger_id": "t1", "actions": [action]})
        };
        let p = interaction(
            &payload(
                json!({"action_id": "handoff.claim", "block_id": format!("handoff:{case}"),
                "value": case.to_string(), "type": "button", "action_ts": "1"}),
            ),
            ctx(),
        )
        .unwrap();
        let Parsed::Event(e) = p else { panic!() };
        assert_eq!(e.event_id, "interaction:t1");
        assert!(matches!(
            e.kind,
            InboundKind::AgentAction(AgentAction {
                action: CaseAction::Claim,
                ..
            })
        ));
        let p = interaction(
            &payload(
                json!({"action_id": "handoff.reassign", "block_id": format!("handoff:{case}"),
                "type": "static_select", "selected_option": {"value": "bob"}}),
            ),
            ctx(),
        )
        .unwrap();
        let InboundKind::AgentAction(a) = kind_of(p) else {
            panic!()
        };
        assert_eq!(
            a.action,
            CaseAction::Reassign {
                to: AgentId::new("bob")
            }
        );
        assert!(
            interaction(
                &payload(
                    json!({"action_id": "handoff.claim", "block_id": "x", "value": "not-a-case"})
                ),
                ctx()
            )
            .is_err()
        );
        assert!(matches!(
            interaction(&payload(json!({"action_id": "other.app"})), ctx()).unwrap(),
            Parsed::Ignored(_)
        ));
    }
}
