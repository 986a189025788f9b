//! The whole story on the embedded default, through the real HTTP and
//! websocket interfaces: a web chat customer escalates, two agents race to
//! claim in the inbox, the loser's reply stays a note, the owner's reply
//! reaches the customer, a reconnect replays history once, and resolve
//! tells the customer. On SQLite and PostgreSQL.

mod common;

use common::story::{Agent, Running, connect, send, until, until_in};

use futures::SinkExt;
use handoff::store::Store;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

on_both_backends!(
    a_customer_is_escalated_claimed_answered_and_resolved,
    bad_input_changes_nothing,
    transcripts_ratings_and_intent_corrections,
    each_trigger_kind_escalates_from_the_widget,
);

async fn start<S: Store>(store: S) -> Running {
    common::story::serve(store, common::story::team_config()).await
}

async fn a_customer_is_escalated_claimed_answered_and_resolved<S: Store>(store: S) {
    let app = start(store.clone()).await;
    let base = app.base.clone();

    // The customer starts a chat and asks twice; the second asks for a person.
    let mut ws = connect(&base, json!({"type": "hello", "name": "Ada <script>"})).await;
    let mut seen = Vec::new();
    let (welcome, _) = until_in(&mut ws, &mut seen, |f| f["type"] == "welcome").await;
    let token = welcome["token"]
        .as_str()
        .expect("a new session gets a token")
        .to_owned();
    send(
        &mut ws,
        json!({"type": "message", "id": "m1", "text": "Hi, order 88123 never arrived"}),
    )
    .await;
    let (ack1, _) = until_in(&mut ws, &mut seen, |f| f["type"] == "ack").await;
    send(
        &mut ws,
        json!({"type": "message", "id": "m2", "text": "can I talk to a real person please"}),
    )
    .await;
    let (ack2, _) = until_in(&mut ws, &mut seen, |f| {
        f["type"] == "ack" && f["id"] == "m2"
    })
    .await;
    // A resend after a lost ack is acknowledged with the same position.
    send(
        &mut ws,
        json!({"type": "message", "id": "m2", "text": "can I talk to a real person please"}),
    )
    .await;
    let (again, _) = until_in(&mut ws, &mut seen, |f| {
        f["type"] == "ack" && f["id"] == "m2"
    })
    .await;
    assert_eq!(again["seq"], ack2["seq"]);
    assert!(ack2["seq"].as_i64() > ack1["seq"].as_i64());

    let (escalating, _) = until_in(&mut ws, &mut seen, |f| {
        f["type"] == "entry" && f["kind"] == "notice"
    })
    .await;
    assert!(
        escalating["text"]
            .as_str()
            .unwrap()
            .starts_with("As you asked")
    );

    // Two agents see the card and race to claim it.
    let alice = Agent::sign_in(&base, "alice").await;
    let bob = Agent::sign_in(&base, "bob").await;
    let cards = alice.cards_when(|c| c.len() == 1).await;
    let card = &cards[0]["card"];
    let case = card["case"].as_str().unwrap().to_owned();
    assert_eq!(card["state"], "open");
    assert_eq!(
        card["customer"], "Ada <script>",
        "kept as data; the page sets it as text"
    );
    assert_eq!(card["reasons"][0]["reason"], "human_request");
    assert_eq!(card["facts"][0], "order 88123");
    let claim = json!({"action": "claim"});
    let path = format!("/inbox/api/cases/{case}/action");
    let (a, b) = tokio::join!(alice.post(&path, claim.clone()), bob.post(&path, claim));
    assert_eq!(
        (a, b),
        (reqwest::StatusCode::ACCEPTED, reqwest::StatusCode::ACCEPTED)
    );
    let cards = alice
        .cards_when(|c| c[0]["card"]["state"] == "claimed")
        .await;
    let owner = cards[0]["card"]["owner"].as_str().unwrap().to_owned();
    let (winner, loser, winner_name) = if owner == "alice" {
        (&alice, &bob, "Alice")
    } else {
        (&bob, &alice, "Bob")
    };
    let (joined, _) = until_in(&mut ws, &mut seen, |f| {
        f["type"] == "entry" && f["kind"] == "notice"
    })
    .await;
    assert_eq!(
        joined["text"],
        format!("{winner_name} from our team has joined the conversation.")
    );
    // The loser was told who won, privately.
    let case_id: handoff_core::CaseId = case.parse().unwrap();
    let told = store.case_outbox(case_id).await.unwrap();
    let loser_login = if owner == "alice" { "bob" } else { "alice" };
    assert!(told.iter().any(|r| matches!(&r.item.command,
        handoff_core::OutboundCommand::Ephemeral { user, content, .. }
            if user == loser_login && content.text == format!("{winner_name} already claimed this case."))));

    // The loser's reply is an internal note; the owner's reaches the customer.
    let reply = format!("/inbox/api/cases/{case}/reply");
    assert_eq!(
        loser
            .post(&reply, json!({"text": "psst, VIP customer"}))
            .await,
        202
    );
    assert_eq!(
        winner
            .post(&reply, json!({"text": "Your parcel left the depot today."}))
            .await,
        202
    );
    let (answer, skipped) = until_in(&mut ws, &mut seen, |f| {
        f["type"] == "entry" && f["author"] == "agent"
    })
    .await;
    assert_eq!(answer["text"], "Your parcel left the depot today.");
    assert_eq!(answer["name"], winner_name);
    assert!(
        !skipped.iter().any(|f| f.to_string().contains("psst")),
        "a note leaked: {skipped:?}"
    );

    // A reconnect with the token replays the whole conversation once.
    drop(ws);
    let mut ws = connect(
        &base,
        json!({"type": "hello", "token": token, "last_seq": 0}),
    )
    .await;
    let mut seen = Vec::new();
    let (welcome, _) = until_in(&mut ws, &mut seen, |f| f["type"] == "welcome").await;
    assert!(welcome.get("token").is_none(), "resumed, not a new session");
    let (_, history) = until_in(&mut ws, &mut seen, |f| {
        f["type"] == "entry" && f["author"] == "agent"
    })
    .await;
    let texts: Vec<&str> = history.iter().filter_map(|f| f["text"].as_str()).collect();
    assert_eq!(
        texts.iter().filter(|t| t.contains("real person")).count(),
        1,
        "{texts:?}"
    );
    assert!(!texts.iter().any(|t| t.contains("psst")));

    // Resolve: the customer is told, the card says so, the note is marked.
    assert_eq!(winner.post(&path, json!({"action": "resolve"})).await, 202);
    until_in(&mut ws, &mut seen, |f| {
        f["kind"] == "notice"
            && f["text"]
                .as_str()
                .is_some_and(|t| t.contains("marked as resolved"))
    })
    .await;
    alice
        .cards_when(|c| c[0]["card"]["state"] == "resolved")
        .await;
    let transcript = alice
        .get(&format!("/inbox/api/cases/{case}/transcript"))
        .await;
    let lines = transcript.as_array().unwrap();
    let note = lines
        .iter()
        .find(|l| l["text"] == "psst, VIP customer")
        .unwrap();
    assert_eq!(note["internal"], true);
    let sent = lines
        .iter()
        .find(|l| l["text"] == "Your parcel left the depot today.")
        .unwrap();
    assert_eq!(
        (sent["internal"].clone(), sent["delivered"].clone()),
        (json!(false), json!(true))
    );

    app.shutdown.cancel();
    app.server.await.unwrap();
}

async fn bad_input_changes_nothing<S: Store>(store: S) {
    let app = start(store.clone()).await;
    let base = app.base.clone();
    let mut ws = connect(&base, json!({"type": "hello"})).await;
    until(&mut ws, |f| f["type"] == "welcome").await;
    // Too long, empty, malformed: refused with a reason, nothing stored.
    let long = "x".repeat(4001);
    send(
        &mut ws,
        json!({"type": "message", "id": "big", "text": long}),
    )
    .await;
    let (e, _) = until(&mut ws, |f| f["type"] == "error").await;
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("too_large"), json!("big"))
    );
    send(
        &mut ws,
        json!({"type": "message", "id": "blank", "text": "   "}),
    )
    .await;
    let (e, _) = until(&mut ws, |f| f["type"] == "error").await;
    assert_eq!(e["code"], "too_large");
    ws.send(Message::Text("{not json".into())).await.unwrap();
    let (e, _) = until(&mut ws, |f| f["type"] == "error").await;
    assert_eq!(e["code"], "bad_frame");
    // A forged identity is refused and the visitor stays a guest.
    let mut forged = connect(
        &base,
        json!({"type": "hello", "identity": {"user_id": "ceo", "expires": 4102444800i64, "sig": "00"}}),
    )
    .await;
    let (e, _) = until(&mut forged, |f| f["type"] == "error").await;
    assert_eq!(e["code"], "identity_rejected");
    let (w, _) = until(&mut forged, |f| f["type"] == "welcome").await;
    assert_eq!(w["verified"], false);
    // The connection still works after the refusals.
    send(&mut ws, json!({"type": "ping"})).await;
    until(&mut ws, |f| f["type"] == "pong").await;
    assert!(store.pending_inbound(10).await.unwrap().is_empty());

    // The inbox refuses strangers, wrong passwords and cross-site posts.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("http://{base}/inbox/api/cards"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("http://{base}/inbox/login"))
        .header("x-handoff-inbox", "1")
        .json(&json!({"login": "alice", "password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Guessing is cut off per login (and answered as slowly for unknown
    // logins as for real ones); other agents can still sign in.
    let mut statuses = Vec::new();
    for password in std::iter::repeat_n("guess", 10).chain(["correct horse"]) {
        let r = http
            .post(format!("http://{base}/inbox/login"))
            .header("x-handoff-inbox", "1")
            .json(&json!({"login": "bob", "password": password}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10], 429, "even the right password waits");
    let alice = Agent::sign_in(&base, "alice").await;
    let r = http
        .post(format!(
            "http://{base}/inbox/api/cases/{}/action",
            uuid::Uuid::nil()
        ))
        .header("cookie", &alice.cookie)
        .json(&json!({"action": "claim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no X-Handoff-Inbox header");
    assert_eq!(
        alice
            .post(
                "/inbox/api/cases/not-a-case/action",
                json!({"action": "claim"})
            )
            .await,
        404
    );
    assert!(store.pending_inbound(10).await.unwrap().is_empty());

    app.shutdown.cancel();
    app.server.await.unwrap();
}

/// `path?query` of an absolute URL (cards carry `public_url`, not the
/// test server's port).
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

async fn transcripts_ratings_and_intent_corrections<S: Store>(store: S) {
    let app = start(store.clone()).await;
    let base = app.base.clone();
    let http = reqwest::Client::new();
    let mut ws = connect(&base, json!({"type": "hello", "name": "Eve"})).await;
    let mut seen = Vec::new();
    until_in(&mut ws, &mut seen, |f| f["type"] == "welcome").await;
    send(
        &mut ws,
        json!({"type": "message", "id": "m1",
               "text": "<script>alert(1)</script> my card 4242 4242 4242 4242 was charged twice"}),
    )
    .await;
    send(
        &mut ws,
        json!({"type": "message", "id": "m2", "text": "I want to speak to a human"}),
    )
    .await;
    let alice = Agent::sign_in(&base, "alice").await;
    let cards = alice.cards_when(|c| c.len() == 1).await;
    let card = cards[0]["card"].clone();
    let case = card["case"].as_str().unwrap().to_owned();
    let case_id: handoff_core::CaseId = case.parse().unwrap();

    // The card's transcript link opens the redacted, escaped conversation.
    let link = path_of(card["transcript_url"].as_str().expect("a transcript link"));
    assert!(link.starts_with(&format!("/t/{case}?exp=")), "{link}");
    let page = http
        .get(format!("http://{base}{link}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "customer text became markup");
    assert!(
        !html.contains("4242 4242 4242 4242"),
        "a card number leaked"
    );
    assert!(html.contains("4242"), "the last four stay: {html}");

    // Tampered, expired, unsigned and unknown links are refused.
    let tampered = link.replace("sig=", "sig=00");
    let expired = {
        let key = store.setting("transcript_key", "unused").await.unwrap();
        let past = handoff::transcript::TranscriptLinks::new(
            key.clone(),
            "http://x",
            chrono::Duration::hours(-1),
        );
        let other =
            handoff::transcript::TranscriptLinks::new(key, "http://x", chrono::Duration::hours(1));
        (
            path_of(&past.link(case_id, chrono::Utc::now())),
            path_of(&other.link(handoff_core::CaseId::new(), chrono::Utc::now())),
        )
    };
    for (path, status) in [
        (tampered, 403),
        (expired.0, 410),
        (format!("/t/{case}"), 403),
        (expired.1, 404),
        ("/t/not-a-case?exp=1&sig=00".to_owned(), 404),
    ] {
        let r = http
            .get(format!("http://{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("Transcript unavailable") && !body.contains("alert(1)"),
            "{path}: {body}"
        );
    }

    // The agent corrects the intent; an unknown intent is refused.
    let action = format!("/inbox/api/cases/{case}/action");
    assert_eq!(
        alice
            .post(
                &action,
                json!({"action": "correct_intent", "intent": "no_such"})
            )
            .await,
        400
    );
    let detected = card["intent"].as_str().map(str::to_owned);
    let fixed = if detected.as_deref() == Some("refund") {
        "billing"
    } else {
        "refund"
    };
    assert_eq!(
        alice
            .post(
                &action,
                json!({"action": "correct_intent", "intent": fixed})
            )
            .await,
        202
    );
    let cards = alice.cards_when(|c| c[0]["card"]["intent"] == fixed).await;
    assert_eq!(
        cards[0]["card"]["detected_intent"]
            .as_str()
            .map(str::to_owned),
        detected
    );

    // Resolve: the customer is asked to rate, rates once (a bad score is
    // refused and changes nothing), and the card and metrics show it.
    assert_eq!(alice.post(&action, json!({"action": "claim"})).await, 202);
    assert_eq!(alice.post(&action, json!({"action": "resolve"})).await, 202);
    let (question, _) = until_in(&mut ws, &mut seen, |f| f["kind"] == "csat").await;
    assert!(
        question["text"]
            .as_str()
            .unwrap()
            .starts_with("How did we do?")
    );
    send(&mut ws, json!({"type": "rate", "id": "r0", "score": 9})).await;
    let (e, _) = until_in(&mut ws, &mut seen, |f| f["type"] == "error").await;
    assert_eq!(
        (e["code"].clone(), e["id"].clone()),
        (json!("bad_frame"), json!("r0"))
    );
    send(&mut ws, json!({"type": "rate", "id": "r1", "score": 4})).await;
    until_in(&mut ws, &mut seen, |f| {
        f["type"] == "ack" && f["id"] == "r1"
    })
    .await;
    let (rating, _) = until_in(&mut ws, &mut seen, |f| f["kind"] == "rating").await;
    assert_eq!(rating["text"], "4");
    let cards = alice.cards_when(|c| c[0]["card"]["csat"] == 4).await;
    assert_eq!(cards[0]["card"]["state"], "resolved");
    let metrics = http
        .get(format!("http://{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "handoff_csat_ratings{window=\"7d\",score=\"4\"} 1",
        "handoff_intent_corrections{window=\"7d\"} 1",
        "handoff_cases_opened{window=\"7d\",reason=\"human_request\"} 1",
        "handoff_time_to_claim_seconds_count{window=\"7d\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }

    app.shutdown.cancel();
    app.server.await.unwrap();
}

/// Each kind of trigger a web chat conversation can fire, end to end: the
/// card arrives in the inbox with the reason. (The unanswered-message timer
/// is driven by hand in tests/engine.rs; VIP, low-confidence and bot-turn
/// rules need data the web chat does not carry.)
async fn each_trigger_kind_escalates_from_the_widget<S: Store>(store: S) {
    let app = start(store.clone()).await;
    let base = app.base.clone();
    let stories: [(&str, &[&str], &str); 4] = [
        (
            "Hana",
            &["hello", "can I speak to a human please"],
            "human_request",
        ),
        (
            "Sam",
            &["my account was hacked and I think this is fraud"],
            "sensitive_topic",
        ),
        (
            "Neg",
            &[
                "this is absolutely terrible, the worst service I have ever had, I am furious",
                "useless. completely useless and awful",
            ],
            "negative_sentiment",
        ),
        (
            "Rep",
            &[
                "my parcel tracking page shows an error",
                "my parcel tracking page shows an error",
                "my parcel tracking page shows an error",
            ],
            "repeated_failure",
        ),
    ];
    let mut sockets = Vec::new();
    for (name, lines, _) in &stories {
        let mut ws = connect(&base, json!({"type": "hello", "name": name})).await;
        until(&mut ws, |f| f["type"] == "welcome").await;
        for (i, text) in lines.iter().enumerate() {
            let id = format!("{name}-{i}");
            send(&mut ws, json!({"type": "message", "id": id, "text": text})).await;
            until(&mut ws, |f| f["type"] == "ack" && f["id"] == id.as_str()).await;
        }
        sockets.push(ws);
    }
    let alice = Agent::sign_in(&base, "alice").await;
    let cards = alice.cards_when(|c| c.len() == stories.len()).await;
    for (name, _, reason) in &stories {
        let card = cards
            .iter()
            .map(|c| &c["card"])
            .find(|c| c["customer"] == *name)
            .unwrap_or_else(|| panic!("no card for {name}: {cards:#?}"));
        let reasons: Vec<&str> = card["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["reason"].as_str())
            .collect();
        assert!(reasons.contains(reason), "{name}: {reasons:?}");
    }
    app.shutdown.cancel();
    app.server.await.unwrap();
}
