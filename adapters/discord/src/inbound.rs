//! What a Discord message, edit, deletion or button click means to
//! handoff. Pure: the gateway and the catch-up both hand serenity's models
//! here, so live and caught-up messages cannot be read differently.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use handoff_core::{
    Attachment, CustomerEdit, CustomerIdentity, CustomerMessage, CustomerRating, InboundEvent,
    InboundKind, Platform, ThreadStart,
};
use serenity::model::application::ComponentInteraction;
use serenity::model::channel::{Message, MessageType};
use serenity::model::event::MessageUpdateEvent;
use serenity::model::user::User;

/// Where customers write, as far as the adapter knows it.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// Channels (text or forum) configured as public support channels.
    pub support: HashSet<String>,
    /// Threads that carry a conversation: support threads and channels of
    /// conversations stored before.
    pub threads: HashMap<String, Thread>,
    /// Discord user ids configured as VIP.
    pub vip_users: HashSet<String>,
    /// Role ids whose members are VIP.
    pub vip_roles: HashSet<String>,
    /// Each user's roles as last seen in a server, for messages that do not
    /// carry them (DMs, history).
    pub roles: HashMap<String, Vec<String>>,
}

/// A thread that carries a conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Thread {
    /// Its support channel (empty when only known as a stored conversation).
    pub parent: String,
    /// Who started it: the customer, the only one who may rate it.
    pub owner: Option<String>,
}

impl Routing {
    /// Remembers a support thread (a forum post, or one handoff opened);
    /// returns whether `parent` is a support channel.
    pub fn add_thread(&mut self, thread: &str, parent: &str, owner: Option<String>) -> bool {
        if !self.support.contains(parent) {
            return false;
        }
        // Forgotten threads are looked up again when next written in.
        if self.threads.len() >= MAX_THREADS {
            self.threads.clear();
        }
        self.threads.insert(
            thread.to_owned(),
            Thread {
                parent: parent.to_owned(),
                owner,
            },
        );
        true
    }

    /// Whether a click in `channel` by `user` may rate the conversation: in
    /// a public thread only its customer may.
    pub fn may_rate(&self, channel: &str, user: &str) -> bool {
        self.threads
            .get(channel)
            .and_then(|t| t.owner.as_deref())
            .is_none_or(|owner| owner == user)
    }

    /// The conversation a guild channel carries, if it is a support thread.
    fn thread(&self, channel: &str) -> Option<String> {
        self.threads
            .contains_key(channel)
            .then(|| channel.to_owned())
    }
}

/// Threads remembered at most; a busy server cannot grow the map forever.
const MAX_THREADS: usize = 50_000;

/// The prefix of a CSAT button's custom id; the score follows.
pub const CSAT_PREFIX: &str = "csat:";

/// A thread title from the customer's name and first words (Discord allows
/// 1-100 characters).
fn thread_name(who: &str, text: &str) -> String {
    let words: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut name = format!("{who}: {words}");
    if name.chars().count() > 90 {
        name = name.chars().take(89).collect::<String>() + "…";
    }
    if words.is_empty() {
        name = format!("Support for {who}");
    }
    name.chars().take(100).collect()
}

/// Who wrote, as the card shows them: their server nickname, else their
/// display name, else their username; avatar and roles in the metadata.
fn identity(user: &User, nick: Option<&str>, roles: &[String], r: &Routing) -> CustomerIdentity {
    let id = user.id.to_string();
    // A DM or a message read from history has no member: use the roles
    // last seen, so a VIP by role stays one wherever they write.
    let roles = match (roles.is_empty(), r.roles.get(&id)) {
        (true, Some(known)) => known.as_slice(),
        _ => roles,
    };
    let mut metadata = serde_json::Map::new();
    metadata.insert("discord_username".into(), user.name.clone().into());
    metadata.insert("avatar_url".into(), user.face().into());
    if !roles.is_empty() {
        metadata.insert("discord_roles".into(), roles.to_vec().into());
    }
    if r.vip_users.contains(&id) || roles.iter().any(|role| r.vip_roles.contains(role)) {
        metadata.insert("vip".into(), true.into());
    }
    CustomerIdentity {
        external_id: id,
        display_name: Some(
            nick.or(user.global_name.as_deref())
                .unwrap_or(&user.name)
                .to_owned(),
        ),
        email: None,
        metadata,
    }
}

fn member_parts(m: &Message) -> (Option<String>, Vec<String>) {
    m.member
        .as_ref()
        .map(|p| {
            (
                p.nick.clone(),
                p.roles.iter().map(ToString::to_string).collect(),
            )
        })
        .unwrap_or_default()
}

/// The text handoff stores: the message, with what it replies to quoted
/// first so the team sees the context.
fn text_of(m: &Message) -> String {
    let Some(earlier) = m.referenced_message.as_deref() else {
        return m.content.clone();
    };
    let quoted: String = earlier
        .content
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let quoted = if quoted.chars().count() > 80 {
        quoted.chars().take(79).collect::<String>() + "…"
    } else {
        quoted
    };
    format!("(replying to \"{quoted}\") {}", m.content)
}

/// A customer's message, or `None` for what handoff does not take up:
/// bots (itself included), system messages, and channels that are neither
/// a DM, a support channel nor a support thread.
pub fn message(m: &Message, r: &Routing, now: DateTime<Utc>) -> Option<InboundEvent> {
    if m.author.bot || !matches!(m.kind, MessageType::Regular | MessageType::InlineReply) {
        return None;
    }
    let channel = m.channel_id.to_string();
    let id = m.id.to_string();
    let (nick, roles) = member_parts(m);
    let customer = identity(&m.author, nick.as_deref(), &roles, r);
    let (conversation, open_thread) = if m.guild_id.is_none() {
        (channel, None)
    } else if r.support.contains(&channel) {
        // A post in the public channel: its thread gets the message's id.
        let name = thread_name(
            customer.display_name.as_deref().unwrap_or("customer"),
            &m.content,
        );
        (
            id.clone(),
            Some(ThreadStart {
                channel,
                message: id.clone(),
                name,
            }),
        )
    } else {
        (r.thread(&channel)?, None)
    };
    let attachments: Vec<Attachment> = m
        .attachments
        .iter()
        .map(|a| Attachment {
            name: a.filename.clone(),
            url: a.url.clone(),
        })
        .collect();
    let text = text_of(m);
    if text.trim().is_empty() && attachments.is_empty() {
        // A sticker, or content withheld because the MESSAGE_CONTENT
        // intent is off: nothing a person could read.
        return None;
    }
    Some(InboundEvent {
        platform: Platform::Discord,
        event_id: id.clone(),
        received_at: now,
        kind: InboundKind::CustomerMessage(CustomerMessage {
            customer,
            conversation,
            text,
            platform_message_id: Some(id),
            attachments,
            open_thread,
        }),
    })
}

/// The conversation a message in `channel` belongs to: a DM channel is
/// one, a post in a support channel opened one with its own id, a support
/// thread is one.
fn conversation_of(channel: &str, message: &str, in_guild: bool, r: &Routing) -> Option<String> {
    if !in_guild {
        Some(channel.to_owned())
    } else if r.support.contains(channel) {
        Some(message.to_owned())
    } else {
        r.thread(channel)
    }
}

/// A customer's edit. Updates without an edit time are Discord adding a
/// link preview, not the customer changing anything.
pub fn edit(
    u: &MessageUpdateEvent,
    in_guild: bool,
    r: &Routing,
    now: DateTime<Utc>,
) -> Option<InboundEvent> {
    let author = u.author.as_ref().filter(|a| !a.bot)?;
    let text = u.content.clone()?;
    let edited = u.edited_timestamp?;
    let conversation = conversation_of(&u.channel_id.to_string(), &u.id.to_string(), in_guild, r)?;
    Some(InboundEvent {
        platform: Platform::Discord,
        // The full edit time: two edits within a second are two events.
        event_id: format!(
            "{}:edit:{}",
            u.id,
            edited
                .to_rfc3339()
                .unwrap_or_else(|| edited.unix_timestamp().to_string())
        ),
        received_at: now,
        kind: InboundKind::CustomerEdit(CustomerEdit {
            customer: Some(identity(author, None, &[], r)),
            conversation,
            platform_message_id: u.id.to_string(),
            text: Some(text),
        }),
    })
}

/// A deletion. Discord does not say who deleted what; the engine finds the
/// message and ignores it when it never stored it (a bot's, say).
pub fn deletion(
    channel: &str,
    message: &str,
    in_guild: bool,
    r: &Routing,
    now: DateTime<Utc>,
) -> Option<InboundEvent> {
    let conversation = conversation_of(channel, message, in_guild, r)?;
    Some(InboundEvent {
        platform: Platform::Discord,
        event_id: format!("{message}:delete"),
        received_at: now,
        kind: InboundKind::CustomerEdit(CustomerEdit {
            customer: None,
            conversation,
            platform_message_id: message.to_owned(),
            text: None,
        }),
    })
}

/// The score of a CSAT button's custom id (`csat:4`).
pub fn csat_score(custom_id: &str) -> Option<u8> {
    custom_id
        .strip_prefix(CSAT_PREFIX)?
        .parse()
        .ok()
        .filter(|s| (1..=5).contains(s))
}

/// A click on a CSAT button, as the customer's rating.
pub fn rating(i: &ComponentInteraction, r: &Routing, now: DateTime<Utc>) -> Option<InboundEvent> {
    let score = csat_score(&i.data.custom_id)?;
    let (nick, roles) = i
        .member
        .as_ref()
        .map(|m| {
            (
                m.nick.clone(),
                m.roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
            )
        })
        .unwrap_or_default();
    Some(InboundEvent {
        platform: Platform::Discord,
        event_id: i.id.to_string(),
        received_at: now,
        kind: InboundKind::CustomerRating(CustomerRating {
            customer: identity(&i.user, nick.as_deref(), &roles, r),
            conversation: i.channel_id.to_string(),
            score,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn user(id: &str, bot: bool) -> Value {
        json!({"id": id, "username": "nelly", "global_name": "Nelly", "avatar": null,
               "discriminator": "0", "bot": bot})
    }

    /// A message shaped like the documented example (message object).
    fn msg(id: &str, channel: &str, guild: Option<&str>, content: &str) -> Message {
        let mut m = json!({
            "id": id, "channel_id": channel, "author": user("53908232506183680", false),
            "content": content, "timestamp": "2017-07-11T17:27:07.299000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "type": 0
        });
        if let Some(g) = guild {
            m["guild_id"] = json!(g);
            m["member"] = json!({"roles": ["900"], "nick": "Nell", "joined_at": "2017-07-11T17:27:07.299000+00:00",
                                 "deaf": false, "mute": false, "flags": 0});
        }
        serde_json::from_value(m).unwrap()
    }

    fn routing() -> Routing {
        let mut r = Routing {
            support: ["300".to_owned()].into(),
            vip_roles: ["900".to_owned()].into(),
            ..Routing::default()
        };
        r.add_thread("777", "300", Some("5".into()));
        r.add_thread("778", "999", None);
        r
    }

    fn customer_message(e: InboundEvent) -> CustomerMessage {
        match e.kind {
            InboundKind::CustomerMessage(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_dm_is_its_own_conversation() {
        let m = customer_message(message(&msg("10", "20", None, "hi"), &routing(), now()).unwrap());
        assert_eq!(m.conversation, "20");
        assert_eq!(m.customer.external_id, "53908232506183680");
        assert_eq!(m.customer.display_name.as_deref(), Some("Nelly"));
        assert!(m.customer.metadata.get("vip").is_none());
        assert!(m.open_thread.is_none());
    }

    #[test]
    fn a_post_in_a_support_channel_opens_a_thread_with_its_id() {
        let m = customer_message(
            message(
                &msg("11", "300", Some("1"), "my   order is late"),
                &routing(),
                now(),
            )
            .unwrap(),
        );
        assert_eq!(m.conversation, "11");
        let t = m.open_thread.unwrap();
        assert_eq!((t.channel.as_str(), t.message.as_str()), ("300", "11"));
        assert_eq!(t.name, "Nell: my order is late");
        // The role makes them VIP, the nickname names them.
        assert_eq!(m.customer.metadata["vip"], json!(true));
        assert_eq!(m.customer.display_name.as_deref(), Some("Nell"));
    }

    #[test]
    fn support_threads_carry_on_and_other_channels_are_ignored() {
        let r = routing();
        let m = customer_message(
            message(&msg("12", "777", Some("1"), "still late"), &r, now()).unwrap(),
        );
        assert_eq!(m.conversation, "777");
        assert!(m.open_thread.is_none());
        // A thread under a channel that is not a support channel, and a
        // general channel, are none of handoff's business.
        assert!(message(&msg("13", "778", Some("1"), "x"), &r, now()).is_none());
        assert!(message(&msg("14", "555", Some("1"), "x"), &r, now()).is_none());
    }

    #[test]
    fn bots_system_messages_and_empty_content_are_ignored() {
        let r = routing();
        let mut m = msg("15", "20", None, "hi");
        m.author.bot = true;
        assert!(message(&m, &r, now()).is_none());
        let mut m = msg("16", "20", None, "hi");
        m.kind = MessageType::ThreadCreated;
        assert!(message(&m, &r, now()).is_none());
        // What arrives without the MESSAGE_CONTENT intent.
        assert!(message(&msg("17", "777", Some("1"), ""), &r, now()).is_none());
    }

    #[test]
    fn replies_quote_what_they_answer_and_attachments_come_along() {
        let mut m = msg("18", "20", None, "this one");
        m.referenced_message = Some(Box::new(msg("9", "20", None, "the   earlier\nquestion")));
        m.attachments = vec![
            serde_json::from_value(json!({"id": "1", "filename": "receipt.png", "size": 10,
                "url": "https://cdn.discordapp.com/attachments/20/1/receipt.png",
                "proxy_url": "https://media.discordapp.net/attachments/20/1/receipt.png"}))
            .unwrap(),
        ];
        let c = customer_message(message(&m, &routing(), now()).unwrap());
        assert_eq!(c.text, "(replying to \"the earlier question\") this one");
        assert_eq!(c.attachments[0].name, "receipt.png");
    }

    #[test]
    fn long_thread_names_are_cut() {
        let name = thread_name("Nell", &"word ".repeat(50));
        assert!(name.chars().count() <= 90, "{name}");
        assert!(name.ends_with('…'));
        assert_eq!(thread_name("Nell", "  "), "Support for Nell");
    }

    #[test]
    fn edits_and_deletions_name_the_conversation() {
        let r = routing();
        let u: MessageUpdateEvent = serde_json::from_value(json!({
            "id": "12", "channel_id": "777", "author": user("5", false), "content": "new",
            "edited_timestamp": "2017-07-11T17:30:00.000000+00:00"
        }))
        .unwrap();
        let e = edit(&u, true, &r, now()).unwrap();
        let InboundKind::CustomerEdit(c) = &e.kind else {
            panic!()
        };
        assert_eq!(
            (c.conversation.as_str(), c.text.as_deref()),
            ("777", Some("new"))
        );
        assert!(
            e.event_id.starts_with("12:edit:2017-07-11T17:30:00"),
            "{}",
            e.event_id
        );
        // A link preview arriving is no edit.
        let preview: MessageUpdateEvent =
            serde_json::from_value(json!({"id": "12", "channel_id": "777", "embeds": []})).unwrap();
        assert!(edit(&preview, true, &r, now()).is_none());
        let d = deletion("300", "11", true, &r, now()).unwrap();
        let InboundKind::CustomerEdit(c) = &d.kind else {
            panic!()
        };
        assert_eq!((c.conversation.as_str(), c.text.as_deref()), ("11", None));
        assert!(deletion("555", "1", true, &r, now()).is_none());
        assert!(deletion("20", "1", false, &r, now()).is_some());
    }

    #[test]
    fn only_the_customer_rates_a_public_thread() {
        let r = routing();
        assert!(r.may_rate("777", "5"));
        assert!(!r.may_rate("777", "6"));
        // A DM has nobody else in it.
        assert!(r.may_rate("20", "6"));
    }

    #[test]
    fn roles_seen_in_the_server_make_a_dm_vip() {
        let mut r = routing();
        assert!(
            customer_message(message(&msg("30", "20", None, "hi"), &r, now()).unwrap())
                .customer
                .metadata
                .get("vip")
                .is_none()
        );
        r.roles
            .insert("53908232506183680".into(), vec!["900".into()]);
        let m = customer_message(message(&msg("31", "20", None, "hi"), &r, now()).unwrap());
        assert_eq!(m.customer.metadata["vip"], json!(true));
    }

    #[test]
    fn csat_buttons_carry_a_score_from_one_to_five() {
        assert_eq!(csat_score("csat:4"), Some(4));
        assert_eq!(csat_score("csat:0"), None);
        assert_eq!(csat_score("csat:9"), None);
        assert_eq!(csat_score("other:4"), None);
    }
}
