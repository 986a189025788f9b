//! What the bot may do in a Discord channel, computed the way Discord does
//! (<https://discord.com/developers/docs/topics/permissions>, "Permission
//! Hierarchy"), so `handoff doctor` and the adapter can say which permission
//! is missing before a send fails with a bare 403 `Missing Permissions`.
//!
//! Pure: the caller fetches the guild's roles, the bot's member object and
//! the channel, and passes them in. A thread has no overwrites of its own,
//! so for a thread pass its parent channel's `permission_overwrites`.

use serde_json::Value;

/// Allows creation of instant invites.
pub const CREATE_INSTANT_INVITE: u64 = 1 << 0;
/// Allows kicking members.
pub const KICK_MEMBERS: u64 = 1 << 1;
/// Allows banning members.
pub const BAN_MEMBERS: u64 = 1 << 2;
/// Every permission, and channel overwrites no longer apply.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// Allows editing and deleting channels.
pub const MANAGE_CHANNELS: u64 = 1 << 4;
/// Allows editing the guild.
pub const MANAGE_GUILD: u64 = 1 << 5;
/// Allows adding reactions.
pub const ADD_REACTIONS: u64 = 1 << 6;
/// Allows reading the audit log.
pub const VIEW_AUDIT_LOG: u64 = 1 << 7;
/// Allows priority speaker in voice.
pub const PRIORITY_SPEAKER: u64 = 1 << 8;
/// Allows going live in voice.
pub const STREAM: u64 = 1 << 9;
/// Allows seeing the channel at all (and reading its messages as they come).
pub const VIEW_CHANNEL: u64 = 1 << 10;
/// Allows posting in the channel (not in its threads) and creating forum posts.
pub const SEND_MESSAGES: u64 = 1 << 11;
/// Allows text-to-speech messages.
pub const SEND_TTS_MESSAGES: u64 = 1 << 12;
/// Allows deleting others' messages.
pub const MANAGE_MESSAGES: u64 = 1 << 13;
/// Links and embeds in the bot's messages are shown as embeds.
pub const EMBED_LINKS: u64 = 1 << 14;
/// Allows uploading files.
pub const ATTACH_FILES: u64 = 1 << 15;
/// Allows reading messages sent before the bot looked.
pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
/// Allows `@everyone` and `@here` to notify.
pub const MENTION_EVERYONE: u64 = 1 << 17;
/// Allows emoji from other guilds.
pub const USE_EXTERNAL_EMOJIS: u64 = 1 << 18;
/// Allows viewing guild insights.
pub const VIEW_GUILD_INSIGHTS: u64 = 1 << 19;
/// Allows joining voice.
pub const CONNECT: u64 = 1 << 20;
/// Allows speaking in voice.
pub const SPEAK: u64 = 1 << 21;
/// Allows muting others in voice.
pub const MUTE_MEMBERS: u64 = 1 << 22;
/// Allows deafening others in voice.
pub const DEAFEN_MEMBERS: u64 = 1 << 23;
/// Allows moving others between voice channels.
pub const MOVE_MEMBERS: u64 = 1 << 24;
/// Allows voice activity detection.
pub const USE_VAD: u64 = 1 << 25;
/// Allows changing one's own nickname.
pub const CHANGE_NICKNAME: u64 = 1 << 26;
/// Allows changing others' nicknames.
pub const MANAGE_NICKNAMES: u64 = 1 << 27;
/// Allows managing roles below one's own.
pub const MANAGE_ROLES: u64 = 1 << 28;
/// Allows managing webhooks.
pub const MANAGE_WEBHOOKS: u64 = 1 << 29;
/// Allows managing emoji, stickers and sounds.
pub const MANAGE_GUILD_EXPRESSIONS: u64 = 1 << 30;
/// Allows using application commands.
pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
/// Allows requesting to speak on stage.
pub const REQUEST_TO_SPEAK: u64 = 1 << 32;
/// Allows managing scheduled events.
pub const MANAGE_EVENTS: u64 = 1 << 33;
/// Allows archiving, deleting and editing threads.
pub const MANAGE_THREADS: u64 = 1 << 34;
/// Allows creating public and announcement threads.
pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
/// Allows creating private threads.
pub const CREATE_PRIVATE_THREADS: u64 = 1 << 36;
/// Allows stickers from other guilds.
pub const USE_EXTERNAL_STICKERS: u64 = 1 << 37;
/// Allows posting in threads (a separate right from [`SEND_MESSAGES`]).
pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
/// Allows activities in voice.
pub const USE_EMBEDDED_ACTIVITIES: u64 = 1 << 39;
/// Allows timing members out.
pub const MODERATE_MEMBERS: u64 = 1 << 40;
/// Allows viewing creator monetization analytics.
pub const VIEW_CREATOR_MONETIZATION_ANALYTICS: u64 = 1 << 41;
/// Allows the soundboard.
pub const USE_SOUNDBOARD: u64 = 1 << 42;
/// Allows creating emoji, stickers and sounds.
pub const CREATE_GUILD_EXPRESSIONS: u64 = 1 << 43;
/// Allows creating scheduled events.
pub const CREATE_EVENTS: u64 = 1 << 44;
/// Allows sounds from other guilds.
pub const USE_EXTERNAL_SOUNDS: u64 = 1 << 45;
/// Allows voice messages.
pub const SEND_VOICE_MESSAGES: u64 = 1 << 46;
/// Allows setting a voice channel's status.
pub const SET_VOICE_CHANNEL_STATUS: u64 = 1 << 48;
/// Allows polls.
pub const SEND_POLLS: u64 = 1 << 49;
/// Allows user-installed apps to answer publicly.
pub const USE_EXTERNAL_APPS: u64 = 1 << 50;
/// Allows pinning messages.
pub const PIN_MESSAGES: u64 = 1 << 51;
/// Allows ignoring slowmode.
pub const BYPASS_SLOWMODE: u64 = 1 << 52;

/// Every bit, not just the ones named here: an administrator or the owner
/// also holds whatever Discord adds after this list was written.
pub const ALL: u64 = u64::MAX;

/// What handoff's invite link asks for: see the channel and its history,
/// post there and in the threads it opens per case, with embeds and files.
pub const NEEDED: u64 = VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS;

/// Discord's names, in bit order, for [`name`] and [`missing`].
const NAMES: [(u64, &str); 52] = [
    (CREATE_INSTANT_INVITE, "CREATE_INSTANT_INVITE"),
    (KICK_MEMBERS, "KICK_MEMBERS"),
    (BAN_MEMBERS, "BAN_MEMBERS"),
    (ADMINISTRATOR, "ADMINISTRATOR"),
    (MANAGE_CHANNELS, "MANAGE_CHANNELS"),
    (MANAGE_GUILD, "MANAGE_GUILD"),
    (ADD_REACTIONS, "ADD_REACTIONS"),
    (VIEW_AUDIT_LOG, "VIEW_AUDIT_LOG"),
    (PRIORITY_SPEAKER, "PRIORITY_SPEAKER"),
    (STREAM, "STREAM"),
    (VIEW_CHANNEL, "VIEW_CHANNEL"),
    (SEND_MESSAGES, "SEND_MESSAGES"),
    (SEND_TTS_MESSAGES, "SEND_TTS_MESSAGES"),
    (MANAGE_MESSAGES, "MANAGE_MESSAGES"),
    (EMBED_LINKS, "EMBED_LINKS"),
    (ATTACH_FILES, "ATTACH_FILES"),
    (READ_MESSAGE_HISTORY, "READ_MESSAGE_HISTORY"),
    (MENTION_EVERYONE, "MENTION_EVERYONE"),
    (USE_EXTERNAL_EMOJIS, "USE_EXTERNAL_EMOJIS"),
    (VIEW_GUILD_INSIGHTS, "VIEW_GUILD_INSIGHTS"),
    (CONNECT, "CONNECT"),
    (SPEAK, "SPEAK"),
    (MUTE_MEMBERS, "MUTE_MEMBERS"),
    (DEAFEN_MEMBERS, "DEAFEN_MEMBERS"),
    (MOVE_MEMBERS, "MOVE_MEMBERS"),
    (USE_VAD, "USE_VAD"),
    (CHANGE_NICKNAME, "CHANGE_NICKNAME"),
    (MANAGE_NICKNAMES, "MANAGE_NICKNAMES"),
    (MANAGE_ROLES, "MANAGE_ROLES"),
    (MANAGE_WEBHOOKS, "MANAGE_WEBHOOKS"),
    (MANAGE_GUILD_EXPRESSIONS, "MANAGE_GUILD_EXPRESSIONS"),
    (USE_APPLICATION_COMMANDS, "USE_APPLICATION_COMMANDS"),
    (REQUEST_TO_SPEAK, "REQUEST_TO_SPEAK"),
    (MANAGE_EVENTS, "MANAGE_EVENTS"),
    (MANAGE_THREADS, "MANAGE_THREADS"),
    (CREATE_PUBLIC_THREADS, "CREATE_PUBLIC_THREADS"),
    (CREATE_PRIVATE_THREADS, "CREATE_PRIVATE_THREADS"),
    (USE_EXTERNAL_STICKERS, "USE_EXTERNAL_STICKERS"),
    (SEND_MESSAGES_IN_THREADS, "SEND_MESSAGES_IN_THREADS"),
    (USE_EMBEDDED_ACTIVITIES, "USE_EMBEDDED_ACTIVITIES"),
    (MODERATE_MEMBERS, "MODERATE_MEMBERS"),
    (
        VIEW_CREATOR_MONETIZATION_ANALYTICS,
        "VIEW_CREATOR_MONETIZATION_ANALYTICS",
    ),
    (USE_SOUNDBOARD, "USE_SOUNDBOARD"),
    (CREATE_GUILD_EXPRESSIONS, "CREATE_GUILD_EXPRESSIONS"),
    (CREATE_EVENTS, "CREATE_EVENTS"),
    (USE_EXTERNAL_SOUNDS, "USE_EXTERNAL_SOUNDS"),
    (SEND_VOICE_MESSAGES, "SEND_VOICE_MESSAGES"),
    (SET_VOICE_CHANNEL_STATUS, "SET_VOICE_CHANNEL_STATUS"),
    (SEND_POLLS, "SEND_POLLS"),
    (USE_EXTERNAL_APPS, "USE_EXTERNAL_APPS"),
    (PIN_MESSAGES, "PIN_MESSAGES"),
    (BYPASS_SLOWMODE, "BYPASS_SLOWMODE"),
];

/// A guild role and the permissions it grants guild-wide. The role whose id
/// equals the guild's id is `@everyone`, which every member has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role's snowflake.
    pub id: String,
    /// The bits the role grants before any channel overwrite.
    pub permissions: u64,
}

/// A channel's exception to guild-wide permissions, for one role or one
/// member. A bit in neither `allow` nor `deny` is left as the roles set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overwrite {
    /// The role's or the member's snowflake.
    pub id: String,
    /// Whether `id` is a member (type 1) rather than a role (type 0); the
    /// two are applied at different steps.
    pub member: bool,
    /// Bits granted in this channel.
    pub allow: u64,
    /// Bits taken away in this channel.
    pub deny: u64,
}

/// The roles in Discord's role array (`GET /guilds/{id}/roles`, or `roles`
/// of a guild object, which may be passed whole). Entries without a usable
/// `id` or `permissions` are skipped rather than failing the whole check:
/// a doctor report with one role unknown is still worth showing.
pub fn roles_from_json(v: &Value) -> Vec<Role> {
    entries(v, "roles")
        .iter()
        .filter_map(|r| {
            Some(Role {
                id: snowflake(&r["id"])?,
                permissions: bits(&r["permissions"])?,
            })
        })
        .collect()
}

/// A channel's `permission_overwrites` (the array, or the channel object
/// holding it). Entries with a missing or unknown `type`, or garbled
/// `allow` / `deny`, are skipped.
pub fn overwrites_from_json(v: &Value) -> Vec<Overwrite> {
    entries(v, "permission_overwrites")
        .iter()
        .filter_map(|o| {
            // API v8+ sends 0 / 1; v6 sent "role" / "member".
            let member = match &o["type"] {
                Value::Number(n) => match n.as_u64()? {
                    0 => false,
                    1 => true,
                    _ => return None,
                },
                Value::String(s) if s == "role" || s == "0" => false,
                Value::String(s) if s == "member" || s == "1" => true,
                _ => return None,
            };
            Some(Overwrite {
                id: snowflake(&o["id"])?,
                member,
                allow: bits(&o["allow"])?,
                deny: bits(&o["deny"])?,
            })
        })
        .collect()
}

/// The array itself, or `v[field]` when given the object that holds it.
fn entries<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.as_array()
        .or_else(|| v.get(field).and_then(Value::as_array))
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Snowflakes are strings in the API, but a number is unambiguous too.
fn snowflake(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

/// Permission sets are decimal strings since API v8 (they outgrew 53-bit
/// JSON numbers); v6 sent numbers, so accept those as well.
fn bits(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The permissions a member has in a channel: guild-wide ones from
/// `@everyone` and `member_roles`, then the channel's overwrites in Discord's
/// order, each step beating the one before: `@everyone`'s overwrite, then all
/// of the member's role overwrites at once (so no role's deny beats another
/// role's allow), then the member's own. `owner` or [`ADMINISTRATOR`] from
/// any role gives [`ALL`], ignoring overwrites.
///
/// For a thread, pass the parent channel's overwrites. The result is the
/// explicit set; see [`implicit`] for what Discord additionally withholds.
pub fn in_channel(
    guild_id: &str,
    roles: &[Role],
    member_id: &str,
    member_roles: &[String],
    owner: bool,
    overwrites: &[Overwrite],
) -> u64 {
    if owner {
        return ALL;
    }
    let granted_by = |id: &str| {
        roles
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.permissions)
    };
    // Members' role lists leave out @everyone; a stray guild id in them would
    // only repeat what is already there.
    let mut perms = granted_by(guild_id);
    for role in member_roles {
        perms |= granted_by(role);
    }
    if perms & ADMINISTRATOR != 0 {
        return ALL;
    }

    if let Some(everyone) = overwrites.iter().find(|o| !o.member && o.id == guild_id) {
        perms &= !everyone.deny;
        perms |= everyone.allow;
    }
    let (mut allow, mut deny) = (0, 0);
    // Skipping the guild id here matters: counted again among the role
    // overwrites, @everyone's allow would undo another role's deny.
    for o in overwrites
        .iter()
        .filter(|o| !o.member && o.id != guild_id && member_roles.contains(&o.id))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    perms &= !deny;
    perms |= allow;
    if let Some(own) = overwrites.iter().find(|o| o.member && o.id == member_id) {
        perms &= !own.deny;
        perms |= own.allow;
    }
    // ADMINISTRATOR is guild-wide only; a stray bit in an overwrite must not
    // make `missing` and `implicit` treat the bot as an administrator.
    perms & !ADMINISTRATOR
}

/// `perms` (from [`in_channel`]) less what Discord withholds implicitly
/// (documented under "Implicit Permissions"): nothing at all without
/// [`VIEW_CHANNEL`], and no TTS, `@everyone`, embeds or files without the
/// right to post where the message goes, which in a thread is
/// [`SEND_MESSAGES_IN_THREADS`] rather than [`SEND_MESSAGES`]. Kept apart
/// from [`in_channel`] so a report can name the permission to switch on
/// (`SEND_MESSAGES`) rather than everything it drags along.
pub fn implicit(perms: u64, in_thread: bool) -> u64 {
    if perms & ADMINISTRATOR != 0 {
        return perms;
    }
    if perms & VIEW_CHANNEL == 0 {
        return 0;
    }
    let send = if in_thread {
        SEND_MESSAGES_IN_THREADS
    } else {
        SEND_MESSAGES
    };
    if perms & send == 0 {
        return perms & !(SEND_TTS_MESSAGES | MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES);
    }
    perms
}

/// Discord's name for a single permission bit (`"SEND_MESSAGES"`), or
/// `"UNKNOWN"` for a bit this list does not know or a value that is not a
/// single bit.
pub fn name(bit: u64) -> &'static str {
    NAMES
        .iter()
        .find(|(b, _)| *b == bit)
        .map_or("UNKNOWN", |(_, n)| n)
}

/// The names of the bits in `need` that `have` lacks, lowest bit first, for
/// a message such as "missing `SEND_MESSAGES`, `EMBED_LINKS`". [`ADMINISTRATOR`]
/// in `have` lacks nothing, as in Discord. Unnamed bits show as `"UNKNOWN"`.
pub fn missing(have: u64, need: u64) -> Vec<&'static str> {
    if have & ADMINISTRATOR != 0 {
        return Vec::new();
    }
    let lacking = need & !have;
    (0..64)
        .map(|i| 1u64 << i)
        .filter(|bit| lacking & bit != 0)
        .map(name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GUILD: &str = "100";
    const BOT: &str = "200";

    fn role(id: &str, permissions: u64) -> Role {
        Role {
            id: id.to_owned(),
            permissions,
        }
    }

    fn for_role(id: &str, allow: u64, deny: u64) -> Overwrite {
        Overwrite {
            id: id.to_owned(),
            member: false,
            allow,
            deny,
        }
    }

    fn for_member(id: &str, allow: u64, deny: u64) -> Overwrite {
        Overwrite {
            id: id.to_owned(),
            member: true,
            allow,
            deny,
        }
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    /// @everyone can view and send; "bots" adds embeds and files.
    fn guild_roles() -> Vec<Role> {
        vec![
            role(GUILD, VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY),
            role("1", EMBED_LINKS | ATTACH_FILES),
            role("2", 0),
            role("9", ADMINISTRATOR),
        ]
    }

    #[test]
    fn base_is_everyone_plus_the_members_roles() {
        let perms = in_channel(GUILD, &guild_roles(), BOT, &ids(&["1"]), false, &[]);
        assert_eq!(
            perms,
            VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | EMBED_LINKS | ATTACH_FILES
        );
        // Roles the member does not have grant nothing.
        let perms = in_channel(GUILD, &guild_roles(), BOT, &[], false, &[]);
        assert_eq!(perms, VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY);
    }

    #[test]
    fn everyone_overwrite_denies_then_allows() {
        let ow = [for_role(GUILD, CREATE_PUBLIC_THREADS, SEND_MESSAGES)];
        let perms = in_channel(GUILD, &guild_roles(), BOT, &[], false, &ow);
        assert_eq!(
            perms,
            VIEW_CHANNEL | READ_MESSAGE_HISTORY | CREATE_PUBLIC_THREADS
        );
    }

    #[test]
    fn a_role_overwrite_beats_the_everyone_overwrite() {
        let ow = [
            for_role(GUILD, 0, SEND_MESSAGES),
            for_role("2", SEND_MESSAGES, 0),
        ];
        let with = in_channel(GUILD, &guild_roles(), BOT, &ids(&["2"]), false, &ow);
        assert_ne!(with & SEND_MESSAGES, 0);
        let without = in_channel(GUILD, &guild_roles(), BOT, &[], false, &ow);
        assert_eq!(without & SEND_MESSAGES, 0);
    }

    #[test]
    fn among_roles_allow_beats_deny_whatever_the_order() {
        // The documented example: one role denies, another allows; the
        // allow wins because all role denies go first, then all allows.
        for ow in [
            [
                for_role("1", 0, SEND_MESSAGES),
                for_role("2", SEND_MESSAGES, 0),
            ],
            [
                for_role("2", SEND_MESSAGES, 0),
                for_role("1", 0, SEND_MESSAGES),
            ],
        ] {
            let perms = in_channel(GUILD, &guild_roles(), BOT, &ids(&["1", "2"]), false, &ow);
            assert_ne!(perms & SEND_MESSAGES, 0);
        }
    }

    #[test]
    fn the_everyone_overwrite_is_not_counted_again_as_a_role() {
        // If @everyone's allow were unioned with the role overwrites it would
        // undo role 1's deny.
        let ow = [
            for_role(GUILD, EMBED_LINKS, 0),
            for_role("1", 0, EMBED_LINKS),
        ];
        let roles = ids(&[GUILD, "1"]);
        let perms = in_channel(GUILD, &guild_roles(), BOT, &roles, false, &ow);
        assert_eq!(perms & EMBED_LINKS, 0);
    }

    #[test]
    fn the_member_overwrite_beats_role_overwrites() {
        let ow = [
            for_role(GUILD, SEND_MESSAGES, 0),
            for_role("1", SEND_MESSAGES, ATTACH_FILES),
            for_member(BOT, ATTACH_FILES, SEND_MESSAGES),
        ];
        let perms = in_channel(GUILD, &guild_roles(), BOT, &ids(&["1"]), false, &ow);
        assert_eq!(perms & SEND_MESSAGES, 0);
        assert_ne!(perms & ATTACH_FILES, 0);
        // Another member's overwrite does not apply.
        let perms = in_channel(GUILD, &guild_roles(), "201", &ids(&["1"]), false, &ow);
        assert_ne!(perms & SEND_MESSAGES, 0);
        assert_eq!(perms & ATTACH_FILES, 0);
    }

    #[test]
    fn a_member_overwrite_is_not_taken_for_a_role_with_the_same_id() {
        let ow = [for_member("1", 0, VIEW_CHANNEL)];
        let perms = in_channel(GUILD, &guild_roles(), BOT, &ids(&["1"]), false, &ow);
        assert_ne!(perms & VIEW_CHANNEL, 0);
    }

    #[test]
    fn administrator_ignores_overwrites() {
        let ow = [for_role(GUILD, 0, VIEW_CHANNEL), for_member(BOT, 0, ALL)];
        let perms = in_channel(GUILD, &guild_roles(), BOT, &ids(&["9"]), false, &ow);
        assert_eq!(perms, ALL);
        assert!(missing(perms, NEEDED).is_empty());
        // Administrator on @everyone counts too.
        let roles = [role(GUILD, ADMINISTRATOR)];
        assert_eq!(in_channel(GUILD, &roles, BOT, &[], false, &ow), ALL);
    }

    #[test]
    fn an_administrator_overwrite_does_not_make_an_administrator() {
        // ADMINISTRATOR is a guild-level right; allowed in an overwrite it
        // neither lifts the other overwrites nor shows in the result.
        let ow = [for_member(BOT, ADMINISTRATOR, SEND_MESSAGES)];
        let perms = in_channel(GUILD, &guild_roles(), BOT, &[], false, &ow);
        assert_eq!(perms & SEND_MESSAGES, 0);
        assert_eq!(missing(perms, SEND_MESSAGES), vec!["SEND_MESSAGES"]);
    }

    #[test]
    fn the_owner_has_everything() {
        let ow = [for_member(BOT, 0, ALL)];
        assert_eq!(in_channel(GUILD, &[], BOT, &[], true, &ow), ALL);
    }

    #[test]
    fn unknown_roles_grant_nothing() {
        let perms = in_channel(GUILD, &[], BOT, &ids(&["404"]), false, &[]);
        assert_eq!(perms, 0);
    }

    #[test]
    fn implicit_denials_follow_view_and_send() {
        let all_but_view = NEEDED & !VIEW_CHANNEL;
        assert_eq!(implicit(all_but_view, false), 0);
        let no_send = NEEDED & !SEND_MESSAGES;
        let left = implicit(no_send, false);
        assert_eq!(left & (EMBED_LINKS | ATTACH_FILES), 0);
        assert_ne!(left & SEND_MESSAGES_IN_THREADS, 0);
        // In a thread, SEND_MESSAGES_IN_THREADS is what counts.
        assert_eq!(implicit(no_send, true), no_send);
        let no_thread_send = NEEDED & !SEND_MESSAGES_IN_THREADS;
        assert_eq!(implicit(no_thread_send, true) & ATTACH_FILES, 0);
        assert_eq!(implicit(NEEDED, false), NEEDED);
        assert_eq!(implicit(ALL, true), ALL);
    }

    #[test]
    fn roles_parse_from_real_shaped_json() {
        let v = json!([
            {"id": "100", "name": "@everyone", "permissions": "1071698660929",
             "position": 0, "color": 0, "hoist": false, "managed": false,
             "mentionable": false, "flags": 0},
            {"id": "101", "name": "handoff", "permissions": "326417575936",
             "managed": true, "tags": {"bot_id": "200"}},
            {"id": "102", "permissions": 2048},
            {"id": "103", "permissions": "lots"},
            {"name": "no id", "permissions": "8"},
            {"id": "104"},
            "garbage"
        ]);
        assert_eq!(
            roles_from_json(&v),
            vec![
                role("100", 1_071_698_660_929),
                role("101", 326_417_575_936),
                role("102", SEND_MESSAGES),
            ]
        );
        // A guild object may be passed whole.
        let guild = json!({"id": "100", "roles": v});
        assert_eq!(roles_from_json(&guild).len(), 3);
        assert!(roles_from_json(&json!(null)).is_empty());
        assert!(roles_from_json(&json!({"roles": "x"})).is_empty());
    }

    #[test]
    fn permission_values_above_53_bits_parse_exactly() {
        let v = json!([{"id": "1", "permissions": "18446744073709551615"}]);
        assert_eq!(roles_from_json(&v)[0].permissions, u64::MAX);
    }

    #[test]
    fn overwrites_parse_from_real_shaped_json() {
        let channel = json!({
            "id": "300", "type": 0, "guild_id": "100", "name": "support",
            "permission_overwrites": [
                {"id": "100", "type": 0, "allow": "0", "deny": "1024"},
                {"id": "101", "type": 0, "allow": "326417591296", "deny": "0"},
                {"id": "200", "type": 1, "allow": "2048", "deny": "0"},
                {"id": "201", "type": "member", "allow": 0, "deny": 8192},
                {"id": "202", "type": 2, "allow": "0", "deny": "0"},
                {"id": "203", "allow": "0", "deny": "0"},
                {"id": "204", "type": 1, "allow": "x", "deny": "0"},
                {"type": 0, "allow": "0", "deny": "0"}
            ]
        });
        assert_eq!(
            overwrites_from_json(&channel),
            vec![
                for_role("100", 0, VIEW_CHANNEL),
                for_role("101", 326_417_591_296, 0),
                for_member("200", SEND_MESSAGES, 0),
                for_member("201", 0, MANAGE_MESSAGES),
            ]
        );
        let bare = &channel["permission_overwrites"];
        assert_eq!(overwrites_from_json(bare).len(), 4);
    }

    #[test]
    fn parsed_json_gives_the_expected_channel_permissions() {
        // The bot's role grants NEEDED guild-wide; the support channel hides
        // itself from @everyone but lets the bot's role in, and a member
        // overwrite takes away file uploads.
        let roles = roles_from_json(&json!([
            {"id": "100", "permissions": "0"},
            {"id": "101", "permissions": NEEDED.to_string()}
        ]));
        let overwrites = overwrites_from_json(&json!([
            {"id": "100", "type": 0, "allow": "0", "deny": VIEW_CHANNEL.to_string()},
            {"id": "101", "type": 0, "allow": VIEW_CHANNEL.to_string(), "deny": "0"},
            {"id": "200", "type": 1, "allow": "0", "deny": ATTACH_FILES.to_string()}
        ]));
        let have = in_channel("100", &roles, "200", &ids(&["101"]), false, &overwrites);
        assert_eq!(missing(have, NEEDED), vec!["ATTACH_FILES"]);
    }

    #[test]
    fn names_are_discords() {
        assert_eq!(name(SEND_MESSAGES), "SEND_MESSAGES");
        assert_eq!(name(ADMINISTRATOR), "ADMINISTRATOR");
        assert_eq!(name(SEND_MESSAGES_IN_THREADS), "SEND_MESSAGES_IN_THREADS");
        assert_eq!(name(BYPASS_SLOWMODE), "BYPASS_SLOWMODE");
        assert_eq!(name(1 << 47), "UNKNOWN");
        assert_eq!(name(SEND_MESSAGES | VIEW_CHANNEL), "UNKNOWN");
        assert_eq!(name(0), "UNKNOWN");
        // Each named bit is a single bit, and the table is in bit order.
        for pair in NAMES.windows(2) {
            assert!(pair[0].0 < pair[1].0);
        }
        assert!(NAMES.iter().all(|(b, _)| b.is_power_of_two()));
    }

    #[test]
    fn missing_lists_what_is_lacking_in_bit_order() {
        assert_eq!(
            missing(VIEW_CHANNEL | EMBED_LINKS, NEEDED),
            vec![
                "SEND_MESSAGES",
                "ATTACH_FILES",
                "READ_MESSAGE_HISTORY",
                "CREATE_PUBLIC_THREADS",
                "SEND_MESSAGES_IN_THREADS",
            ]
        );
        assert!(missing(NEEDED, NEEDED).is_empty());
        assert!(missing(ADMINISTRATOR, NEEDED).is_empty());
        assert!(missing(0, 0).is_empty());
        assert_eq!(missing(0, 1 << 63), vec!["UNKNOWN"]);
    }

    #[test]
    fn needed_is_what_the_invite_asks_for() {
        assert_eq!(NEEDED, 309_237_763_072);
    }
}
