//! A small Chrome DevTools Protocol client, just big enough for browser
//! stories: launch headless Chromium, open pages, run script in them, click
//! and type as a person would, wait for what a page shows, and take
//! screenshots.
//!
//! One websocket to the browser carries every page's traffic: each page is
//! attached with `flatten: true`, so its commands and events are told apart
//! by `sessionId` rather than by a socket of their own. Every wait polls
//! against a deadline and, when the deadline passes, panics with what the
//! page showed and logged, and leaves a screenshot beside the artefacts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any one wait may take before the story is declared broken. Long
/// enough for a loaded CI machine, short enough to fail a hung run quickly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How often a wait looks again: quick enough not to slow the story down,
/// slow enough not to keep the page busy.
const POLL: Duration = Duration::from_millis(50);

/// Log lines kept per page for failure messages; older ones matter less.
const LOG_LINES: usize = 200;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// A command's `result`, or why there is none: the protocol's error, a
/// closed socket or no answer in time.
type Reply = Result<Value, String>;

/// The state shared between the callers and the task reading the socket.
#[derive(Debug, Default)]
struct Shared {
    /// Commands sent and not yet answered, by message id.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Console output, uncaught exceptions and browser log entries, by the
    /// session of the page they came from, for failure messages.
    logs: Mutex<HashMap<String, Vec<String>>>,
}

/// The browser's debugging socket, shared by every page.
#[derive(Debug)]
struct Connection {
    /// The sending half; pages send from several tasks, one frame at a time.
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    /// Matches each answer to its command: the protocol echoes the id.
    next_id: AtomicU64,
    /// What the reading task fills in.
    shared: Arc<Shared>,
}

impl Connection {
    /// Connects to the browser at `url`, and starts the task that reads
    /// its answers and events.
    async fn open(url: &str) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("could not reach Chromium's DevTools at {url}: {e}"));
        let (sink, mut stream) = socket.split();
        let shared = Arc::new(Shared::default());
        let reading = shared.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message
                    && let Ok(frame) = serde_json::from_str::<Value>(&text)
                {
                    reading.take(frame);
                }
            }
            // The browser went away: dropping the senders wakes every caller
            // still waiting with an error instead of leaving it hanging.
            reading.waiting.lock().unwrap().clear();
        });
        let connection = Arc::new(Self {
            sink: tokio::sync::Mutex::new(sink),
            next_id: AtomicU64::new(1),
            shared,
        });
        (connection, reader)
    }

    /// Sends one command and waits for its answer: the `result`, or the
    /// protocol's `error` object.
    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Reply {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut frame = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            frame["sessionId"] = json!(session);
        }
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap().insert(id, tx);
        let sent = self
            .sink
            .lock()
            .await
            .send(Message::Text(frame.to_string().into()))
            .await;
        if let Err(e) = sent {
            self.shared.waiting.lock().unwrap().remove(&id);
            return Err(format!("could not send {method} to Chromium: {e}"));
        }
        match tokio::time::timeout(PATIENCE, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(format!(
                "Chromium closed its DevTools socket during {method}"
            )),
            Err(_) => {
                self.shared.waiting.lock().unwrap().remove(&id);
                Err(format!(
                    "Chromium did not answer {method} within {PATIENCE:?}"
                ))
            }
        }
    }

    /// [`Self::call`] for commands that must succeed.
    async fn must(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.call(session, method, params)
            .await
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }
}

impl Shared {
    /// Routes one frame from the browser: an answer to its caller, a log
    /// event to its page's log, anything else nowhere.
    fn take(&self, frame: Value) {
        if let Some(id) = frame["id"].as_u64() {
            if let Some(tx) = self.waiting.lock().unwrap().remove(&id) {
                let reply = match frame.get("error") {
                    Some(error) => Err(format!(
                        "Chromium refused it: {}",
                        error["message"].as_str().unwrap_or("no reason given")
                    )),
                    None => Ok(frame["result"].clone()),
                };
                // The caller may have timed out and gone; that is its panic.
                let _ = tx.send(reply);
            }
            return;
        }
        let (Some(session), Some(line)) = (frame["sessionId"].as_str(), log_line(&frame)) else {
            return;
        };
        let mut logs = self.logs.lock().unwrap();
        let lines = logs.entry(session.to_owned()).or_default();
        if lines.len() == LOG_LINES {
            lines.remove(0);
        }
        lines.push(line);
    }
}

/// A page event worth showing when a story fails, as one line.
fn log_line(event: &Value) -> Option<String> {
    let p = &event["params"];
    match event["method"].as_str()? {
        "Runtime.consoleAPICalled" => {
            let args: Vec<String> = p["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| match &a["value"] {
                    Value::String(s) => s.clone(),
                    Value::Null => a["description"].as_str().unwrap_or("?").to_owned(),
                    v => v.to_string(),
                })
                .collect();
            Some(format!(
                "console.{}: {}",
                p["type"].as_str()?,
                args.join(" ")
            ))
        }
        "Runtime.exceptionThrown" => {
            let d = &p["exceptionDetails"];
            let text = d["exception"]["description"]
                .as_str()
                .or(d["text"].as_str())
                .unwrap_or("?");
            Some(format!("uncaught: {text}"))
        }
        "Log.entryAdded" => {
            let e = &p["entry"];
            Some(format!(
                "{} {}: {} {}",
                e["source"].as_str()?,
                e["level"].as_str()?,
                e["text"].as_str()?,
                e["url"].as_str().unwrap_or("")
            ))
        }
        _ => None,
    }
}

/// A headless Chromium for one test; killed when dropped, even mid-panic.
#[derive(Debug)]
pub struct Browser {
    /// The browser process; `kill_on_drop` so a failing test leaves none.
    child: Child,
    /// Its profile and log; removed when the browser is dropped.
    _home: tempfile::TempDir,
    /// Shared with every page it opens.
    connection: Arc<Connection>,
    /// Reads the socket; stopped with the browser.
    reader: tokio::task::JoinHandle<()>,
    /// Where pages leave screenshots when a wait fails.
    artefacts: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The `chromium` on `PATH`, else Debian's usual place.
pub fn find_chromium() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let usual = PathBuf::from("/usr/bin/chromium");
        usual.is_file().then_some(usual)
    })
}

impl Browser {
    /// Starts `binary` headless on a DevTools port of its own choosing and
    /// connects to it.
    /// Pages leave a screenshot in `artefacts` when a wait fails.
    pub async fn launch(binary: &Path, artefacts: &Path) -> Browser {
        let home = tempfile::tempdir().unwrap();
        let profile = home.path().join("profile");
        let log_path = home.path().join("chromium.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                // Two pages are live at once; neither may be slowed down
                // for being in the background.
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--no-first-run",
                "--no-default-browser-check",
                // Room for the chat panel (560 px) above its launcher.
                "--window-size=1280,900",
                // Port 0: the browser picks a free one and writes it down,
                // so parallel runs never collide.
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));

        // The browser writes its port and socket path to this file once it
        // listens; until then the file is missing or half written.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let socket_url = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let [port, path, ..] = text.lines().collect::<Vec<_>>()[..]
            {
                break format!("ws://127.0.0.1:{port}{path}");
            }
            let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Ok(Some(status)) = child.try_wait() {
                panic!("Chromium exited with {status} before listening:\n{}", log());
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "Chromium wrote no DevToolsActivePort within {PATIENCE:?}:\n{}",
                    log()
                );
            }
            tokio::time::sleep(POLL).await;
        };
        let (connection, reader) = Connection::open(&socket_url).await;
        Browser {
            child,
            _home: home,
            connection,
            reader,
            artefacts: artefacts.to_owned(),
        }
    }

    /// The browser's product string, such as `Chrome/156.0.8078.79`.
    pub async fn version(&self) -> String {
        let v = self
            .connection
            .must(None, "Browser.getVersion", json!({}))
            .await;
        v["product"].as_str().unwrap_or("unknown").to_owned()
    }

    /// Opens `url` in a new window of its own browser context: like a
    /// separate person on a separate machine, it shares no cookies or
    /// storage with other pages. `name` labels failures and screenshots;
    /// `snapshot` is an expression for what the page shows, for failures.
    pub async fn open(&self, name: &str, url: &str, snapshot: &str) -> Page {
        let c = &self.connection;
        let context =
            c.must(None, "Target.createBrowserContext", json!({})).await["browserContextId"]
                .clone();
        let target = c
            .must(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": context, "newWindow": true }),
            )
            .await["targetId"]
            .clone();
        let session = c
            .must(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await["sessionId"]
            .as_str()
            .expect("attachToTarget answers with a sessionId")
            .to_owned();
        let page = Page {
            name: name.to_owned(),
            session,
            snapshot: snapshot.to_owned(),
            connection: c.clone(),
            artefacts: self.artefacts.clone(),
        };
        // Logging is switched on before navigating so the page's first
        // errors are kept too.
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.send(domain, json!({})).await;
        }
        // Headless windows are never focused; emulating focus makes focus(),
        // :focus and keyboard input behave as they do for a person.
        page.send(
            "Emulation.setFocusEmulationEnabled",
            json!({ "enabled": true }),
        )
        .await;
        let nav = page.send("Page.navigate", json!({ "url": url })).await;
        if let Some(error) = nav["errorText"].as_str() {
            panic!("{name}: could not load {url}: {error}");
        }
        page.wait_until(
            &format!("{url} to load"),
            "document.readyState === 'complete' && location.href !== 'about:blank'",
        )
        .await;
        page
    }

    /// Asks the browser to quit, and kills it if it has not within a few
    /// seconds.
    pub async fn close(mut self) {
        // The browser closes the socket as it quits, so there may be no answer.
        let ask = self.connection.call(None, "Browser.close", json!({}));
        let _ = tokio::time::timeout(Duration::from_secs(5), ask).await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// One page (tab) of the browser.
#[derive(Debug)]
pub struct Page {
    /// Labels its failures and names its failure screenshot.
    name: String,
    /// Addresses its commands on the shared socket, and tags its events.
    session: String,
    /// An expression for what the page shows, quoted when a wait fails.
    snapshot: String,
    /// The browser's one socket.
    connection: Arc<Connection>,
    /// Where its failure screenshot goes.
    artefacts: PathBuf,
}

/// Where a page's element is, and whether a click there would reach it.
const LOCATE: &str = r#"(el) => {
  if (!el) return { problem: "no such element" };
  el.scrollIntoView({ block: "center", inline: "center" });
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return { problem: "not visible" };
  if (el.disabled) return { problem: "disabled" };
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const hit = el.getRootNode().elementFromPoint(x, y);
  if (hit !== el && !el.contains(hit))
    return { problem: "covered by " + (hit ? hit.outerHTML.slice(0, 160) : "nothing") };
  return { x, y };
}"#;

impl Page {
    async fn send(&self, method: &str, params: Value) -> Value {
        self.connection
            .must(Some(&self.session), method, params)
            .await
    }

    /// Evaluates `expression` in the page, awaiting it if it is a promise;
    /// its value, or why it threw.
    pub async fn try_eval(&self, expression: &str) -> Result<Value, String> {
        let reply = self
            .connection
            .call(
                Some(&self.session),
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "awaitPromise": true,
                    "returnByValue": true,
                    "userGesture": true,
                }),
            )
            .await?;
        if let Some(d) = reply.get("exceptionDetails") {
            return Err(d["exception"]["description"]
                .as_str()
                .or(d["text"].as_str())
                .unwrap_or("an exception")
                .to_owned());
        }
        Ok(reply["result"]["value"].clone())
    }

    /// [`Self::try_eval`] for expressions that must not throw.
    pub async fn eval(&self, expression: &str) -> Value {
        match self.try_eval(expression).await {
            Ok(v) => v,
            Err(e) => self.fail(&format!("`{expression}` threw: {e}")).await,
        }
    }

    /// Polls `expression` until it is truthy, and returns its value. A throw
    /// counts as not yet: the page may be between two renders.
    pub async fn wait_until(&self, what: &str, expression: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut last = Ok(Value::Null);
        while tokio::time::Instant::now() < deadline {
            last = self.try_eval(expression).await;
            if let Ok(v) = &last
                && truthy(v)
            {
                return v.clone();
            }
            tokio::time::sleep(POLL).await;
        }
        self.fail(&format!(
            "waited {PATIENCE:?} for {what}; `{expression}` last gave {last:?}"
        ))
        .await
    }

    /// Clicks, with the mouse, the element `element` evaluates to, once it
    /// is there, visible, enabled and not covered by anything else.
    pub async fn click(&self, what: &str, element: &str) {
        let at = self
            .wait_until(
                &format!("{what} to be clickable"),
                &format!(
                    "(() => {{ const l = ({LOCATE})({element}); return l.problem ? null : l; }})()"
                ),
            )
            .await;
        let (x, y) = (at["x"].clone(), at["y"].clone());
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.send(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await;
        }
    }

    /// Focuses the field `element` evaluates to and types `text` into it,
    /// as the keyboard would (input events included).
    pub async fn type_into(&self, what: &str, element: &str, text: &str) {
        self.wait_until(
            &format!("{what} to take focus"),
            &format!(
                "(() => {{ const el = {element}; if (!el) return false; el.focus(); \
                 return el.getRootNode().activeElement === el; }})()"
            ),
        )
        .await;
        self.send("Input.insertText", json!({ "text": text })).await;
        let typed = self.eval(&format!("({element}).value")).await;
        if typed != json!(text) {
            self.fail(&format!("typed {text:?} into {what}, but it holds {typed}"))
                .await;
        }
    }

    /// Presses and releases Enter on whatever has focus.
    pub async fn press_enter(&self) {
        let key = json!({ "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13 });
        let mut down = key.clone();
        down["type"] = json!("keyDown");
        down["text"] = json!("\r");
        let mut up = key;
        up["type"] = json!("keyUp");
        self.send("Input.dispatchKeyEvent", down).await;
        self.send("Input.dispatchKeyEvent", up).await;
    }

    /// A PNG of what the page shows now.
    pub async fn screenshot(&self) -> Vec<u8> {
        match self.try_screenshot().await {
            Ok(png) => png,
            Err(e) => panic!("{}: no screenshot: {e}", self.name),
        }
    }

    async fn try_screenshot(&self) -> Result<Vec<u8>, String> {
        let c = &self.connection;
        // A window in the background may never paint; bring it forward first.
        c.call(Some(&self.session), "Page.bringToFront", json!({}))
            .await?;
        let shot = c
            .call(
                Some(&self.session),
                "Page.captureScreenshot",
                json!({ "format": "png" }),
            )
            .await?;
        let data = shot["data"].as_str().ok_or("the screenshot had no data")?;
        Ok(decode_base64(data))
    }

    /// Panics with `why`, what the page shows and what it logged, after
    /// leaving a screenshot for whoever reads the failure.
    async fn fail(&self, why: &str) -> ! {
        let shows = self.try_eval(&self.snapshot).await;
        let logs = self
            .connection
            .shared
            .logs
            .lock()
            .unwrap()
            .get(&self.session)
            .cloned()
            .unwrap_or_default();
        let mut saved = String::new();
        let path = self.artefacts.join(format!("{}-failure.png", self.name));
        // The failure itself matters more than its picture: a picture that
        // cannot be taken or saved is left out of the message.
        if let Ok(png) = self.try_screenshot().await
            && std::fs::write(&path, png).is_ok()
        {
            saved = format!("\nscreenshot: {}", path.display());
        }
        let shows = match shows {
            Ok(Value::String(s)) => s,
            other => format!("{other:?}"),
        };
        panic!(
            "{}: {why}\n--- the page shows ---\n{shows}\n--- the page logged ---\n{}{saved}",
            self.name,
            logs.join("\n")
        );
    }
}

/// JavaScript's idea of truth, for values that came back as JSON.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Standard base64 (with or without padding) to bytes. Screenshots are the
/// only base64 here, and no base64 crate is a dependency.
pub fn decode_base64(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => panic!("not base64: byte {c:#04x}"),
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
