//! Microsoft Teams as the team side, end to end, against a local Bot
//! Framework double: a web chat customer escalates, the Adaptive Card
//! starts a thread in the route's channel (at the service URL handoff
//! learned from Teams, not the configured fallback), two agents press
//! Claim at once (one wins; the other's answer shows who owns it), the
//! owner's reply in the thread reaches the customer as plain text with a
//! receipt, notes stay inside, edits and deletions follow, and Resolve
//! closes the case. Also: every kind of bad token is refused with nothing
//! stored, keys are fetched again for an unknown key id, 429 and 503 go
//! through the outbox, and the outgoing token is cached. On SQLite and
//! PostgreSQL.

mod common;

use common::story::{Running, Ws, escalating_customer, eventually, send, until_in};
use common::teams::{
    self as double, APP_ID, APP_PASSWORD, Answer, CHANNEL, Member, TeamsDouble, member,
    post_activity,
};

use handoff::cases::Urgency;
use handoff::config::{AgentConfig, Config, Secret};
use handoff::routing::Route;
use handoff::store::Store;
use handoff_core::Platform;
use serde_json::{Value, json};

on_both_backends!(
    a_case_is_claimed_answered_and_resolved_from_teams,
    bad_tokens_are_refused_and_nothing_is_stored,
    rate_limits_and_outages_go_through_the_outbox,
);

/// The route's mention: a tag id and its name.
const MENTION: &str = "tag-support|Support team";

fn agent(id: &str, name: &str, aad: &str) -> AgentConfig {
    AgentConfig {
        id: id.into(),
        name: name.into(),
        slack_user: None,
        teams_user: Some(aad.into()),
        inbox_login: None,
        password_hash: None,
    }
}

/// Alice and Bob work in Teams; one route sends cards to the double's
/// channel and mentions the support tag. The configured service URL leads
/// nowhere: cards only arrive once handoff has learned the real one.
fn teams_config(teams: &TeamsDouble) -> Config {
    let mut c = Config {
        agents: vec![
            agent("alice", "Alice", "aad-alice"),
            agent("bob", "Bob", "aad-bob"),
        ],
        ..Config::default()
    };
    c.routing.routes = vec![Route {
        name: "support".into(),
        slack_channel: None,
        teams_channel: Some(CHANNEL.into()),
        slack_mention: None,
        teams_mention: Some(MENTION.into()),
        mention_from: Some(Urgency::Low),
        when: Default::default(),
    }];
    c.teams.openid_url = teams.openid_url();
    c.teams.token_url = teams.token_url();
    c.teams.service_url = "http://127.0.0.1:9/nowhere/".into();
    c.teams.tenants = vec![double::TENANT.into()];
    c.outbox.backoff_base_ms = 50;
    c.secrets.teams_app_id = Some(APP_ID.into());
    c.secrets.teams_app_password = Some(Secret::new(APP_PASSWORD));
    c
}

async fn start<S: Store>(store: S) -> (TeamsDouble, Running, String) {
    let teams = TeamsDouble::start().await;
    let app = common::story::serve(store, teams_config(&teams)).await;
    let base = format!("http://{}", app.base);
    // Installing the app is how handoff learns where Teams wants replies.
    let install = double::bot_installed(&teams.service_url(), double::TEAM_ID);
    let (status, _) = post_activity(&base, &install, Some(&teams.bearer_for(&install))).await;
    assert_eq!(status, 200);
    (teams, app, base)
}

/// Posts `activity` signed for real; returns the status and the answer.
async fn post(teams: &TeamsDouble, base: &str, activity: &Value) -> (u16, Value) {
    post_activity(base, activity, Some(&teams.bearer_for(activity))).await
}

/// The card's thread (`CHANNEL;messageid=ROOT`), its root id and the
/// Adaptive Card as first posted.
async fn card(teams: &TeamsDouble) -> (String, String, Value) {
    let thread = teams
        .until("a card thread", |t| t.threads(CHANNEL).into_iter().next())
        .await;
    let root = thread.rsplit_once(";messageid=").unwrap().1.to_owned();
    let activity = teams.activity(&root).unwrap();
    let card = activity["attachments"][0]["content"].clone();
    (thread, root, card)
}

/// Every text, fact and title in a card, backslash escapes removed.
fn card_text(card: &Value) -> String {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for key in ["text", "value", "title"] {
                    if let Some(Value::String(t)) = m.get(key) {
                        out.push(t.clone());
                    }
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(card, &mut out);
    out.join("\n").replace('\\', "")
}

/// The card as Teams now shows it to everyone.
async fn card_when(teams: &TeamsDouble, root: &str, pred: impl Fn(&str) -> bool) -> Value {
    eventually("the card to change", || async {
        let card = teams.activity(root)?["attachments"][0]["content"].clone();
        pred(&card_text(&card)).then_some(card)
    })
    .await
}

/// The bot's posts in the thread after the card (the double keeps only
/// what the bot posted).
fn bot_posts(teams: &TeamsDouble, thread: &str) -> Vec<Value> {
    teams.thread(thread).into_iter().skip(1).collect()
}

async fn agent_message(ws: &mut Ws, seen: &mut Vec<Value>) -> Value {
    until_in(ws, seen, |f| f["type"] == "entry" && f["author"] == "agent")
        .await
        .0
}

/// A card on the double: where it is, for pressing its buttons.
struct Card<'a> {
    teams: &'a TeamsDouble,
    base: &'a str,
    thread: &'a str,
    root: &'a str,
    case: &'a str,
}

impl Card<'_> {
    /// `who` presses the button `verb` (with the inputs `more`); returns
    /// the status and the invoke answer.
    async fn press(&self, who: &Member, verb: &str, more: Value) -> (u16, Value) {
        let mut data = json!({"case": self.case});
        if let (Some(d), Some(m)) = (data.as_object_mut(), more.as_object()) {
            d.extend(m.clone());
        }
        let activity = double::invoke_action(
            &self.teams.service_url(),
            self.thread,
            who,
            self.root,
            verb,
            data,
        );
        post(self.teams, self.base, &activity).await
    }
}

fn case_of(card: &Value) -> String {
    card["actions"][0]["data"]["case"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_case_is_claimed_answered_and_resolved_from_teams<S: Store>(store: S) {
    let (teams, app, base) = start(store.clone()).await;
    let (mut ws, mut seen) = escalating_customer(
        &app.base,
        "Ada [admin](https://evil.example) <at>General</at>",
        "I want to talk to a real person about order 12345",
    )
    .await;
    let (thread, root, posted) = card(&teams).await;
    let create = teams
        .calls()
        .into_iter()
        .find(|c| c.method == "POST" && c.path.ends_with("/v3/conversations"))
        .unwrap();
    assert!(
        create.path.starts_with("/amer/"),
        "posted to the learned service URL: {}",
        create.path
    );
    assert_eq!(create.body["channelData"]["channel"]["id"], CHANNEL);
    let text = card_text(&posted);
    assert!(text.contains("<at>Support team</at>"), "{text}");
    assert_eq!(
        posted["msteams"]["entities"][0]["mentioned"]["id"],
        "tag-support"
    );
    // The customer's name is shown, never made into a link or a mention.
    let raw = posted.to_string();
    assert!(!raw.contains("[admin](https://evil"), "{raw}");
    assert!(!raw.contains("<at>General</at>"), "{raw}");
    assert!(text.contains("Ada [admin](https://evil.example) <at>General</at>"));
    assert_eq!(posted["version"], "1.5");
    let case = case_of(&posted);
    until_in(&mut ws, &mut seen, |f| f["kind"] == "notice").await;

    // A follow-up reaches the card's thread as plain text.
    send(
        &mut ws,
        json!({"type": "message", "id": "m2", "text": "still there? **hello**"}),
    )
    .await;
    let follow_up = eventually("the follow-up in the thread", || async {
        bot_posts(&teams, &thread).into_iter().find(|a| {
            a["text"]
                .as_str()
                .is_some_and(|t| t.contains("still there"))
        })
    })
    .await;
    assert_eq!(follow_up["textFormat"], "plain");
    assert!(
        follow_up["text"]
            .as_str()
            .unwrap()
            .ends_with(": still there? **hello**")
    );

    // Two agents press Claim at once: one owns the case, the other's
    // answer shows who does.
    let (alice, bob) = (member("Alice", "aad-alice"), member("Bob", "aad-bob"));
    let on_card = Card {
        teams: &teams,
        base: &base,
        thread: &thread,
        root: &root,
        case: &case,
    };
    let (a, b) = tokio::join!(
        on_card.press(&alice, "claim", json!({})),
        on_card.press(&bob, "claim", json!({})),
    );
    assert_eq!((a.0, b.0), (200, 200));
    for (_, answer) in [&a, &b] {
        assert_eq!(answer["statusCode"], 200);
        assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    }
    let (a_text, b_text) = (card_text(&a.1["value"]), card_text(&b.1["value"]));
    let (winner, winner_name, loser, loser_text) = if a_text.contains("already claimed") {
        (&bob, "Bob", &alice, a_text)
    } else {
        (&alice, "Alice", &bob, b_text)
    };
    assert!(
        loser_text.contains(&format!("{winner_name} already claimed this case")),
        "{loser_text}"
    );
    assert!(loser_text.contains(&format!("Claimed by {winner_name}")));
    card_when(&teams, &root, |t| {
        t.contains(&format!("Claimed by {winner_name}")) && !t.contains("<at>Support team</at>")
    })
    .await;
    let joined = until_in(&mut ws, &mut seen, |f| {
        f["kind"] == "notice" && f["text"].as_str().unwrap_or("").contains(winner_name)
    })
    .await
    .0;
    assert!(joined["text"].as_str().unwrap().contains(winner_name));

    // The owner replies; Teams' HTML reaches the customer as plain text,
    // the bot's mention gone and the link's address shown.
    let reply = double::thread_message(
        &teams.service_url(),
        &thread,
        winner,
        "<div><at>handoff</at> Hi <b>Ada</b>, see <a href=\"https://help.example.com/a?b=1&amp;c=2\">our guide</a><br>thanks &lt;3</div>",
    );
    assert_eq!(post(&teams, &base, &reply).await.0, 200);
    let got = agent_message(&mut ws, &mut seen).await;
    assert_eq!(
        got["text"],
        "Hi Ada, see our guide (https://help.example.com/a?b=1&c=2)\nthanks <3"
    );
    assert_eq!(got["name"], winner_name);
    // Teams sends it again: nothing is relayed twice.
    assert_eq!(post(&teams, &base, &reply).await.0, 200);
    let receipt = eventually("the delivery receipt", || async {
        bot_posts(&teams, &thread)
            .into_iter()
            .find(|a| a["text"] == "✓ Delivered to the customer.")
    })
    .await;
    assert_eq!(receipt["replyToId"], reply["id"]);

    // The loser's reply and the owner's prefixed note stay inside.
    for (who, html) in [
        (loser, "<p>I can help too</p>"),
        (winner, "<p>// refund approved by finance</p>"),
    ] {
        let note = double::thread_message(&teams.service_url(), &thread, who, html);
        assert_eq!(post(&teams, &base, &note).await.0, 200);
    }
    // An edit of the relayed reply reaches the customer as a correction;
    // a deletion asks them to disregard it.
    let edit = double::edited_message(
        &teams.service_url(),
        &thread,
        winner,
        reply["id"].as_str().unwrap(),
        "<p>Hi Ada, see the guide</p>",
    );
    assert_eq!(post(&teams, &base, &edit).await.0, 200);
    let correction = agent_message(&mut ws, &mut seen).await;
    assert!(
        correction["text"]
            .as_str()
            .unwrap()
            .contains("Hi Ada, see the guide"),
        "{correction}"
    );
    let delete = double::deleted_message(
        &teams.service_url(),
        &thread,
        winner,
        reply["id"].as_str().unwrap(),
    );
    assert_eq!(post(&teams, &base, &delete).await.0, 200);
    let withdrawn = agent_message(&mut ws, &mut seen).await;
    assert!(
        withdrawn["text"].as_str().unwrap().contains("disregard"),
        "{withdrawn}"
    );

    // Chatter in another thread of the channel is not handoff's business:
    // it is answered and not kept.
    let elsewhere = double::thread_message(
        &teams.service_url(),
        &format!("{CHANNEL};messageid=1699999999999"),
        winner,
        "<p>lunch at noon?</p>",
    );
    assert_eq!(post(&teams, &base, &elsewhere).await.0, 200);
    assert_eq!(
        store
            .inbound_progress(Platform::Teams, elsewhere["id"].as_str().unwrap())
            .await
            .unwrap(),
        None
    );

    // A file alone cannot go to the customer; the agent is told why.
    let mut file = double::thread_message(&teams.service_url(), &thread, winner, "");
    file["attachments"] = json!([{
        "contentType": "application/vnd.microsoft.teams.file.download.info",
        "contentUrl": "https://contoso.sharepoint.com/sites/support/Shared%20Documents/invoice.pdf",
        "name": "invoice.pdf",
        "content": {"downloadUrl": "https://contoso.sharepoint.com/download.aspx?tempauth=x", "uniqueId": "1", "fileType": "pdf"},
    }]);
    file["text"] = json!("");
    assert_eq!(post(&teams, &base, &file).await.0, 200);
    let note = eventually("the withheld-file note", || async {
        bot_posts(&teams, &thread).into_iter().find(|a| {
            a["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Not sent to the customer: invoice.pdf"))
        })
    })
    .await;
    assert_eq!(note["textFormat"], "plain");

    // Someone who is not an agent is told so on the card, and nothing
    // changes; the owner hands the case to the other agent from the list.
    let carol = member("Carol", "aad-carol");
    let (status, answer) = on_card.press(&carol, "release", json!({})).await;
    assert_eq!(status, 200);
    // Told in words; a stranger is not shown the case.
    assert_eq!(answer["type"], "application/vnd.microsoft.activity.message");
    assert!(
        answer["value"]
            .as_str()
            .unwrap()
            .contains("You are not set up as a handoff agent"),
        "{answer}"
    );
    // A button with data that makes no sense gets Teams' error answer.
    let (status, answer) = on_card.press(winner, "reassign", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["statusCode"], 400);
    assert_eq!(answer["type"], "application/vnd.microsoft.error");
    let loser_id = if winner_name == "Alice" {
        "bob"
    } else {
        "alice"
    };
    let loser_name = if winner_name == "Alice" {
        "Bob"
    } else {
        "Alice"
    };
    let (status, answer) = on_card
        .press(winner, "reassign", json!({"to": loser_id}))
        .await;
    assert_eq!(status, 200);
    assert!(
        card_text(&answer["value"]).contains(&format!("Claimed by {loser_name}")),
        "{answer}"
    );
    let winner = loser;

    // Resolve from the card.
    let (status, answer) = on_card.press(winner, "resolve", json!({})).await;
    assert_eq!(status, 200);
    let resolved = card_text(&answer["value"]);
    assert!(resolved.contains("✅ Resolved"), "{resolved}");
    assert!(
        answer["value"]["actions"]
            .as_array()
            .is_none_or(|a| a.iter().all(|x| x["type"] == "Action.OpenUrl"))
    );
    until_in(&mut ws, &mut seen, |f| {
        f["kind"] == "notice" && f["text"].as_str().unwrap_or("").contains("resolved")
    })
    .await;
    card_when(&teams, &root, |t| t.contains("✅ Resolved")).await;

    // Nothing internal ever reached the customer: the next agent messages
    // after the notes were the correction and the withdrawal, and nothing
    // else an agent wrote is among what the widget showed.
    let agents: Vec<String> = seen
        .iter()
        .chain([&got, &correction, &withdrawn])
        .filter(|f| f["type"] == "entry" && f["author"] == "agent")
        .filter_map(|f| f["text"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !agents
            .iter()
            .any(|t| t.contains("I can help too") || t.contains("finance")),
        "{agents:?}"
    );
    assert_eq!(
        agents.iter().filter(|t| t.contains("our guide")).count(),
        1,
        "relayed once: {agents:?}"
    );
    // Every connector call carried a token from the token endpoint, and
    // one token served them all.
    assert!(
        teams.calls().iter().all(|c| c.status < 400),
        "{:?}",
        teams.calls()
    );
    assert_eq!(teams.token_requests(), 1);
    app.stop().await;
}

async fn bad_tokens_are_refused_and_nothing_is_stored<S: Store>(store: S) {
    let (teams, app, base) = start(store.clone()).await;
    let who = member("Alice", "aad-alice");
    let thread = format!("{CHANNEL};messageid=1700000000001");
    let activity = double::thread_message(&teams.service_url(), &thread, &who, "<p>hi</p>");
    let claims = TeamsDouble::claims_for(&activity);
    // A key published after start-up is fetched when a token names it
    // (a rotation), without storing what it signed twice.
    let fetches = teams.jwks_fetches();
    teams.add_key("kid-rotated", &["msteams"]);
    let (status, _) = post_activity(
        &base,
        &activity,
        Some(&format!("Bearer {}", teams.sign("kid-rotated", &claims))),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(teams.jwks_fetches(), fetches + 1);
    // From here on, each refused request must leave nothing behind.
    let activity = double::thread_message(&teams.service_url(), &thread, &who, "<p>hi again</p>");
    let claims = TeamsDouble::claims_for(&activity);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        c
    };
    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("not a bearer token", Some("Basic dXNlcjpwYXNz".into())),
        (
            "wrong audience",
            Some(teams.sign(
                double::TEAMS_KID,
                &with(&|c| c["aud"] = json!("someone-else")),
            )),
        ),
        (
            "wrong issuer",
            Some(teams.sign(
                double::TEAMS_KID,
                &with(&|c| c["iss"] = json!("https://sts.windows.net/evil/")),
            )),
        ),
        (
            "expired",
            Some(teams.sign(
                double::TEAMS_KID,
                &with(&|c| {
                    c["exp"] = json!(now - 3600);
                    c["nbf"] = json!(now - 7200);
                }),
            )),
        ),
        ("unknown kid", Some(teams.sign_unpublished(&claims))),
        (
            "key not endorsed for msteams",
            Some(teams.sign(double::WEBCHAT_KID, &claims)),
        ),
        (
            "serviceurl mismatch",
            Some(teams.sign(
                double::TEAMS_KID,
                &with(&|c| c["serviceurl"] = json!("https://evil.example/amer/")),
            )),
        ),
        ("HS256", Some(TeamsDouble::hs256(&claims, APP_PASSWORD))),
    ];
    for (what, token) in cases {
        let header = token.map(|t| {
            if t.starts_with("Basic ") {
                t
            } else {
                format!("Bearer {t}")
            }
        });
        let (status, body) = post_activity(&base, &activity, header.as_deref()).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(
            store
                .inbound_progress(Platform::Teams, activity["id"].as_str().unwrap())
                .await
                .unwrap(),
            None,
            "{what}: nothing stored"
        );
    }
    // A token that names the service URL of a forged activity is refused
    // too: the activity, not the token, is what changed.
    let mut forged = activity.clone();
    forged["serviceUrl"] = json!("https://evil.example/amer/");
    let (status, _) = post_activity(&base, &forged, Some(&teams.bearer_for(&activity))).await;
    assert_eq!(status, 401);
    // A real token from a tenant handoff does not serve is refused too.
    let mut stranger = activity.clone();
    stranger["channelData"]["tenant"]["id"] = json!("0badbad0-0000-0000-0000-000000000000");
    stranger["conversation"]["tenantId"] = json!("0badbad0-0000-0000-0000-000000000000");
    let (status, body) = post_activity(&base, &stranger, Some(&teams.bearer_for(&stranger))).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!("unauthorized"), "the reason stays in the log");
    // Malformed bodies are refused before anything else.
    let (status, _) = post_activity(
        &base,
        &json!("not an activity"),
        Some(&teams.bearer_for(&activity)),
    )
    .await;
    assert!(status == 400 || status == 401, "{status}");
    app.stop().await;
}

async fn rate_limits_and_outages_go_through_the_outbox<S: Store>(store: S) {
    let (teams, app, _base) = start(store.clone()).await;
    teams.script(
        "/v3/conversations",
        &[
            Answer::RateLimited {
                retry_after_secs: 1,
            },
            Answer::Status(503),
        ],
    );
    let (mut ws, _seen) = escalating_customer(&app.base, "Ada", "I need a human please").await;
    let (thread, _, card) = card(&teams).await;
    assert!(card_text(&card).contains("Ada"));
    let creates: Vec<u16> = teams
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/v3/conversations"))
        .map(|c| c.status)
        .collect();
    assert_eq!(creates, [429, 503, 201], "waited out, then posted once");
    assert_eq!(teams.threads(CHANNEL).len(), 1);
    assert_eq!(teams.token_requests(), 1);

    // A token Teams stops accepting early (401) is dropped and a new one
    // fetched; the follow-up still arrives, once.
    teams.expire_tokens();
    send(
        &mut ws,
        json!({"type": "message", "id": "m2", "text": "hello?"}),
    )
    .await;
    eventually("the follow-up after a new token", || async {
        bot_posts(&teams, &thread)
            .into_iter()
            .find(|a| a["text"].as_str().is_some_and(|t| t.ends_with(": hello?")))
    })
    .await;
    assert_eq!(teams.token_requests(), 2);
    let follow_ups = bot_posts(&teams, &thread)
        .iter()
        .filter(|a| a["text"].as_str().is_some_and(|t| t.ends_with(": hello?")))
        .count();
    assert_eq!(follow_ups, 1);
    app.stop().await;
}
