//! `handoff doctor` for Discord: does the token work, is the Message
//! Content intent on, and may the bot do what it must in each support
//! channel. Each finding says what to fix. Also the invite URL.

use handoff_core::doctor::Finding;
use serde_json::Value;

use crate::api::DiscordApi;
use crate::permissions;

/// The application flags that say the Message Content intent is on
/// (GATEWAY_MESSAGE_CONTENT, or its limited form for bots in fewer than
/// 100 servers).
const MESSAGE_CONTENT_FLAGS: u64 = (1 << 18) | (1 << 19);

/// The URL that adds the bot to a server with exactly the permissions
/// handoff needs.
pub fn invite_url(application_id: &str) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application_id}&scope=bot&permissions={}",
        permissions::NEEDED
    )
}

/// The application's id, from the token.
pub async fn application_id(api: &DiscordApi) -> Result<String, crate::api::ApiError> {
    let app = api.get("/applications/@me").await?;
    Ok(app["id"].as_str().unwrap_or_default().to_owned())
}

/// Runs every check; `support` are the configured support channels.
pub async fn check(api: &DiscordApi, support: &[String]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let me = match api.get("/users/@me").await {
        Ok(me) => {
            findings.push(Finding::good(format!(
                "The Discord token works: the bot is {}.",
                me["username"].as_str().unwrap_or("?")
            )));
            me
        }
        Err(e) => {
            findings.push(Finding::bad(
                format!("The Discord token does not work: {e}."),
                "Copy the token from the developer portal's Bot page into DISCORD_TOKEN.",
            ));
            return findings;
        }
    };
    findings.push(match api.get("/applications/@me").await {
        Ok(app) if app["flags"].as_u64().unwrap_or(0) & MESSAGE_CONTENT_FLAGS != 0 => {
            Finding::good("The Message Content intent is on.".to_owned())
        }
        Ok(_) => Finding::bad(
            "The Message Content intent is off: messages in support channels arrive without their text.".to_owned(),
            "Developer portal -> your application -> Bot -> Privileged Gateway Intents: switch on Message Content Intent.",
        ),
        Err(e) => Finding::bad(
            format!("Could not read the application: {e}."),
            "Check the token belongs to a bot application.",
        ),
    });
    let bot = me["id"].as_str().unwrap_or_default();
    for channel in support {
        findings.push(channel_finding(api, bot, channel).await);
    }
    findings
}

async fn channel_finding(api: &DiscordApi, bot: &str, channel: &str) -> Finding {
    let info = match api.get(&format!("/channels/{channel}")).await {
        Ok(info) => info,
        Err(e) => {
            return Finding::bad(
                format!("Support channel {channel} cannot be seen: {e}."),
                "Invite the bot with `handoff discord-invite` and check the channel id in [discord] support_channels.",
            );
        }
    };
    let name = info["name"].as_str().unwrap_or(channel);
    if !matches!(info["type"].as_u64(), Some(0 | 5 | 15)) {
        return Finding::bad(
            format!("Support channel #{name} ({channel}) is not a text or forum channel."),
            "List only text or forum channels in [discord] support_channels.",
        );
    }
    let guild = info["guild_id"].as_str().unwrap_or_default();
    let (roles, member, guild_info) = match (
        api.get(&format!("/guilds/{guild}/roles")).await,
        api.get(&format!("/guilds/{guild}/members/{bot}")).await,
        api.get(&format!("/guilds/{guild}")).await,
    ) {
        (Ok(r), Ok(m), g) => (r, m, g.unwrap_or(Value::Null)),
        (Err(e), _, _) | (_, Err(e), _) => {
            return Finding::bad(
                format!("Could not read the bot's roles for #{name}: {e}."),
                "Invite the bot with `handoff discord-invite`.",
            );
        }
    };
    let member_roles: Vec<String> = member["roles"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(ToOwned::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let have = permissions::in_channel(
        guild,
        &permissions::roles_from_json(&roles),
        bot,
        &member_roles,
        guild_info["owner_id"].as_str() == Some(bot),
        &permissions::overwrites_from_json(&info["permission_overwrites"]),
    );
    let missing = permissions::missing(have, permissions::NEEDED);
    if missing.is_empty() {
        Finding::good(format!("The bot has every permission it needs in #{name}."))
    } else {
        Finding::bad(
            format!(
                "In #{name} ({channel}) the bot lacks {}.",
                missing.join(", ")
            ),
            "Server Settings -> Roles (or the channel's Permissions): allow these for the bot's role.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invite_asks_for_exactly_the_needed_permissions() {
        let url = invite_url("123");
        assert!(url.contains("client_id=123"));
        assert!(url.contains(&format!("permissions={}", permissions::NEEDED)));
        assert!(url.contains("scope=bot"));
    }
}
