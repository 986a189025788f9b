//! Slack as the team side, end to end: a web chat customer escalates, the
//! card lands in a local Slack double, agents claim with signed button
//! clicks (one wins, the other is told privately), the owner's thread
//! reply reaches the customer as plain text with a delivery receipt, a
//! retried event relays nothing twice, notes stay inside, a reaction
//! resolves, and the customer is told. Also: refused requests change
//! nothing, hostile customer text cannot ping or link, a 429 holds back one
//! card only, and Socket Mode plays the same story. On SQLite and
//! PostgreSQL.

mod common;

use common::slack::{
    self as double, BOT_TOKEN, SIGNING_SECRET, Scripted, SlackDouble, event_callback,
};
use common::story::{Running, Ws, escalating_customer, send, until, until_in};

use handoff::cases::Urgency;
use handoff::config::{AgentConfig, Config, Secret};
use handoff::routing::Route;
use handoff::store::{AuthorKind, Store};
use serde_json::{Value, json};

on_both_backends!(
    a_case_is_claimed_answered_and_resolved_from_slack,
    refused_requests_change_nothing,
    hostile_customer_text_cannot_ping_or_link,
    a_rate_limit_holds_back_one_card_only,
    socket_mode_plays_the_same_story,
    edits_files_and_failures_are_followed,
);

const CHANNEL: &str = "CSUPPORT";

fn agent(id: &str, name: &str, slack_user: &str) -> AgentConfig {
    AgentConfig {
        id: id.into(),
        name: name.into(),
        slack_user: Some(slack_user.into()),
        teams_user: None,
        inbox_login: None,
        password_hash: None,
    }
}

/// Two Slack agents (Alice has no name in config, so her Slack display
/// name is used), one route into `CSUPPORT` that mentions a user group.
fn slack_config(slack: &SlackDouble, socket_mode: bool) -> Config {
    let mut c = Config {
        agents: vec![agent("alice", "", "UALICE"), agent("bob", "Bob", "UBOB")],
        ..Config::default()
    };
    c.routing.routes = vec![Route {
        name: "support".into(),
        slack_channel: Some(CHANNEL.into()),
        teams_channel: None,
        slack_mention: Some("<!subteam^S0SUPPORT>".into()),
        teams_mention: None,
        mention_from: Some(Urgency::Low),
        when: Default::default(),
    }];
    c.slack.api_url = slack.api_url();
    c.outbox.backoff_base_ms = 50;
    c.secrets.slack_bot_token = Some(Secret::new(BOT_TOKEN));
    if socket_mode {
        c.secrets.slack_app_token = Some(Secret::new(double::APP_TOKEN));
    } else {
        c.secrets.slack_signing_secret = Some(Secret::new(SIGNING_SECRET));
    }
    c
}

async fn start<S: Store>(store: S, socket_mode: bool) -> (SlackDouble, Running) {
    start_with(store, socket_mode, |_| {}).await
}

async fn start_with<S: Store>(
    store: S,
    socket_mode: bool,
    tweak: impl FnOnce(&mut Config),
) -> (SlackDouble, Running) {
    let slack = SlackDouble::start().await;
    slack.add_user("UALICE", "Alice Liddell", "Alice Liddell");
    slack.add_user("UBOB", "bob.b", "Bob Builder");
    slack.add_user("UCAROL", "Carol", "Carol C");
    slack.set_channel(CHANNEL, "support", true);
    let mut config = slack_config(&slack, socket_mode);
    tweak(&mut config);
    let app = common::story::serve(store, config).await;
    (slack, app)
}

/// The card the bot posted in `CSUPPORT`.
async fn card<S: Store>(slack: &SlackDouble, store: &S) -> (String, String, Value) {
    let found = double::card_in(slack, CHANNEL).await;
    let posted = handoff_core::MessageRef::new(handoff_core::Platform::Slack, CHANNEL, &found.0);
    common::story::card_stored(store, &posted).await;
    found
}

/// A card button click as Slack sends it (the card's actions block id
/// names the case).
fn click(user: &str, card_ts: &str, case: &str, action: &str) -> Value {
    let mut p = double::block_action(user, user, CHANNEL, card_ts, action, case);
    p["actions"][0]["block_id"] = json!(format!("handoff:{case}"));
    p
}

/// The card once `pred` holds for it.
async fn card_when(slack: &SlackDouble, ts: &str, pred: impl Fn(&Value) -> bool) -> Value {
    common::story::eventually("the card to change", || async {
        slack.message(CHANNEL, ts).filter(|m| pred(m))
    })
    .await
}

/// The customer's next agent message (skipping notices).
async fn agent_message(ws: &mut Ws, seen: &mut Vec<Value>) -> Value {
    until_in(ws, seen, |f| f["type"] == "entry" && f["author"] == "agent")
        .await
        .0
}

async fn a_case_is_claimed_answered_and_resolved_from_slack<S: Store>(store: S) {
    let (slack, app) = start(store.clone(), false).await;
    let base = app.base.clone();
    let (mut ws, mut seen) = escalating_customer(
        &base,
        "Ada",
        "I want to talk to a real person about order 12345",
    )
    .await;
    let (card_ts, case, posted) = card(&slack, &store).await;
    let text = double::parsed_texts(&posted);
    assert!(text.starts_with("<!subteam^S0SUPPORT>"), "{text}");
    assert!(text.contains("*Ada* on webchat"), "{text}");
    until_in(&mut ws, &mut seen, |f| f["kind"] == "notice").await;

    // A follow-up reaches the card's thread, attributed to the customer.
    send(
        &mut ws,
        json!({"type": "message", "id": "m2", "text": "still there?"}),
    )
    .await;
    let follow_up = slack
        .wait_for("chat.postMessage", |c| {
            c.args["thread_ts"] == card_ts.as_str()
        })
        .await;
    assert_eq!(follow_up.args["text"], "*Ada*: still there?");

    // Two agents click Claim at once: one owns the case, the other is told.
    let (alice, bob) = (
        click("UALICE", &card_ts, &case, "handoff.claim"),
        click("UBOB", &card_ts, &case, "handoff.claim"),
    );
    let (a, b) = tokio::join!(
        double::post_interaction(&base, SIGNING_SECRET, &alice),
        double::post_interaction(&base, SIGNING_SECRET, &bob),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let told = slack.wait_for("chat.postEphemeral", |_| true).await;
    let loser = told.args["user"].as_str().unwrap().to_owned();
    let (winner, winner_name) = if loser == "UBOB" {
        ("UALICE", "Alice Liddell")
    } else {
        ("UBOB", "Bob")
    };
    assert!(
        told.args["text"]
            .as_str()
            .unwrap()
            .contains("already claimed"),
        "{told:?}"
    );
    let claimed = card_when(&slack, &card_ts, |m| {
        double::parsed_texts(m).contains(&format!("Claimed by <@{winner}>"))
    })
    .await;
    assert!(
        !double::parsed_texts(&claimed).contains("<!subteam"),
        "no mention once claimed"
    );
    let joined = until_in(&mut ws, &mut seen, |f| {
        f["kind"] == "notice" && f["text"].as_str().unwrap_or("").contains(winner_name)
    })
    .await
    .0;
    assert!(joined["text"].as_str().unwrap().contains(winner_name));

    // The owner replies in the thread; Slack markup becomes plain text.
    let reply_ts = "1700000500.000100";
    slack.add_message(CHANNEL, reply_ts, Some(&card_ts), winner, "reply");
    let reply = event_callback(
        "Ev0REPLY",
        double::thread_reply(
            CHANNEL,
            &card_ts,
            reply_ts,
            winner,
            "Hi <@UCAROL>, see <https://help.example.com/a?b=1&amp;c=2|our guide> :tada: &lt;3",
        ),
    );
    assert_eq!(
        double::post_event(&base, SIGNING_SECRET, &reply, None)
            .await
            .status(),
        200
    );
    let got = agent_message(&mut ws, &mut seen).await;
    assert_eq!(
        got["text"],
        "Hi @Carol, see our guide (https://help.example.com/a?b=1&c=2) 🎉 <3"
    );
    assert_eq!(got["name"], winner_name);
    // Slack retries the same event: nothing is relayed twice.
    assert_eq!(
        double::post_event(&base, SIGNING_SECRET, &reply, Some(1))
            .await
            .status(),
        200
    );
    double::until_reaction(&slack, CHANNEL, reply_ts, "incoming_envelope").await;

    // The loser's reply and the owner's prefixed note stay inside.
    for (ts, user, text, id) in [
        (
            "1700000500.000200",
            loser.as_str(),
            "I can help too",
            "Ev0LOSER",
        ),
        (
            "1700000500.000300",
            winner,
            "// refund approved by finance",
            "Ev0NOTE",
        ),
    ] {
        let e = event_callback(id, double::thread_reply(CHANNEL, &card_ts, ts, user, text));
        assert_eq!(
            double::post_event(&base, SIGNING_SECRET, &e, None)
                .await
                .status(),
            200
        );
    }

    // The owner resolves with a reaction on the card.
    let resolve = event_callback(
        "Ev0RESOLVE",
        double::reaction_added(winner, "white_check_mark", CHANNEL, &card_ts),
    );
    assert_eq!(
        double::post_event(&base, SIGNING_SECRET, &resolve, None)
            .await
            .status(),
        200
    );
    let (resolved, skipped) = until_in(&mut ws, &mut seen, |f| {
        f["kind"] == "notice" && f["text"].as_str().unwrap_or("").contains("resolved")
    })
    .await;
    assert!(
        !skipped.iter().any(|f| f["author"] == "agent"),
        "a note reached the customer: {skipped:#?}"
    );
    assert!(resolved["text"].is_string());
    let done = card_when(&slack, &card_ts, |m| {
        double::parsed_texts(m).contains("Resolved")
    })
    .await;
    assert!(
        !done["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"),
        "a resolved card has no buttons"
    );

    // The store holds one relayed reply and two notes.
    let case = store.case(case.parse().unwrap()).await.unwrap().unwrap();
    let agent_lines: Vec<(bool, String)> = store
        .messages(case.conversation)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.author == AuthorKind::Agent)
        .map(|m| (m.internal_note, m.body))
        .collect();
    assert_eq!(agent_lines.len(), 3, "{agent_lines:#?}");
    assert_eq!(agent_lines.iter().filter(|(note, _)| !note).count(), 1);
    app.stop().await;
}

async fn refused_requests_change_nothing<S: Store>(store: S) {
    let (slack, app) = start(store.clone(), false).await;
    let base = app.base.clone();
    let (_ws, _) = escalating_customer(&base, "Ada", "can I talk to a human").await;
    let (card_ts, case, _) = card(&slack, &store).await;
    let claim = format!(
        "payload={}",
        click("UALICE", &card_ts, &case, "handoff.claim")
    );
    let now = chrono::Utc::now().timestamp();
    let path = "/slack/interactions";
    let form = "application/x-www-form-urlencoded";
    for (secret, at, body, status) in [
        ("wrong-secret", now, claim.clone(), 401),
        (SIGNING_SECRET, now - 600, claim.clone(), 401),
        (SIGNING_SECRET, now, "payload={not json".to_owned(), 400),
        (SIGNING_SECRET, now, "nothing=here".to_owned(), 400),
    ] {
        let r = double::post_signed(&base, path, secret, at, form, body, None).await;
        assert_eq!(r.status(), status);
    }
    let unsigned = reqwest::Client::new()
        .post(format!("http://{base}/slack/events"))
        .body(
            event_callback(
                "Ev1",
                double::reaction_added("UALICE", "eyes", CHANNEL, &card_ts),
            )
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let events = double::post_signed(
        &base,
        "/slack/events",
        SIGNING_SECRET,
        now,
        "application/json",
        "{".into(),
        None,
    )
    .await;
    assert_eq!(events.status(), 400);
    // The handshake is answered.
    let challenge = double::post_event(
        &base,
        SIGNING_SECRET,
        &json!({"type": "url_verification", "challenge": "c4ll"}),
        None,
    )
    .await;
    assert_eq!(
        challenge.json::<Value>().await.unwrap()["challenge"],
        "c4ll"
    );

    // A stranger's click does nothing but tell them why.
    let stranger = double::post_interaction(
        &base,
        SIGNING_SECRET,
        &click("UCAROL", &card_ts, &case, "handoff.claim"),
    )
    .await;
    assert_eq!(stranger.status(), 200);
    let told = slack
        .wait_for("chat.postEphemeral", |c| c.args["user"] == "UCAROL")
        .await;
    assert!(
        told.args["text"]
            .as_str()
            .unwrap()
            .contains("not set up as a handoff agent")
    );
    let case = store.case(case.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(case.state, handoff::cases::CaseState::Open);
    assert!(
        slack.calls_to("chat.update").is_empty(),
        "the card never changed"
    );
    app.stop().await;
}

async fn hostile_customer_text_cannot_ping_or_link<S: Store>(store: S) {
    // The widget takes 20,000 characters here, so Slack's limits are what
    // the 10 kB message meets.
    let (slack, app) = start_with(store.clone(), false, |c| {
        c.webchat.max_message_chars = 20_000
    })
    .await;
    let base = app.base.clone();
    let hostile = "<!channel> <@UALICE> <https://evil.example|Your bank> & {{agent}}";
    let (mut ws, _) = escalating_customer(&base, hostile, &format!("human please {hostile}")).await;
    let (card_ts, _, posted) = card(&slack, &store).await;
    let text = double::parsed_texts(&posted);
    for forbidden in ["<!channel>", "<@UALICE>", "<https://evil"] {
        assert!(!text.contains(forbidden), "{forbidden} in {text}");
    }
    assert!(text.contains("&lt;!channel&gt;"));
    let long = format!("{hostile} {}", "x".repeat(10_000));
    send(
        &mut ws,
        json!({"type": "message", "id": "m2", "text": long}),
    )
    .await;
    until(&mut ws, |f| f["id"] == "m2").await;
    let post = slack
        .wait_for("chat.postMessage", |c| {
            c.args["thread_ts"] == card_ts.as_str()
        })
        .await;
    let t = post.args["text"].as_str().unwrap();
    assert!(t.chars().count() <= 4000, "{}", t.len());
    for forbidden in ["<!channel>", "<@UALICE>", "<https://evil"] {
        assert!(!t.contains(forbidden), "{forbidden} in {t}");
    }
    assert_eq!(post.answer, "ok");
    app.stop().await;
}

async fn a_rate_limit_holds_back_one_card_only<S: Store>(store: S) {
    let slack = SlackDouble::start().await;
    slack.set_channel(CHANNEL, "support", true);
    slack.script(
        "chat.postMessage",
        Some(CHANNEL),
        Scripted::RateLimited {
            retry_after_secs: 2,
        },
    );
    let app = common::story::serve(store, slack_config(&slack, false)).await;
    escalating_customer(&app.base, "Ada", "can I talk to a human").await;
    slack
        .wait_for("chat.postMessage", |c| c.answer == "ratelimited")
        .await;
    // Another case's card is not held up by the first one's Retry-After.
    escalating_customer(&app.base, "Bo", "let me speak to a person").await;
    let posts = || slack.calls_to("chat.postMessage");
    let customer = |c: &double::Call| c.args["text"].as_str().unwrap_or("").to_owned();
    common::story::eventually("both cards to be posted", || async {
        (posts().iter().filter(|c| c.answer == "ok").count() == 2).then_some(())
    })
    .await;
    let order: Vec<(String, String)> = posts()
        .iter()
        .map(|c| (customer(c), c.answer.clone()))
        .collect();
    assert!(
        order[0].0.contains("Ada") && order[0].1 == "ratelimited",
        "{order:#?}"
    );
    assert!(
        order[1].0.contains("Bo") && order[1].1 == "ok",
        "{order:#?}"
    );
    assert!(
        order[2].0.contains("Ada") && order[2].1 == "ok",
        "{order:#?}"
    );
    app.stop().await;
}

async fn socket_mode_plays_the_same_story<S: Store>(store: S) {
    let (slack, app) = start(store.clone(), true).await;
    let (mut ws, mut seen) = escalating_customer(&app.base, "Ada", "I need a real person").await;
    let (card_ts, case, _) = card(&slack, &store).await;
    let ack = slack
        .socket_send(
            "interactive",
            click("UALICE", &card_ts, &case, "handoff.claim"),
        )
        .await;
    assert!(ack["envelope_id"].is_string());
    card_when(&slack, &card_ts, |m| {
        double::parsed_texts(m).contains("Claimed by <@UALICE>")
    })
    .await;
    let reply_ts = "1700000600.000100";
    slack.add_message(CHANNEL, reply_ts, Some(&card_ts), "UALICE", "x");
    let reply = event_callback(
        "Ev0SOCKET",
        double::thread_reply(CHANNEL, &card_ts, reply_ts, "UALICE", "Hello from Slack"),
    );
    slack.socket_send("events_api", reply.clone()).await;
    // Slack redelivers an envelope it thinks was lost: relayed once.
    slack.socket_send("events_api", reply).await;
    let got = agent_message(&mut ws, &mut seen).await;
    assert_eq!(got["text"], "Hello from Slack");
    slack
        .socket_send(
            "events_api",
            event_callback(
                "Ev0DONE",
                double::reaction_added("UALICE", "white_check_mark", CHANNEL, &card_ts),
            ),
        )
        .await;
    let (_, skipped) = until_in(&mut ws, &mut seen, |f| {
        f["kind"] == "notice" && f["text"].as_str().unwrap_or("").contains("resolved")
    })
    .await;
    assert!(
        !skipped.iter().any(|f| f["author"] == "agent"),
        "{skipped:#?}"
    );
    app.stop().await;
}

async fn edits_files_and_failures_are_followed<S: Store>(store: S) {
    let (slack, app) = start(store.clone(), false).await;
    let base = app.base.clone();
    let (mut ws, mut seen) = escalating_customer(&base, "Ada", "talk to a person please").await;
    let (card_ts, _, _) = card(&slack, &store).await;
    // Replying in the thread of an unclaimed case claims it.
    let ts = "1700000700.000100";
    slack.add_message(CHANNEL, ts, Some(&card_ts), "UBOB", "x");
    let reply = event_callback(
        "Ev0B1",
        double::thread_reply(CHANNEL, &card_ts, ts, "UBOB", "Refund is on its way"),
    );
    double::post_event(&base, SIGNING_SECRET, &reply, None).await;
    assert_eq!(
        agent_message(&mut ws, &mut seen).await["text"],
        "Refund is on its way"
    );
    card_when(&slack, &card_ts, |m| {
        double::parsed_texts(m).contains("Claimed by <@UBOB>")
    })
    .await;

    // An edit reaches the customer as a correction; a delete as a retraction.
    let edit = event_callback(
        "Ev0B2",
        double::message_changed(
            CHANNEL,
            ts,
            &card_ts,
            "UBOB",
            "Refund is on its way (3-5 days)",
            "Refund is on its way",
        ),
    );
    double::post_event(&base, SIGNING_SECRET, &edit, None).await;
    assert_eq!(
        agent_message(&mut ws, &mut seen).await["text"],
        "Correction from Bob: Refund is on its way (3-5 days)"
    );
    let delete = event_callback(
        "Ev0B3",
        double::message_deleted(CHANNEL, ts, &card_ts, "UBOB", "x"),
    );
    double::post_event(&base, SIGNING_SECRET, &delete, None).await;
    assert!(
        agent_message(&mut ws, &mut seen).await["text"]
            .as_str()
            .unwrap()
            .contains("withdrew")
    );

    // A private Slack file is not sent; the agent is told in the thread.
    let file = event_callback(
        "Ev0B4",
        double::file_share_reply(
            CHANNEL,
            &card_ts,
            "1700000700.000400",
            "UBOB",
            "here you go",
            "invoice.pdf",
            None,
        ),
    );
    double::post_event(&base, SIGNING_SECRET, &file, None).await;
    let note = double::thread_post(&slack, &card_ts, "invoice.pdf").await;
    assert!(
        note.args["text"]
            .as_str()
            .unwrap()
            .contains("The customer cannot open files shared here")
    );
    let got = agent_message(&mut ws, &mut seen).await;
    assert_eq!(got["text"], "here you go");

    app.stop().await;
}
