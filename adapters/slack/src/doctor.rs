//! `handoff doctor` for Slack: is the token good, does the app have the
//! scopes it needs, is the bot in every channel cards go to, and can events
//! reach handoff. Each finding says what to fix.

use serde_json::Value;

use crate::SlackSettings;
use crate::api::{ApiError, SlackApi};

/// The bot scopes `slack/manifest.yml` asks for, and why.
pub const REQUIRED_SCOPES: [(&str, &str); 8] = [
    ("chat:write", "post and edit cards and thread messages"),
    ("reactions:write", "mark agent replies delivered"),
    ("reactions:read", "claim or resolve by reacting to a card"),
    ("users:read", "show agents' display names to customers"),
    ("channels:history", "hear thread replies in public channels"),
    ("groups:history", "hear thread replies in private channels"),
    ("channels:read", "check the bot is in public channels"),
    ("groups:read", "check the bot is in private channels"),
];

pub use handoff_core::doctor::Finding;

/// Runs every check against the workspace; `channels` are the routes'
/// Slack channels.
pub async fn check(settings: &SlackSettings, api: &SlackApi, channels: &[String]) -> Vec<Finding> {
    let mut findings = Vec::new();
    match api.whoami().await {
        Ok(me) => findings.push(Finding::good(format!(
            "The bot token works: @{} in {}.",
            me["user"].as_str().unwrap_or("?"),
            me["team"].as_str().unwrap_or("?")
        ))),
        Err(e) => {
            findings.push(Finding::bad(
                format!("auth.test failed: {e}."),
                "Set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (OAuth & Permissions, starts with xoxb-).",
            ));
            return findings;
        }
    }
    findings.push(match granted_scopes(settings).await {
        Ok(granted) => {
            let missing: Vec<String> = REQUIRED_SCOPES
                .iter()
                .filter(|(s, _)| !granted.iter().any(|g| g == s))
                .map(|(s, why)| format!("{s} ({why})"))
                .collect();
            if missing.is_empty() {
                Finding::good("The app has every scope handoff needs.".to_owned())
            } else {
                Finding::bad(
                    format!("The app lacks scopes: {}.", missing.join(", ")),
                    "Add them under OAuth & Permissions (or recreate the app from slack/manifest.yml), then reinstall the app to the workspace.",
                )
            }
        }
        Err(e) => Finding::bad(
            format!("Could not read the token's scopes: {e}."),
            "Check that Slack's API URL is reachable from this machine.",
        ),
    });
    for channel in channels {
        findings.push(channel_finding(
            channel,
            api.get("conversations.info", &[("channel", channel)]).await,
        ));
    }
    findings.push(
        match (&settings.signing_secret, &settings.app_token) {
            (None, None) => Finding::bad(
                "Neither SLACK_SIGNING_SECRET nor SLACK_APP_TOKEN is set: cards are posted, but no click, reaction or reply can reach handoff.".to_owned(),
                "Set SLACK_SIGNING_SECRET (Basic Information > Signing Secret) for the Events API, or SLACK_APP_TOKEN (an app-level token with connections:write) for Socket Mode.",
            ),
            (_, Some(_)) => match api.socket_url().await {
                Ok(_) => Finding::good("Socket Mode can connect (SLACK_APP_TOKEN works).".to_owned()),
                Err(e) => Finding::bad(
                    format!("Socket Mode cannot connect: {e}."),
                    "Turn on Socket Mode for the app and set SLACK_APP_TOKEN to an app-level token with the connections:write scope.",
                ),
            },
            (Some(_), None) => Finding::good("SLACK_SIGNING_SECRET is set: Slack's requests to /slack/events and /slack/interactions are checked.".to_owned()),
        },
    );
    findings
}

fn channel_finding(channel: &str, answer: Result<Value, ApiError>) -> Finding {
    match answer {
        Ok(info) => {
            let name = info["channel"]["name"].as_str().unwrap_or(channel);
            if info["channel"]["is_member"] == true {
                Finding::good(format!("The bot is in #{name} ({channel})."))
            } else {
                Finding::bad(
                    format!(
                        "The bot is not in #{name} ({channel}): cards for that route would fail."
                    ),
                    format!("In #{name}, type /invite @handoff (or the app's name)."),
                )
            }
        }
        Err(ApiError::Refused { code, .. }) if code == "channel_not_found" => Finding::bad(
            format!("No channel {channel} is visible to the bot."),
            "Use the channel's ID (in Slack: channel name > About > Channel ID, like C0123ABCD) in the route's slack_channel; for a private channel, invite the bot first.",
        ),
        Err(e) => Finding::bad(
            format!("Could not check channel {channel}: {e}."),
            "See the error above; `missing_scope` means the app needs channels:read and groups:read.",
        ),
    }
}

/// The scopes Slack lists for the bot token in `auth.test`'s
/// `x-oauth-scopes` header (the client library does not expose headers).
async fn granted_scopes(settings: &SlackSettings) -> Result<Vec<String>, String> {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/auth.test",
            settings.api_url.trim_end_matches('/')
        ))
        .bearer_auth(&settings.bot_token)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let header = response
        .headers()
        .get("x-oauth-scopes")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(header
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

/// The app manifest (`slack/manifest.yml`).
const MANIFEST: &str = include_str!("../../../slack/manifest.yml");

/// The address the shipped manifest uses for handoff.
const EXAMPLE_URL: &str = "https://handoff.example.com";

/// The app manifest with handoff's address filled in; with `socket_mode`,
/// for a handoff without a public URL (no request URLs, Socket Mode on).
pub fn manifest(public_url: &str, socket_mode: bool) -> String {
    let text = MANIFEST.replace(EXAMPLE_URL, public_url.trim_end_matches('/'));
    if !socket_mode {
        return text;
    }
    text.lines()
        .filter(|l| !l.trim_start().starts_with("request_url:"))
        .map(|l| l.replace("socket_mode_enabled: false", "socket_mode_enabled: true"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_asks_for_exactly_the_scopes_doctor_checks() {
        let scopes: Vec<&str> = MANIFEST
            .lines()
            .map(str::trim)
            .filter_map(|l| l.strip_prefix("- "))
            .map(|l| l.split_whitespace().next().unwrap_or_default())
            .filter(|l| l.contains(':'))
            .collect();
        let required: Vec<&str> = REQUIRED_SCOPES.iter().map(|(s, _)| *s).collect();
        assert_eq!(scopes, required);
    }

    #[test]
    fn the_manifest_names_handoffs_address_or_socket_mode() {
        let http = manifest("https://help.acme.test/", false);
        assert!(http.contains("request_url: https://help.acme.test/slack/events"));
        assert!(http.contains("request_url: https://help.acme.test/slack/interactions"));
        let socket = manifest("https://help.acme.test", true);
        assert!(!socket.contains("request_url"));
        assert!(socket.contains("socket_mode_enabled: true"));
        assert!(socket.contains("- message.channels"));
    }
}
