//! Routing: which team channel a case goes to.
//!
//! Ordered rules (`[[routing.routes]]`), first match wins, falling back to
//! the default route. A route names a channel per team-chat platform and
//! who to mention for urgent cases. Pure: the engine hands in what it knows
//! of the case.

use handoff_core::Platform;
use serde::{Deserialize, Serialize};

use crate::cases::Urgency;

/// `[routing]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The route used when no rule matches.
    pub default: String,
    /// A customer's case within this many days names its agent on the new
    /// card ("previous agent"); 0 turns this off.
    pub previous_agent_days: u32,
    /// The routes, tried in order.
    pub routes: Vec<Route>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            default: "support".to_owned(),
            previous_agent_days: 30,
            routes: Vec::new(),
        }
    }
}

/// One route: where its cases go and when it applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The route's name (the inbox queue, and what metrics count by).
    pub name: String,
    /// Slack channel id (`C…`) for its cards.
    #[serde(default)]
    pub slack_channel: Option<String>,
    /// Teams channel id (`19:…@thread.tacv2`) for its cards.
    #[serde(default)]
    pub teams_channel: Option<String>,
    /// Who to mention on urgent cases, in Slack markup (`<!subteam^S123>`,
    /// `<@U123>`, `<!here>`).
    #[serde(default)]
    pub slack_mention: Option<String>,
    /// Who to mention on urgent cases in Teams (a display name).
    #[serde(default)]
    pub teams_mention: Option<String>,
    /// Urgency at which the mention is added (default urgent).
    #[serde(default)]
    pub mention_from: Option<Urgency>,
    /// When the route applies; every condition given must hold.
    #[serde(default, rename = "when")]
    pub when: RouteMatch,
}

/// A route's conditions. An empty list matches anything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteMatch {
    /// The case's intent is one of these.
    pub intents: Vec<String>,
    /// The case is at least this urgent.
    pub min_urgency: Option<Urgency>,
    /// One of the escalation reasons is one of these.
    pub reasons: Vec<String>,
    /// The customer is (or is not) a VIP.
    pub vip: Option<bool>,
    /// The customer wrote on one of these platforms (`webchat`, `discord`).
    pub sources: Vec<String>,
    /// The conversation's language is one of these (ISO 639-1 codes).
    pub languages: Vec<String>,
}

/// What routing knows about a case.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    /// Detected intent.
    pub intent: Option<&'a str>,
    /// The case's urgency.
    pub urgency: Urgency,
    /// Every escalation reason.
    pub reasons: &'a [String],
    /// VIP customer.
    pub vip: bool,
    /// The customer's platform.
    pub source: Platform,
    /// The conversation's language, if known.
    pub language: Option<&'a str>,
}

/// Where a card goes on one team-side platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The platform.
    pub platform: Platform,
    /// Its channel (for the inbox: the route's name, its queue).
    pub channel: String,
    /// The mention for this case, if its urgency calls for one.
    pub mention: Option<String>,
}

/// A route name problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {problem}")]
pub struct RouteError {
    /// The dotted key.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl RoutingConfig {
    /// Checks names, intents and sources against what exists.
    pub fn validate(&self, intents: &[String]) -> Result<(), RouteError> {
        let err = |key: String, problem: String| Err(RouteError { key, problem });
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            if r.name.trim().is_empty() {
                return err(
                    format!("routing.routes[{i}].name"),
                    "must not be empty".into(),
                );
            }
            if !names.insert(r.name.as_str()) {
                return err(
                    format!("routing.routes[{i}].name"),
                    format!("repeats the route {:?}", r.name),
                );
            }
            for (j, intent) in r.when.intents.iter().enumerate() {
                if !intents.contains(intent) {
                    return err(
                        format!("routing.routes[{i}].when.intents[{j}]"),
                        format!(
                            "names the unknown intent {intent:?} (known: {})",
                            intents.join(", ")
                        ),
                    );
                }
            }
            for (j, source) in r.when.sources.iter().enumerate() {
                if source.parse::<Platform>().is_err() {
                    return err(
                        format!("routing.routes[{i}].when.sources[{j}]"),
                        format!("names the unknown platform {source:?}"),
                    );
                }
            }
        }
        if self.default.trim().is_empty() {
            return err("routing.default".into(), "must name a route".into());
        }
        Ok(())
    }

    /// Whether `name` is a route: a configured one or the default.
    pub fn knows(&self, name: &str) -> bool {
        self.default == name || self.routes.iter().any(|r| r.name == name)
    }

    /// The route called `name` (the default is inbox-only unless it is
    /// configured).
    pub fn named(&self, name: &str) -> Route {
        self.routes
            .iter()
            .find(|r| r.name == name)
            .cloned()
            .unwrap_or_else(|| Route::inbox_only(name))
    }

    /// The route for a case: the first matching rule, else the default
    /// (a configured route of that name, or a bare inbox-only route).
    pub fn route(&self, input: &RouteInput<'_>) -> Route {
        self.routes
            .iter()
            .find(|r| r.name != self.default && r.when.matches(input))
            .or_else(|| self.routes.iter().find(|r| r.name == self.default))
            .cloned()
            .unwrap_or_else(|| Route::inbox_only(&self.default))
    }
}

impl RouteMatch {
    fn matches(&self, c: &RouteInput<'_>) -> bool {
        (self.intents.is_empty()
            || c.intent
                .is_some_and(|i| self.intents.iter().any(|x| x == i)))
            && self.min_urgency.is_none_or(|u| c.urgency >= u)
            && (self.reasons.is_empty() || c.reasons.iter().any(|r| self.reasons.contains(r)))
            && self.vip.is_none_or(|v| v == c.vip)
            && (self.sources.is_empty() || self.sources.iter().any(|s| s == c.source.as_str()))
            && (self.languages.is_empty()
                || c.language
                    .is_some_and(|l| self.languages.iter().any(|x| x.eq_ignore_ascii_case(l))))
    }
}

impl Route {
    /// A route with no team-chat channel: its cards go to the inbox.
    pub fn inbox_only(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            slack_channel: None,
            teams_channel: None,
            slack_mention: None,
            teams_mention: None,
            mention_from: None,
            when: RouteMatch::default(),
        }
    }

    /// Where this route's card for a case of `urgency` goes: Slack when it
    /// has a Slack channel, else Teams, else the built-in inbox.
    pub fn target(&self, urgency: Urgency) -> Target {
        let mention_due = urgency >= self.mention_from.unwrap_or(Urgency::Urgent);
        let pick = |m: &Option<String>| m.clone().filter(|_| mention_due);
        if let Some(channel) = &self.slack_channel {
            return Target {
                platform: Platform::Slack,
                channel: channel.clone(),
                mention: pick(&self.slack_mention),
            };
        }
        if let Some(channel) = &self.teams_channel {
            return Target {
                platform: Platform::Teams,
                channel: channel.clone(),
                mention: pick(&self.teams_mention),
            };
        }
        Target {
            platform: Platform::Inbox,
            channel: self.name.clone(),
            mention: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RoutingConfig {
        toml::from_str(
            r#"
default = "support"
[[routes]]
name = "vip"
slack_channel = "CVIP"
slack_mention = "<!subteam^S1>"
mention_from = "high"
when = { vip = true }
[[routes]]
name = "billing"
teams_channel = "19:billing@thread.tacv2"
when = { intents = ["billing", "refund"] }
[[routes]]
name = "es"
when = { languages = ["es"], sources = ["discord"] }
[[routes]]
name = "support"
slack_channel = "CSUP"
"#,
        )
        .unwrap()
    }

    fn input<'a>(
        intent: Option<&'a str>,
        vip: bool,
        source: Platform,
        language: Option<&'a str>,
        urgency: Urgency,
    ) -> RouteInput<'a> {
        RouteInput {
            intent,
            urgency,
            reasons: &[],
            vip,
            source,
            language,
        }
    }

    #[test]
    fn first_matching_route_wins_and_default_catches_the_rest() {
        let c = config();
        assert_eq!(
            c.route(&input(
                Some("refund"),
                true,
                Platform::Webchat,
                None,
                Urgency::Normal
            ))
            .name,
            "vip"
        );
        assert_eq!(
            c.route(&input(
                Some("refund"),
                false,
                Platform::Webchat,
                None,
                Urgency::Normal
            ))
            .name,
            "billing"
        );
        assert_eq!(
            c.route(&input(
                Some("general"),
                false,
                Platform::Discord,
                Some("es"),
                Urgency::Normal
            ))
            .name,
            "es"
        );
        assert_eq!(
            c.route(&input(
                Some("general"),
                false,
                Platform::Webchat,
                Some("es"),
                Urgency::Normal
            ))
            .name,
            "support"
        );
        assert_eq!(
            RoutingConfig::default()
                .route(&input(None, false, Platform::Webchat, None, Urgency::Low))
                .name,
            "support"
        );
    }

    #[test]
    fn targets_and_mentions_follow_urgency() {
        let c = config();
        let vip = c.route(&input(None, true, Platform::Webchat, None, Urgency::High));
        assert_eq!(
            vip.target(Urgency::Normal),
            Target {
                platform: Platform::Slack,
                channel: "CVIP".into(),
                mention: None
            }
        );
        assert_eq!(
            vip.target(Urgency::High).mention.as_deref(),
            Some("<!subteam^S1>")
        );
        let billing = c.route(&input(
            Some("billing"),
            false,
            Platform::Webchat,
            None,
            Urgency::Normal,
        ));
        assert_eq!(billing.target(Urgency::Urgent).platform, Platform::Teams);
        let es = c.route(&input(
            None,
            false,
            Platform::Discord,
            Some("es"),
            Urgency::Normal,
        ));
        assert_eq!(
            es.target(Urgency::Urgent),
            Target {
                platform: Platform::Inbox,
                channel: "es".into(),
                mention: None
            }
        );
    }

    #[test]
    fn validation_names_the_bad_key() {
        let mut c = config();
        c.routes[1].when.intents.push("warranty".into());
        let names: Vec<String> = ["billing", "refund"].map(String::from).to_vec();
        let e = c.validate(&names).unwrap_err();
        assert_eq!(e.key, "routing.routes[1].when.intents[2]");
        let mut c = config();
        c.routes[2].when.sources = vec!["fax".into()];
        assert_eq!(
            c.validate(&names).unwrap_err().key,
            "routing.routes[2].when.sources[0]"
        );
    }
}
