//! The app served on a port of its own, and an inbox agent talking to it
//! over HTTP: shared by the whole-story, restart and browser tests.

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use handoff::clock::Clock;
use handoff::config::{AgentConfig, Config};
use handoff::outbox::Adapters;
use handoff::store::Store;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How long any wait in these tests may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The password every test agent has.
pub const PASSWORD: &str = "correct horse";

/// An agent who signs in to the inbox as `id` with [`PASSWORD`]'s `hash`.
pub fn inbox_agent(id: &str, name: &str, hash: &str) -> AgentConfig {
    AgentConfig {
        id: id.into(),
        name: name.into(),
        slack_user: None,
        teams_user: None,
        inbox_login: Some(id.into()),
        password_hash: Some(hash.into()),
    }
}

/// The default configuration with two inbox agents, Alice and Bob.
pub fn team_config() -> Config {
    let hash = handoff_inbox::auth::hash_password(PASSWORD);
    Config {
        agents: vec![
            inbox_agent("alice", "Alice", &hash),
            inbox_agent("bob", "Bob", &hash),
        ],
        ..Config::default()
    }
}

/// The app, served as `handoff serve` would.
pub struct Running {
    /// `127.0.0.1:PORT`.
    pub base: String,
    /// Cancel to stop it.
    pub shutdown: CancellationToken,
    /// The server task.
    pub server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the server as a deployment would, and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("the server did not stop within 20 s of its shutdown signal")
            .expect("the server task panicked");
    }
}

/// Serves the app over `store` with `config` on a free loopback port.
pub async fn serve<S: Store>(store: S, config: Config) -> Running {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        handoff::app::serve(
            store,
            &config,
            Adapters::default(),
            listener,
            Clock::System,
            stop,
        )
        .await
        .unwrap();
    });
    Running {
        base,
        shutdown,
        server,
    }
}

/// An agent signed in to the inbox over HTTP, as the page would be.
pub struct Agent {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
}

impl Agent {
    pub async fn sign_in(base: &str, login: &str) -> Agent {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("http://{base}/inbox/login"))
            .header("x-handoff-inbox", "1")
            .json(&json!({"login": login, "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        Agent {
            http,
            base: base.to_owned(),
            cookie,
        }
    }

    /// The same signed-in agent (same cookie) talking to another server.
    pub fn at(&self, base: &str) -> Agent {
        Agent {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            cookie: self.cookie.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("http://{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::StatusCode {
        self.http
            .post(format!("http://{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-handoff-inbox", "1")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// The inbox page's live-update stream (server-sent events), open.
    pub async fn live(&self) -> reqwest::Response {
        let r = self
            .http
            .get(format!("http://{}/inbox/events", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r
    }

    /// The JSON list at `path` once `pred` holds for it.
    async fn list_when(&self, path: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let list = self.get(path).await.as_array().unwrap().clone();
            if pred(&list) {
                return list;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never showed what was expected: {list:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The inbox's cards once `pred` holds for them.
    pub async fn cards_when(&self, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.list_when("/inbox/api/cards", pred).await
    }

    /// A case's transcript once `pred` holds for its lines.
    pub async fn transcript_when(&self, case: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.list_when(&format!("/inbox/api/cases/{case}/transcript"), pred)
            .await
    }
}

/// Polls `check` until it returns `Some`, or fails with `what`.
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, check: impl Fn() -> F) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A web chat customer's websocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A web chat customer connected to the app at `base`, having said `hello`.
pub async fn connect(base: &str, hello: Value) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{base}/chat/ws"))
        .await
        .unwrap();
    send(&mut ws, hello).await;
    ws
}

/// Sends one frame.
pub async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// The first frame matching `pred`, from frames received earlier but not
/// yet matched (`backlog`) or newly read; the frames it passed over stay in
/// the backlog and are returned too.
pub async fn until_in(
    ws: &mut Ws,
    backlog: &mut Vec<Value>,
    pred: impl Fn(&Value) -> bool,
) -> (Value, Vec<Value>) {
    if let Some(i) = backlog.iter().position(&pred) {
        let hit = backlog.remove(i);
        return (hit, backlog.clone());
    }
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; saw {backlog:#?}"));
        let Some(Ok(Message::Text(t))) = next else {
            panic!("connection ended; saw {backlog:#?}");
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if pred(&v) {
            return (v, backlog.clone());
        }
        backlog.push(v);
    }
}

/// [`until_in`] with a backlog of its own, for one-off waits.
pub async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
    until_in(ws, &mut Vec::new(), pred).await
}

/// A web chat customer named `name` who says `text` (a request for a
/// person, in the stories); returns their socket and the frames so far.
pub async fn escalating_customer(base: &str, name: &str, text: &str) -> (Ws, Vec<Value>) {
    let mut ws = connect(base, json!({"type": "hello", "name": name})).await;
    let mut seen = Vec::new();
    until_in(&mut ws, &mut seen, |f| f["type"] == "welcome").await;
    send(
        &mut ws,
        json!({"type": "message", "id": "m1", "text": text}),
    )
    .await;
    until_in(&mut ws, &mut seen, |f| {
        f["type"] == "ack" && f["id"] == "m1"
    })
    .await;
    (ws, seen)
}

/// Waits until the store knows `card` as a case's card: the platform shows
/// a card a moment before handoff has recorded where it is, and a reply
/// under it in that moment would find no case.
pub async fn card_stored<S: Store>(store: &S, card: &handoff_core::MessageRef) {
    eventually("the card's reference to be stored", || async {
        store.case_by_card(card).await.unwrap().map(|_| ())
    })
    .await;
}
