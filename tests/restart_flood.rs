//! Two whole stories through the real HTTP and websocket interfaces, on
//! SQLite and PostgreSQL: a restart in the middle of a claimed conversation
//! loses nothing and repeats nothing, and a visitor flooding the web chat is
//! refused without harming anyone else.

mod common;

use common::story::{Agent, PATIENCE, Running, eventually, inbox_agent};

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use futures::{SinkExt, StreamExt};
use handoff::config::{Config, WebchatConfig};
use handoff::store::{PgStore, SqliteStore, Store};
use handoff_core::{
    CaseId, ConversationId, CustomerIdentity, CustomerMessage, InboundEvent, InboundKind,
    OutboundCommand, Platform,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

on_both_backends!(
    a_restart_mid_conversation_loses_and_repeats_nothing,
    flooding_is_refused_without_harming_anyone_else,
);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A backend the restart story can open twice: a fresh database, then a
/// second, independent connection to the same one (as a restarted process
/// would make).
trait Reopen: Store + Sized {
    /// A fresh, migrated store, the URL it lives at, and the folder that
    /// must outlive it (SQLite's file).
    async fn fresh() -> (Self, String, Option<tempfile::TempDir>);
    /// A new connection to the database at `url`.
    async fn open(url: &str) -> Self;
}

impl Reopen for SqliteStore {
    async fn fresh() -> (Self, String, Option<tempfile::TempDir>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("handoff.db").display());
        let store = Self::open(&url).await;
        store.migrate().await.unwrap();
        (store, url, Some(dir))
    }

    async fn open(url: &str) -> Self {
        SqliteStore::connect(url, 8).await.unwrap()
    }
}

impl Reopen for PgStore {
    async fn fresh() -> (Self, String, Option<tempfile::TempDir>) {
        // The macro only runs PostgreSQL stories when a cluster is there.
        let url = common::pg_database()
            .await
            .expect("the PostgreSQL story runs only with TEST_PG_URL");
        let store = Self::open(&url).await;
        store.migrate().await.unwrap();
        (store, url, None)
    }

    async fn open(url: &str) -> Self {
        PgStore::connect(url, 20).await.unwrap()
    }
}

/// Panics on the runtime's worker threads, where the server's tasks run
/// (test bodies run on their own threads): a websocket task that panics only
/// drops its connection, so nothing else would notice it.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_server_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("tokio-runtime-worker") {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// One agent, Alice, who signs in to the inbox with "correct horse".
fn config_with_alice() -> Config {
    let hash = handoff_inbox::auth::hash_password("correct horse");
    Config {
        agents: vec![inbox_agent("alice", "Alice", &hash)],
        ..Config::default()
    }
}

async fn start<S: Store>(store: S, config: Config) -> Running {
    count_server_panics();
    common::story::serve(store, config).await
}

/// A web chat client that keeps every frame it has received, so a wait can
/// find a frame that arrived while it waited for another.
struct Customer {
    ws: Ws,
    seen: Vec<Value>,
}

impl Customer {
    async fn connect(base: &str, hello: Value) -> Customer {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{base}/chat/ws"))
            .await
            .unwrap();
        let mut customer = Customer {
            ws,
            seen: Vec::new(),
        };
        customer.send(hello).await;
        customer
    }

    async fn send(&mut self, frame: Value) {
        self.send_raw(frame.to_string()).await;
    }

    async fn send_raw(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next frame, `None` once the connection has ended.
    async fn read(&mut self) -> Option<Value> {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("timed out; saw {:#?}", self.seen));
            match next {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    self.seen.push(v.clone());
                    return Some(v);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                Some(Ok(other)) => panic!("unexpected websocket message {other:?}"),
            }
        }
    }

    /// The first frame received on this connection that matches `pred`,
    /// reading more until one does.
    async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(hit) = self.seen.iter().find(|f| pred(f)) {
            return hit.clone();
        }
        loop {
            let Some(v) = self.read().await else {
                panic!("connection ended; saw {:#?}", self.seen);
            };
            if pred(&v) {
                return v;
            }
        }
    }

    /// The answer to the message or rating with client id `id`.
    async fn answer(&mut self, id: &str) -> Value {
        self.until(|f| (f["type"] == "ack" || f["type"] == "error") && f["id"] == id)
            .await
    }

    /// Waits for the answer to a ping, so every frame the server sent
    /// before it has been read.
    async fn settle(&mut self) {
        self.send(json!({"type": "ping"})).await;
        let pongs = self.seen.iter().filter(|f| f["type"] == "pong").count();
        loop {
            self.read().await.expect("the connection ended");
            if self.seen.iter().filter(|f| f["type"] == "pong").count() > pongs {
                return;
            }
        }
    }

    /// Reads until the server ends the connection; panics if it stays open
    /// or acknowledges anything with client id `id` first.
    async fn until_closed(&mut self, id: &str) {
        while let Some(v) = self.read().await {
            assert!(
                !(v["type"] == "ack" && v["id"] == id),
                "{id} was acknowledged on a connection that should be closed: {v}"
            );
        }
    }

    /// The highest entry position this client has shown.
    fn last_seq(&self) -> i64 {
        self.entries()
            .filter_map(|e| e["seq"].as_i64())
            .max()
            .unwrap_or(0)
    }

    fn entries(&self) -> impl Iterator<Item = &Value> {
        self.seen.iter().filter(|f| f["type"] == "entry")
    }

    /// How many entries carry exactly `text`.
    fn entries_saying(&self, text: &str) -> usize {
        self.entries().filter(|e| e["text"] == text).count()
    }
}

/// How many commands of `case` post `text` into its thread.
async fn thread_posts<S: Store>(store: &S, case: CaseId, text: &str) -> usize {
    store
        .case_outbox(case)
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            matches!(&r.item.command,
                OutboundCommand::PostInThread { content, .. } if content.text.contains(text))
        })
        .count()
}

/// The web chat conversation behind a session token: its feed key and its
/// conversation in the store.
async fn conversation_of<S: Store>(store: &S, token: &str) -> (String, ConversationId) {
    let hash = handoff_webchat::session::token_hash(token);
    let session = store
        .webchat_session(&hash, Utc::now())
        .await
        .unwrap()
        .expect("the token's session is stored");
    // Both calls find what the engine created for the first message.
    let customer = store
        .upsert_customer(
            Platform::Webchat,
            &CustomerIdentity {
                external_id: session.conversation.clone(),
                ..Default::default()
            },
            Utc::now(),
        )
        .await
        .unwrap();
    let conversation = store
        .conversation(
            customer.id,
            Platform::Webchat,
            &session.conversation,
            Utc::now(),
        )
        .await
        .unwrap();
    (session.conversation, conversation.id)
}

/// Waits until the engine has processed every stored event.
async fn all_processed<S: Store>(store: &S) {
    eventually("every stored event is processed", || async {
        store
            .pending_inbound(10)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
}

const FIRST: &str = "Hi, order 88123 never arrived";
const ESCALATE: &str = "can I talk to a real person please";
const BEFORE_STOP: &str = "The tracking page shows an error too";
const LEFT_PENDING: &str = "It says the parcel is in Rotterdam";
const WHILE_DOWN: &str = "Hello? Are you still there?";
const REPLY: &str = "I have found it: it leaves Rotterdam today.";

async fn a_restart_mid_conversation_loses_and_repeats_nothing<S: Reopen>(_: S) {
    // The macro's store cannot be reopened (it keeps no URL), so the story
    // makes its own database of the same backend.
    let (store, url, _dir) = S::fresh().await;
    let app = start(store.clone(), config_with_alice()).await;

    // The customer escalates and Alice claims.
    let mut ada = Customer::connect(&app.base, json!({"type": "hello", "name": "Ada"})).await;
    let welcome = ada.until(|f| f["type"] == "welcome").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    for (id, text) in [("m1", FIRST), ("m2", ESCALATE)] {
        ada.send(json!({"type": "message", "id": id, "text": text}))
            .await;
        assert_eq!(ada.answer(id).await["type"], "ack");
    }
    let alice = Agent::sign_in(&app.base, "alice").await;
    let cards = alice.cards_when(|c| c.len() == 1).await;
    let case = cards[0]["card"]["case"].as_str().unwrap().to_owned();
    let case_id: CaseId = case.parse().unwrap();
    let action = format!("/inbox/api/cases/{case}/action");
    assert_eq!(alice.post(&action, json!({"action": "claim"})).await, 202);
    alice
        .cards_when(|c| c[0]["card"]["state"] == "claimed" && c[0]["card"]["owner"] == "alice")
        .await;
    ada.until(|f| f["text"] == "Alice from our team has joined the conversation.")
        .await;
    // Alice's inbox page keeps its live-update stream open, as it does all day.
    let mut live = alice.live().await;

    // The customer writes again and the server stops right after the ack:
    // the message is stored, but may not have been processed.
    ada.send(json!({"type": "message", "id": "m3", "text": BEFORE_STOP}))
        .await;
    let ack3 = ada.answer("m3").await;
    assert_eq!(ack3["type"], "ack");
    app.stop().await;
    // Her page's stream ended with the server, so the page reconnects.
    tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(_)) = live.chunk().await {}
    })
    .await
    .expect("the inbox's live stream outlived the server");
    let m3_pending_at_stop = !store.pending_inbound(10).await.unwrap().is_empty();

    // While it is down, the open connection is closed: the next message
    // cannot be sent, and the widget keeps it to resend.
    let sent = ada
        .ws
        .send(Message::Text(
            json!({"type": "message", "id": "m4", "text": WHILE_DOWN})
                .to_string()
                .into(),
        ))
        .await;
    if sent.is_ok() {
        ada.until_closed("m4").await;
    }
    // Like the widget, the customer resumes after the last entry it showed
    // (the entry for m3 may not have arrived before the connection closed).
    let last_seq = ada.last_seq();

    // A message whose ack reached the customer but whose processing never
    // ran, written as the web chat writes it (feed entry and event in one
    // transaction), so the restart has a pending event for certain.
    let conversation = store.case(case_id).await.unwrap().unwrap().conversation;
    let key = store
        .conversation_by_id(conversation)
        .await
        .unwrap()
        .unwrap()
        .external_ref;
    let now = Utc::now();
    let event_id = format!("{key}:m-pending");
    let (_, pending_seq) = store
        .webchat_accept(
            &handoff_webchat::NewFeedEntry {
                conversation: key.clone(),
                dedupe: "c:m-pending".into(),
                author: "customer".into(),
                author_name: None,
                kind: "message".into(),
                body: LEFT_PENDING.into(),
                created_at: now,
            },
            &InboundEvent {
                platform: Platform::Webchat,
                event_id: event_id.clone(),
                received_at: now,
                kind: InboundKind::CustomerMessage(CustomerMessage {
                    customer: CustomerIdentity {
                        external_id: key.clone(),
                        display_name: Some("Ada".into()),
                        ..Default::default()
                    },
                    conversation: key.clone(),
                    text: LEFT_PENDING.into(),
                    platform_message_id: Some(event_id),
                    attachments: vec![],
                    open_thread: None,
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.pending_inbound(10).await.unwrap().len(),
        1 + usize::from(m3_pending_at_stop)
    );
    assert!(
        store
            .webchat_feed(&key, 0, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.entry.body != WHILE_DOWN),
        "a message sent while the server was down was stored"
    );
    drop(store);

    // A new instance on the same database, on a new port.
    let store = S::open(&url).await;
    let app = start(store.clone(), config_with_alice()).await;

    // Events stored before the stop reach the case's thread, once each.
    for text in [BEFORE_STOP, LEFT_PENDING] {
        eventually(&format!("{text:?} reaches the thread"), || async {
            (thread_posts(&store, case_id, text).await > 0).then_some(())
        })
        .await;
    }
    all_processed(&store).await;

    // The customer resumes where it was and resends its unacknowledged
    // message with the same client id.
    let mut resumed = Customer::connect(
        &app.base,
        json!({"type": "hello", "token": token, "last_seq": last_seq}),
    )
    .await;
    let welcome = resumed.until(|f| f["type"] == "welcome").await;
    assert!(welcome.get("token").is_none(), "resumed, not a new session");
    resumed
        .send(json!({"type": "message", "id": "m4", "text": WHILE_DOWN}))
        .await;
    let ack4 = resumed.answer("m4").await;
    assert_eq!(ack4["type"], "ack", "{ack4}");
    assert!(ack4["seq"].as_i64().unwrap() > pending_seq);
    resumed.settle().await;
    // Only what it had not shown came back, and all of it: across both
    // connections each of its later messages was shown exactly once.
    let replayed: Vec<i64> = resumed
        .entries()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert!(
        replayed.iter().all(|s| *s > last_seq),
        "{replayed:?} after {last_seq}"
    );
    for text in [BEFORE_STOP, LEFT_PENDING, WHILE_DOWN] {
        assert_eq!(
            ada.entries_saying(text) + resumed.entries_saying(text),
            1,
            "{text:?}: before the stop {:#?}, after {:#?}",
            ada.seen,
            resumed.seen
        );
    }

    // Alice's old cookie still works (its key is in the database), and she
    // still owns the case; signing in again works too.
    let old_alice = alice.at(&app.base);
    let cards = old_alice.cards_when(|c| c.len() == 1).await;
    assert_eq!(
        (
            cards[0]["card"]["state"].clone(),
            cards[0]["card"]["owner"].clone()
        ),
        (json!("claimed"), json!("alice"))
    );
    // Her open page reconnects its live stream with the same cookie.
    drop(old_alice.live().await);
    let alice = Agent::sign_in(&app.base, "alice").await;
    alice.cards_when(|c| c[0]["card"]["owner"] == "alice").await;
    let transcript = alice
        .transcript_when(&case, |lines| {
            lines
                .iter()
                .any(|l| l["text"].as_str().is_some_and(|t| t.contains(WHILE_DOWN)))
        })
        .await;
    for text in [FIRST, ESCALATE, BEFORE_STOP, LEFT_PENDING, WHILE_DOWN] {
        let n = transcript
            .iter()
            .filter(|l| {
                l["author"] == "customer" && l["text"].as_str().is_some_and(|t| t.contains(text))
            })
            .count();
        assert_eq!(n, 1, "{text:?} in {transcript:#?}");
    }

    // Alice replies; the customer receives it exactly once.
    let reply = format!("/inbox/api/cases/{case}/reply");
    assert_eq!(alice.post(&reply, json!({"text": REPLY})).await, 202);
    let answer = resumed
        .until(|f| f["type"] == "entry" && f["text"] == REPLY)
        .await;
    assert_eq!(
        (answer["author"].clone(), answer["name"].clone()),
        (json!("agent"), json!("Alice"))
    );
    resumed.settle().await;
    assert_eq!(resumed.entries_saying(REPLY), 1, "{:#?}", resumed.seen);

    // A full resume shows every message exactly once, in order.
    drop(resumed);
    let mut again = Customer::connect(
        &app.base,
        json!({"type": "hello", "token": token, "last_seq": 0}),
    )
    .await;
    again
        .until(|f| f["type"] == "entry" && f["text"] == REPLY)
        .await;
    again.settle().await;
    let order = [
        FIRST,
        ESCALATE,
        BEFORE_STOP,
        LEFT_PENDING,
        WHILE_DOWN,
        REPLY,
    ];
    for text in order {
        assert_eq!(
            again.entries_saying(text),
            1,
            "{text:?} in {:#?}",
            again.seen
        );
    }
    let seqs: Vec<i64> = again.entries().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let positions: Vec<usize> = order
        .iter()
        .map(|t| again.entries().position(|e| e["text"] == *t).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

    // The store agrees: each customer message once, each relayed once.
    let stored = store.messages(conversation).await.unwrap();
    for text in [FIRST, ESCALATE, BEFORE_STOP, LEFT_PENDING, WHILE_DOWN] {
        assert_eq!(
            stored.iter().filter(|m| m.body == text).count(),
            1,
            "{text:?} in {stored:#?}"
        );
    }
    for text in [BEFORE_STOP, LEFT_PENDING, WHILE_DOWN] {
        assert_eq!(thread_posts(&store, case_id, text).await, 1, "{text:?}");
    }
    eprintln!("m3 was still pending when the first instance stopped: {m3_pending_at_stop}");

    app.stop().await;
    assert_eq!(
        SERVER_PANICS.load(Ordering::SeqCst),
        0,
        "a server task panicked"
    );
}

async fn flooding_is_refused_without_harming_anyone_else<S: Store>(store: S) {
    let config = Config {
        webchat: WebchatConfig {
            messages_per_minute: 5,
            sessions_per_ip_per_hour: 3,
            max_message_chars: 200,
            ..WebchatConfig::default()
        },
        ..Config::default()
    };
    let app = start(store.clone(), config).await;
    let base = app.base.clone();

    // Two visitors; Bea is already chatting when Fred starts flooding.
    let mut bea = Customer::connect(&base, json!({"type": "hello", "name": "Bea"})).await;
    let bea_token = bea.until(|f| f["type"] == "welcome").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut fred = Customer::connect(&base, json!({"type": "hello", "name": "Fred"})).await;
    let welcome = fred.until(|f| f["type"] == "welcome").await;
    assert_eq!(welcome["limits"]["messages_per_minute"], 5);
    let fred_token = welcome["token"].as_str().unwrap().to_owned();

    // Twenty messages as fast as the socket takes them; Bea writes meanwhile.
    let ids: Vec<String> = (0..20).map(|i| format!("f{i:02}")).collect();
    for id in &ids {
        fred.send(json!({"type": "message", "id": id, "text": format!("flood {id}")}))
            .await;
    }
    bea.send(json!({"type": "message", "id": "b1", "text": "Do you ship to Norway?"}))
        .await;
    for (i, id) in ids.iter().enumerate() {
        let answer = fred.answer(id).await;
        if i < 5 {
            assert_eq!(answer["type"], "ack", "{answer}");
        } else {
            assert_eq!(
                (answer["type"].clone(), answer["code"].clone()),
                (json!("error"), json!("rate_limited")),
                "{answer}"
            );
            assert!(answer["retry_after"].as_u64().unwrap() >= 1, "{answer}");
        }
    }
    assert_eq!(
        bea.answer("b1").await["type"],
        "ack",
        "Bea is not limited by Fred"
    );

    // Too long is refused and not stored; exactly the limit, counted in
    // characters (not bytes), is accepted.
    let too_long = "y".repeat(201);
    bea.send(json!({"type": "message", "id": "b2", "text": too_long}))
        .await;
    let refused = bea.answer("b2").await;
    assert_eq!(
        (refused["type"].clone(), refused["code"].clone()),
        (json!("error"), json!("too_large"))
    );
    let longest = "é".repeat(200);
    bea.send(json!({"type": "message", "id": "b3", "text": longest}))
        .await;
    assert_eq!(bea.answer("b3").await["type"], "ack");

    // The third new session from this address is the last one allowed.
    let mut carl = Customer::connect(&base, json!({"type": "hello"})).await;
    let carl_token = carl.until(|f| f["type"] == "welcome").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let mut late = Customer::connect(&base, json!({"type": "hello"})).await;
        let refused = late.until(|f| f["type"] == "error").await;
        assert_eq!(refused["code"], "too_many_sessions", "{refused}");
        assert!(refused["retry_after"].as_u64().unwrap() >= 1, "{refused}");
        late.until_closed("-").await;
        assert!(
            !late.seen.iter().any(|f| f["type"] == "welcome"),
            "{:?}",
            late.seen
        );
    }

    // A frame over 64 KiB is refused (the connection may end) and stores
    // nothing.
    let huge = json!({"type": "message", "id": "huge", "text": "z".repeat(70 * 1024)});
    carl.send_raw(huge.to_string()).await;
    loop {
        match carl.read().await {
            None => break,
            Some(f) if f["type"] == "error" => break,
            Some(f) => assert_ne!(f["type"], "ack", "the huge frame was accepted: {f}"),
        }
    }

    // Fred resumes (a resume is not a new session): exactly his first five
    // messages are in his history.
    let mut fred_again = Customer::connect(
        &base,
        json!({"type": "hello", "token": fred_token, "last_seq": 0}),
    )
    .await;
    fred_again.until(|f| f["type"] == "welcome").await;
    fred_again.settle().await;
    let history: Vec<String> = fred_again
        .entries()
        .filter(|e| e["author"] == "customer")
        .map(|e| e["client_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history, ids[..5].to_vec());

    // Bea is unharmed: her connection still answers and she can write.
    bea.settle().await;
    bea.send(json!({"type": "message", "id": "b4", "text": "Thanks!"}))
        .await;
    assert_eq!(bea.answer("b4").await["type"], "ack");

    // The store holds exactly what was acknowledged.
    all_processed(&store).await;
    let customer_bodies = |conversation| {
        let store = store.clone();
        async move {
            let mut bodies: Vec<String> = store
                .messages(conversation)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.author == handoff::store::AuthorKind::Customer)
                .map(|m| m.body)
                .collect();
            bodies.sort();
            bodies
        }
    };
    let (fred_key, fred_conv) = conversation_of(&store, &fred_token).await;
    let expected: Vec<String> = ids[..5].iter().map(|id| format!("flood {id}")).collect();
    assert_eq!(customer_bodies(fred_conv).await, expected);
    assert_eq!(
        store.webchat_feed(&fred_key, 0, 100).await.unwrap().len(),
        5,
        "Fred's feed"
    );
    let (bea_key, bea_conv) = conversation_of(&store, &bea_token).await;
    let mut expected = vec![
        "Do you ship to Norway?".to_owned(),
        "é".repeat(200),
        "Thanks!".to_owned(),
    ];
    expected.sort();
    assert_eq!(customer_bodies(bea_conv).await, expected);
    assert!(
        store
            .webchat_feed(&bea_key, 0, 100)
            .await
            .unwrap()
            .iter()
            .all(|e| !e.entry.body.starts_with('y')),
        "the refused message was stored"
    );
    let (carl_key, carl_conv) = conversation_of(&store, &carl_token).await;
    assert!(
        store
            .webchat_feed(&carl_key, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(customer_bodies(carl_conv).await.is_empty());

    // The server still answers, and nothing panicked.
    let health = reqwest::get(format!("http://{base}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
    assert_eq!(
        SERVER_PANICS.load(Ordering::SeqCst),
        0,
        "a server task panicked"
    );
}
