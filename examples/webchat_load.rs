//! Web chat load, a script rather than a test: memory per idle websocket
//! session, and messages per second from the widget through the store to
//! the inbox, against a running `handoff serve`. The figures it printed on
//! the reference machine are in `docs/benchmarks.md` ("Web chat load").
//!
//! ```sh
//! ./scripts/load-webchat          # starts a server, runs this, cleans up
//! HANDOFF_AGENT_PASSWORD=… cargo run --release --example webchat_load -- \
//!     --url ws://127.0.0.1:PORT --pid PID --sessions 1000 --messages 10000
//! ```
//!
//! Against a server you started yourself: every session here comes from one
//! address, so raise `HANDOFF_WEBCHAT__SESSIONS_PER_IP_PER_HOUR` and
//! `HANDOFF_WEBCHAT__MESSAGES_PER_MINUTE`; add an inbox agent with `handoff
//! agent add` and give this script its login (`--login`) and password
//! (`HANDOFF_AGENT_PASSWORD`); and use a fresh database, since every
//! session opens a case.
//!
//! The run, in order:
//! 1. The agent signs in and keeps `/inbox/events` open (server-sent
//!    events, read as raw chunks and stamped when they arrive).
//! 2. `--warmup` sessions connect and stay open, so allocations made once
//!    per process (pools, statement caches, the first of each size class)
//!    land in the baseline. Closing them instead would hand their freed
//!    buffers to the first measured sessions and hide that much memory.
//! 3. The server's VmRSS is read; `--sessions` sessions say `hello` and get
//!    `welcome`; after a pause with nothing in flight VmRSS is read again.
//!    The difference over the session count is the memory per idle session.
//! 4. Every session asks for a person, which stores the message, and the
//!    engine then opens a case whose card the outbox delivers to the inbox:
//!    one `card` live event per session. Each case is matched to its
//!    session through the case transcript (the customer's name).
//! 5. `--messages` follow-ups go out round-robin over the sessions, each
//!    session sending its next one when the previous is acknowledged (or on
//!    a schedule with `--rate`). A customer message in an open case is
//!    posted in the case's thread, which the inbox announces as a `thread`
//!    live event naming the case. Within a case those arrive in order (one
//!    outbox ordering key per card), so the n-th `thread` event of a case is
//!    its n-th follow-up: that gives the end-to-end time per message.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const USAGE: &str = "usage: webchat_load --url ws://HOST:PORT --pid PID [--sessions 1000] \
[--messages 10000] [--rate MSGS_PER_SEC] [--warmup 20] [--login load]
The inbox agent's password is read from HANDOFF_AGENT_PASSWORD.";

/// What every session says first: the default triggers escalate it as a
/// human request, so each session gets its own case and card.
const ASK_FOR_A_PERSON: &str = "can I talk to a real person please";
/// Connections being opened at once: enough to keep the server busy
/// without overflowing the listen backlog.
const CONNECT_CONCURRENCY: usize = 64;
/// Transcript requests at once while matching cases to sessions.
const LOOKUP_CONCURRENCY: usize = 8;
/// Longest wait for any one frame before the run is called stuck.
const FRAME_TIMEOUT: Duration = Duration::from_secs(120);
/// A phase waiting for live events gives up after this long without one.
const QUIET_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before the second memory reading, so nothing is in flight.
const SETTLE: Duration = Duration::from_secs(3);
/// Linux reports process CPU time in ticks of 1/100 s (USER_HZ) on every
/// common architecture; reading it through sysconf would need libc.
const TICKS_PER_SECOND: f64 = 100.0;

/// What to run against and how hard.
#[derive(Debug)]
struct Args {
    /// `ws://host:port/chat/ws`.
    ws_url: String,
    /// `http://host:port`, for the inbox.
    http_base: String,
    /// The server process whose memory and CPU time are read.
    pid: u32,
    /// Websocket sessions held open together.
    sessions: usize,
    /// Follow-up messages in total, spread round-robin over the sessions.
    messages: usize,
    /// Follow-ups offered per second in total; `None`: each session sends
    /// its next one as soon as the previous is acknowledged.
    rate: Option<f64>,
    /// Sessions opened and closed before the memory baseline.
    warmup: usize,
    /// The inbox agent who watches the live events.
    login: String,
    /// Their password.
    password: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let (mut url, mut pid, mut rate) = (None, None, None);
    let (mut sessions, mut messages, mut warmup) = (1000, 10_000, 20);
    let mut login = "load".to_owned();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |what: &str| format!("{flag} takes {what}, not {value:?}");
        match flag.as_str() {
            "--url" => url = Some(value),
            "--pid" => pid = Some(value.parse().with_context(|| number("a process id"))?),
            "--sessions" => sessions = value.parse().with_context(|| number("a count"))?,
            "--messages" => messages = value.parse().with_context(|| number("a count"))?,
            "--warmup" => warmup = value.parse().with_context(|| number("a count"))?,
            "--rate" => {
                let r: f64 = value
                    .parse()
                    .with_context(|| number("messages per second"))?;
                rate = (r > 0.0).then_some(r);
            }
            "--login" => login = value,
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let url = url.with_context(|| format!("--url is required\n{USAGE}"))?;
    let rest = url
        .strip_prefix("ws://")
        .with_context(|| format!("--url must start with ws:// (got {url})"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    ensure!(sessions > 0, "--sessions must be at least 1");
    Ok(Args {
        ws_url: format!("ws://{host}/chat/ws"),
        http_base: format!("http://{host}"),
        pid: pid.with_context(|| format!("--pid is required\n{USAGE}"))?,
        sessions,
        messages,
        rate,
        warmup,
        login,
        password: std::env::var("HANDOFF_AGENT_PASSWORD")
            .context("HANDOFF_AGENT_PASSWORD must hold the inbox agent's password")?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let pid = args.pid.to_string();
    println!(
        "web chat load: {} sessions, {} follow-up messages ({}), server pid {}, {}",
        args.sessions,
        args.messages,
        match args.rate {
            Some(r) => format!("offered at {r} messages/s"),
            None => "each session sends when its previous message is acknowledged".into(),
        },
        args.pid,
        args.ws_url
    );

    // 1. The agent's live view.
    let http = reqwest::Client::new();
    let cookie = sign_in(&http, &args).await?;
    let (live_tx, mut live) = mpsc::unbounded_channel();
    let events = http
        .get(format!("{}/inbox/events", args.http_base))
        .header("cookie", &cookie)
        .send()
        .await
        .context("cannot open /inbox/events")?;
    ensure!(
        events.status().is_success(),
        "/inbox/events answered {}",
        events.status()
    );
    tokio::spawn(read_events(events, live_tx));

    // 2 and 3. Warm up, then memory per idle session.
    let (warm, _) = open_sessions(&args.ws_url, "warmup", args.warmup).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_bytes(&pid)?;
    let started = Instant::now();
    let (sockets, mut welcome) = open_sessions(&args.ws_url, "load", args.sessions).await?;
    let connect_time = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let rss_idle = rss_bytes(&pid)?;
    close_all(warm).await;
    let per_session = (rss_idle as f64 - rss_before as f64) / args.sessions as f64;
    println!(
        "connect: {} sessions in {:.2} s ({} sessions/s); connect + hello -> welcome {}",
        args.sessions,
        connect_time.as_secs_f64(),
        per_second(args.sessions, connect_time),
        welcome.summary()
    );
    println!(
        "memory: server RSS {} with {} warm-up sessions, {} with {} more idle sessions: {:.1} KiB ({:.0} bytes) per idle session",
        mib(rss_before),
        args.warmup,
        mib(rss_idle),
        args.sessions,
        per_session / 1024.0,
        per_session
    );

    // 4. One case per session.
    let escalated = escalate(sockets, &mut live).await?;
    let cases = match_cases(&http, &args.http_base, &cookie, &escalated.cards).await?;
    report_escalation(&escalated, &cases);

    // 5. Follow-ups into the case threads.
    let sockets = escalated.sockets;
    let cpu_before = (cpu_seconds(&pid)?, cpu_seconds("self")?);
    let followed = follow_up(sockets, &cases, &args, &mut live).await;
    let cpu_after = (cpu_seconds(&pid)?, cpu_seconds("self")?);
    report_follow_ups(&followed, &args, cpu_before, cpu_after);
    println!(
        "memory after the load: server RSS {} with {} sessions still open",
        mib(rss_bytes(&pid)?),
        args.sessions
    );
    close_all(followed.sockets).await;
    Ok(())
}

/// Signs the agent in; the session cookie.
async fn sign_in(http: &reqwest::Client, args: &Args) -> anyhow::Result<String> {
    let r = http
        .post(format!("{}/inbox/login", args.http_base))
        .header("x-handoff-inbox", "1")
        .json(&json!({"login": args.login, "password": args.password}))
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.http_base))?;
    ensure!(
        r.status().is_success(),
        "the inbox refused {} ({}): add the agent with `handoff agent add {}`",
        args.login,
        r.status(),
        args.login
    );
    let cookie = r
        .headers()
        .get("set-cookie")
        .context("the inbox set no session cookie")?
        .to_str()?;
    Ok(cookie.split(';').next().unwrap_or(cookie).to_owned())
}

/// One inbox live event, stamped when its bytes arrived.
#[derive(Debug)]
struct Live {
    at: Instant,
    /// `card`, `thread`, `notice` or `reload` (the page fell behind).
    kind: String,
    case: Option<String>,
}

/// Splits the event stream into events. Stamping happens here, on its own
/// task, so a busy consumer does not delay the stamps.
async fn read_events(mut response: reqwest::Response, tx: mpsc::UnboundedSender<Live>) {
    let mut buffer = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let at = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            // Keep-alive comments (`:`) and other fields carry no data.
            for data in block.lines().filter_map(|l| l.strip_prefix("data:")) {
                let v: Value = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
                let event = Live {
                    at,
                    kind: v["type"].as_str().unwrap_or("unparsed").to_owned(),
                    case: v["case"].as_str().map(str::to_owned),
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    }
    eprintln!("webchat_load: the inbox event stream ended");
}

/// Opens `count` sessions named `{prefix}-{i}`, in index order, with each
/// one's time from connecting to `welcome`.
async fn open_sessions(
    url: &str,
    prefix: &str,
    count: usize,
) -> anyhow::Result<(Vec<Ws>, Latencies)> {
    let mut opened: Vec<(usize, Ws, Duration)> = futures::stream::iter(0..count)
        .map(|i| async move {
            let (ws, took) = open_session(url, &format!("{prefix}-{i}"))
                .await
                .with_context(|| format!("session {prefix}-{i}"))?;
            anyhow::Ok((i, ws, took))
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    opened.sort_by_key(|(i, _, _)| *i);
    let mut welcome = Latencies::default();
    let sockets = opened
        .into_iter()
        .map(|(_, ws, took)| {
            welcome.0.push(took);
            ws
        })
        .collect();
    Ok((sockets, welcome))
}

async fn open_session(url: &str, name: &str) -> anyhow::Result<(Ws, Duration)> {
    let started = Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    send(&mut ws, &json!({"type": "hello", "name": name})).await?;
    loop {
        let frame = next_frame(&mut ws).await?;
        match frame["type"].as_str() {
            Some("welcome") => return Ok((ws, started.elapsed())),
            Some("error") => bail!("the server refused the session: {}", refusal(&frame)),
            _ => {}
        }
    }
}

async fn close_all(sockets: Vec<Ws>) {
    futures::future::join_all(sockets.into_iter().map(|mut ws| async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
    }))
    .await;
}

async fn send(ws: &mut Ws, frame: &Value) -> anyhow::Result<()> {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .context("cannot send a frame")
}

async fn next_frame(ws: &mut Ws) -> anyhow::Result<Value> {
    loop {
        let next = tokio::time::timeout(FRAME_TIMEOUT, ws.next())
            .await
            .with_context(|| format!("no frame from the server in {FRAME_TIMEOUT:?}"))?;
        match next {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t)?),
            Some(Ok(Message::Close(_))) | None => bail!("the server closed the connection"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("the websocket failed"),
        }
    }
}

/// An error frame as a sentence, with the setting that lifts a limit.
fn refusal(frame: &Value) -> String {
    let code = frame["code"].as_str().unwrap_or("?");
    let hint = match code {
        "too_many_sessions" => " (raise HANDOFF_WEBCHAT__SESSIONS_PER_IP_PER_HOUR)",
        "rate_limited" => " (raise HANDOFF_WEBCHAT__MESSAGES_PER_MINUTE)",
        _ => "",
    };
    format!("{code}: {}{hint}", frame["message"].as_str().unwrap_or(""))
}

/// Sends a customer message and reads until its ack, skipping the entries
/// pushed meanwhile. `Ok(Err(code))`: the server refused it.
async fn say(ws: &mut Ws, id: &str, text: &str) -> anyhow::Result<Result<(), String>> {
    send(ws, &json!({"type": "message", "id": id, "text": text})).await?;
    loop {
        let frame = next_frame(ws).await?;
        match frame["type"].as_str() {
            Some("ack") if frame["id"] == id => return Ok(Ok(())),
            Some("error") if frame["id"] == id => return Ok(Err(refusal(&frame))),
            _ => {}
        }
    }
}

/// What asking for a person did, per session.
struct Escalated {
    sockets: Vec<Ws>,
    /// When each session sent its request.
    sent: Vec<Instant>,
    acks: Latencies,
    /// From the first request to the last ack.
    ack_window: Duration,
    refused: BTreeMap<String, usize>,
    /// Each `card` event: its case and arrival.
    cards: Vec<(String, Instant)>,
    /// From the first request to the last card.
    card_window: Duration,
}

async fn escalate(
    sockets: Vec<Ws>,
    live: &mut mpsc::UnboundedReceiver<Live>,
) -> anyhow::Result<Escalated> {
    let expected = sockets.len();
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let sent = Instant::now();
                let outcome = say(&mut ws, "ask-for-a-person", ASK_FOR_A_PERSON).await;
                (ws, sent, outcome, Instant::now())
            })
        })
        .collect();
    let mut cards = Vec::new();
    while cards.len() < expected {
        match tokio::time::timeout(QUIET_TIMEOUT, live.recv()).await {
            Ok(Some(e)) if e.kind == "card" => cards.extend(e.case.map(|c| (c, e.at))),
            Ok(Some(e)) => eprintln!("webchat_load: unexpected {} event while escalating", e.kind),
            Ok(None) => bail!("the inbox event stream ended"),
            Err(_) => {
                eprintln!(
                    "webchat_load: only {} of {expected} cards after {QUIET_TIMEOUT:?} without one",
                    cards.len()
                );
                break;
            }
        }
    }
    let card_window = cards
        .last()
        .map_or(Duration::ZERO, |(_, at)| at.duration_since(started));
    let mut out = Escalated {
        sockets: Vec::with_capacity(expected),
        sent: Vec::with_capacity(expected),
        acks: Latencies::default(),
        ack_window: Duration::ZERO,
        refused: BTreeMap::new(),
        cards,
        card_window,
    };
    for task in tasks {
        let (ws, sent, outcome, done) = task.await?;
        match outcome? {
            Ok(()) => out.acks.0.push(done - sent),
            Err(code) => *out.refused.entry(code).or_default() += 1,
        }
        out.ack_window = out.ack_window.max(done.duration_since(started));
        out.sockets.push(ws);
        out.sent.push(sent);
    }
    Ok(out)
}

/// The session of each case, by the customer name on its transcript.
async fn match_cases(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    cards: &[(String, Instant)],
) -> anyhow::Result<HashMap<String, usize>> {
    futures::stream::iter(cards)
        .map(|(case, _)| async move {
            let lines: Value = http
                .get(format!("{base}/inbox/api/cases/{case}/transcript"))
                .header("cookie", cookie)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let session = lines
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| l["author"] == "customer")
                .find_map(|l| l["name"].as_str()?.strip_prefix("load-")?.parse().ok())
                .with_context(|| format!("case {case} names no load session"))?;
            anyhow::Ok((case.clone(), session))
        })
        .buffer_unordered(LOOKUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn report_escalation(e: &Escalated, cases: &HashMap<String, usize>) {
    let mut to_card = Latencies(
        e.cards
            .iter()
            .filter_map(|(case, at)| Some(at.duration_since(e.sent[*cases.get(case)?])))
            .collect(),
    );
    let mut acks = e.acks.clone();
    println!(
        "ask for a person: {} acks in {:.2} s ({} acks/s), ack {}{}",
        acks.0.len(),
        e.ack_window.as_secs_f64(),
        per_second(acks.0.len(), e.ack_window),
        acks.summary(),
        refused_note(&e.refused)
    );
    println!(
        "  cases to the inbox: {} card events in {:.2} s from the first request ({} cards/s), send -> card event {}",
        e.cards.len(),
        e.card_window.as_secs_f64(),
        per_second(e.cards.len(), e.card_window),
        to_card.summary()
    );
}

/// What the follow-ups did.
struct FollowedUp {
    sockets: Vec<Ws>,
    acks: Latencies,
    /// From the first send to the last ack.
    ack_window: Duration,
    refused: BTreeMap<String, usize>,
    /// Failed sessions (transport errors), with the first error.
    broken: Vec<String>,
    /// Send -> `thread` event, per matched event.
    end_to_end: Latencies,
    threads: usize,
    /// From the first send to the last `thread` event.
    thread_window: Duration,
    /// `reload` events: the page fell behind and missed some.
    reloads: usize,
    /// Sends whose session has no matched case (no thread to post in).
    caseless: usize,
}

async fn follow_up(
    sockets: Vec<Ws>,
    cases: &HashMap<String, usize>,
    args: &Args,
    live: &mut mpsc::UnboundedReceiver<Live>,
) -> FollowedUp {
    let n = sockets.len();
    let share = |i: usize| args.messages / n + usize::from(i < args.messages % n);
    let with_case: Vec<bool> = {
        let mut v = vec![false; n];
        for &s in cases.values() {
            if let Some(slot) = v.get_mut(s) {
                *slot = true;
            }
        }
        v
    };
    let expected: usize = (0..n).filter(|&i| with_case[i]).map(share).sum();
    // Send times not yet seen in the inbox, oldest first, per session.
    let in_flight: Arc<Vec<Mutex<VecDeque<Instant>>>> =
        Arc::new((0..n).map(|_| Mutex::new(VecDeque::new())).collect());
    let started = Instant::now();
    let rate = args.rate;
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let in_flight = Arc::clone(&in_flight);
            let count = share(i);
            tokio::spawn(async move {
                let mut acks = Vec::with_capacity(count);
                let mut refused = BTreeMap::<String, usize>::new();
                let mut last = started;
                let mut broken = None;
                for j in 0..count {
                    // Round-robin: message k goes to session k % n.
                    let k = j * n + i;
                    if let Some(rate) = rate {
                        let due = started + Duration::from_secs_f64(k as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let sent = Instant::now();
                    in_flight[i].lock().expect("not poisoned").push_back(sent);
                    let text = format!("follow-up {k}: order 88{k:05} has still not arrived");
                    match say(&mut ws, &format!("m{k}"), &text).await {
                        Ok(Ok(())) => acks.push(sent.elapsed()),
                        Ok(Err(code)) => {
                            in_flight[i].lock().expect("not poisoned").pop_back();
                            *refused.entry(code).or_default() += 1;
                        }
                        Err(e) => {
                            broken = Some(format!("session load-{i}: {e:#}"));
                            break;
                        }
                    }
                    last = Instant::now();
                }
                (ws, acks, refused, last, broken)
            })
        })
        .collect();

    let mut out = FollowedUp {
        sockets: Vec::with_capacity(n),
        acks: Latencies::default(),
        ack_window: Duration::ZERO,
        refused: BTreeMap::new(),
        broken: Vec::new(),
        end_to_end: Latencies::default(),
        threads: 0,
        thread_window: Duration::ZERO,
        reloads: 0,
        caseless: (0..n).filter(|&i| !with_case[i]).map(share).sum(),
    };
    while out.threads < expected {
        let event = match tokio::time::timeout(QUIET_TIMEOUT, live.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                eprintln!("webchat_load: the inbox event stream ended");
                break;
            }
            Err(_) => {
                eprintln!(
                    "webchat_load: only {} of {expected} thread events after {QUIET_TIMEOUT:?} without one",
                    out.threads
                );
                break;
            }
        };
        match event.kind.as_str() {
            "thread" => {
                out.threads += 1;
                out.thread_window = event.at.duration_since(started);
                let sent = event
                    .case
                    .and_then(|c| cases.get(&c).copied())
                    .and_then(|s| in_flight.get(s)?.lock().expect("not poisoned").pop_front());
                if let Some(sent) = sent {
                    out.end_to_end.0.push(event.at.duration_since(sent));
                }
            }
            "reload" => out.reloads += 1,
            other => eprintln!("webchat_load: unexpected {other} event during follow-ups"),
        }
    }
    for task in tasks {
        match task.await {
            Ok((ws, acks, refused, last, broken)) => {
                out.acks.0.extend(acks);
                for (code, count) in refused {
                    *out.refused.entry(code).or_default() += count;
                }
                out.ack_window = out.ack_window.max(last.duration_since(started));
                out.broken.extend(broken);
                out.sockets.push(ws);
            }
            Err(e) => out.broken.push(format!("a session task failed: {e}")),
        }
    }
    out
}

fn report_follow_ups(f: &FollowedUp, args: &Args, cpu_before: (f64, f64), cpu_after: (f64, f64)) {
    let mut acks = f.acks.clone();
    let mut e2e = f.end_to_end.clone();
    let acked = acks.0.len();
    println!(
        "follow-ups: {} sent, {acked} acks in {:.2} s ({} acks/s), ack {}{}",
        args.messages,
        f.ack_window.as_secs_f64(),
        per_second(acked, f.ack_window),
        acks.summary(),
        refused_note(&f.refused)
    );
    println!(
        "  into case threads: {} thread events in {:.2} s from the first send ({} events/s), send -> thread event {}",
        f.threads,
        f.thread_window.as_secs_f64(),
        per_second(f.threads, f.thread_window),
        e2e.summary()
    );
    if f.reloads > 0 || f.caseless > 0 {
        println!(
            "  not counted: {} reload events (the page fell behind), {} follow-ups from sessions without a matched case",
            f.reloads, f.caseless
        );
    }
    let window = f.thread_window.max(f.ack_window).as_secs_f64();
    println!(
        "  CPU from the first follow-up to the last event: server {:.1} s, load client {:.1} s, over {:.1} s on {} cores",
        cpu_after.0 - cpu_before.0,
        cpu_after.1 - cpu_before.1,
        window,
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    );
    for b in f.broken.iter().take(5) {
        println!("  broken: {b}");
    }
}

fn refused_note(refused: &BTreeMap<String, usize>) -> String {
    if refused.is_empty() {
        return String::new();
    }
    let list: Vec<String> = refused.iter().map(|(c, n)| format!("{n} x {c}")).collect();
    format!("; refused: {}", list.join(", "))
}

/// Durations of one kind, for percentiles.
#[derive(Debug, Clone, Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    /// The `p`th percentile by nearest rank.
    fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        Some(self.0[rank.clamp(1, self.0.len()) - 1])
    }

    fn summary(&mut self) -> String {
        let ms =
            |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3));
        format!(
            "p50 {} ms, p99 {} ms, max {} ms",
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0))
        )
    }
}

/// The resident set size of process `pid` (`self` for this one), in bytes.
fn rss_bytes(pid: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .with_context(|| format!("{path} has no VmRSS line"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("{path}: VmRSS is not a number of kB"))?;
    Ok(kib * 1024)
}

/// User plus system CPU time of process `pid` (`self` for this one).
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name (field 2) may hold spaces; count fields after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .with_context(|| format!("{path} is not a stat line"))?
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15; the first after ')' is field 3.
    let ticks = |field: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(field - 3)
            .with_context(|| format!("{path} is too short"))?
            .parse::<f64>()?)
    };
    Ok((ticks(14)? + ticks(15)?) / TICKS_PER_SECOND)
}

/// `count` over `window` as a whole number per second, or `-` for none.
fn per_second(count: usize, window: Duration) -> String {
    if count == 0 || window.is_zero() {
        return "-".into();
    }
    format!("{:.0}", count as f64 / window.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
