//! The product's whole story in a real browser, as the two people in it see
//! it: a customer on the chat page and an agent in the inbox, side by side
//! in headless Chromium. Everything goes through the pages' own JavaScript
//! (the widget's shadow DOM, the inbox's login form, cards and reply box),
//! driven by mouse clicks and typing, so a button that does nothing or a
//! message that never shows fails here even when the HTTP API is right.
//!
//! One backend is enough: `web_story.rs` already runs the same story over
//! the raw interfaces on both. Chromium comes from `scripts/chromium.sh`;
//! without it the test is skipped locally and fails in CI.

#[path = "browser/cdp.rs"]
mod cdp;
mod common;

use common::story::{PASSWORD, Running};

use std::path::{Path, PathBuf};
use std::time::Instant;

use cdp::{Browser, Page};
use handoff::store::Store;

/// The widget's shadow root, once the widget script has run. The widget
/// loads `async`, so every expression must cope with it not being there.
const WIDGET: &str = "document.querySelector('#handoff-chat')?.shadowRoot";

/// What the customer sees, for failure messages: the connection status, any
/// alert, and every bubble with its kind.
const CUSTOMER_SEES: &str = "(() => {
  const root = document.querySelector('#handoff-chat')?.shadowRoot;
  if (!root) return 'no widget yet; the page says: ' + document.body.innerText;
  return [...root.querySelectorAll('.status, .alert:not([hidden]), .msg')]
    .map((e) => '[' + e.className + '] ' + e.innerText).join('\\n');
})()";

/// What the agent sees, for failure messages.
const AGENT_SEES: &str = "document.body.innerText";

/// An element of the widget, by CSS selector.
fn in_widget(selector: &str) -> String {
    format!("{WIDGET}?.querySelector({selector:?})")
}

/// Whether the widget shows a bubble of `kind` (`customer`, `agent`,
/// `notice`…) whose own text, leaving out the name and status lines,
/// satisfies the JavaScript condition `test` on `text`.
fn widget_bubble(kind: &str, test: &str) -> String {
    format!(
        "[...({WIDGET})?.querySelectorAll('.msg.{kind}') ?? []].some((b) => {{
           const text = [...b.childNodes].filter((n) => n.nodeType === 3)
             .map((n) => n.textContent).join('');
           const who = b.querySelector('.who')?.textContent ?? null;
           const meta = b.querySelector('.meta')?.textContent ?? null;
           return {test};
         }})"
    )
}

/// The button labelled `label` on the one case card in the inbox.
fn card_button(label: &str) -> String {
    format!(
        "[...document.querySelectorAll('#cards article.card button')]\
         .find((b) => b.textContent === {label:?})"
    )
}

/// The app with Alice and Bob; its `base` is `127.0.0.1:PORT`.
async fn start<S: Store>(store: S) -> Running {
    common::story::serve(store, common::story::team_config()).await
}

/// `target/browser-artifacts`, emptied of an earlier run's failure shots so
/// that what is there belongs to this run.
fn artefact_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    for stale in ["customer-failure.png", "agent-failure.png"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    dir
}

/// Saves `page`'s screenshot as `dir/name` and checks it is a real PNG.
async fn keep_screenshot(page: &Page, dir: &Path, name: &str) {
    let png = page.screenshot().await;
    let path = dir.join(name);
    std::fs::write(&path, &png).unwrap();
    let saved = std::fs::read(&path).unwrap();
    assert!(
        saved.len() > 8 && saved.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG ({} bytes)",
        path.display(),
        saved.len()
    );
    eprintln!("saved {} ({} bytes)", path.display(), saved.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_and_an_agent_play_the_whole_story_in_chromium() {
    let Some(chromium) = cdp::find_chromium() else {
        // CI installs Chromium, so there its absence is a broken setup, not
        // a reason to pass quietly.
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed; scripts/chromium.sh should have installed it");
        }
        eprintln!(
            "note: no chromium here, so the browser story is skipped; run scripts/chromium.sh"
        );
        return;
    };
    let began = Instant::now();
    let (store, _db) = common::sqlite_store().await;
    let app = start(store).await;
    let base = &format!("http://{}", app.base);
    let artefacts = artefact_dir();
    let browser = Browser::launch(&chromium, &artefacts).await;
    eprintln!("driving {}", browser.version().await);

    // The customer lands on the demo page, which opens the chat by itself;
    // the launcher closes and reopens it.
    let customer = browser
        .open("customer", &format!("{base}/chat"), CUSTOMER_SEES)
        .await;
    let panel_open = format!("{} === false", in_widget(".panel") + "?.hidden");
    customer
        .wait_until("the chat panel to open", &panel_open)
        .await;
    customer
        .click("the launcher", &in_widget("button.launch"))
        .await;
    customer
        .wait_until(
            "the launcher to close the panel",
            &(in_widget(".panel") + "?.hidden === true"),
        )
        .await;
    customer
        .click("the launcher", &in_widget("button.launch"))
        .await;
    customer
        .wait_until("the launcher to reopen the panel", &panel_open)
        .await;
    customer
        .wait_until(
            "the widget to connect",
            &(in_widget(".status") + "?.textContent === 'Online'"),
        )
        .await;

    // Alice is at work in the inbox before the customer asks for anyone, so
    // the card reaches her page live.
    let inbox = browser
        .open("agent", &format!("{base}/inbox"), AGENT_SEES)
        .await;
    inbox
        .wait_until(
            "the sign-in form",
            "document.getElementById('login').hidden === false",
        )
        .await;
    inbox
        .type_into(
            "the login field",
            "document.getElementById('l-login')",
            "alice",
        )
        .await;
    inbox
        .type_into(
            "the password field",
            "document.getElementById('l-password')",
            PASSWORD,
        )
        .await;
    inbox
        .click(
            "Sign in",
            "document.querySelector('#login button[type=submit]')",
        )
        .await;
    inbox
        .wait_until(
            "Alice to be signed in",
            "document.getElementById('me').textContent === 'Signed in as Alice' \
             && document.getElementById('app').hidden === false",
        )
        .await;

    // The customer says hello with the Send button, then asks for a person
    // with Enter, as most people do.
    let field = in_widget("#handoff-input");
    customer.type_into("the chat box", &field, "hi").await;
    customer.click("Send", &in_widget("button.send")).await;
    customer
        .wait_until(
            "\"hi\" to be sent",
            &widget_bubble("customer", "text === 'hi' && meta === 'Sent'"),
        )
        .await;
    assert_eq!(
        customer.eval(&format!("{field}.value")).await,
        "",
        "sending empties the chat box"
    );
    let ask = "can I talk to a real person please";
    customer.type_into("the chat box", &field, ask).await;
    customer.press_enter().await;
    customer
        .wait_until(
            "the request to be sent",
            &widget_bubble("customer", &format!("text === {ask:?} && meta === 'Sent'")),
        )
        .await;
    customer
        .wait_until(
            "the bot to say a person is coming",
            &widget_bubble("notice", "text.startsWith('As you asked')"),
        )
        .await;

    // Alice sees the card, claims it, and the customer is told she joined.
    let cards = "document.querySelectorAll('#cards article.card').length";
    inbox
        .wait_until("the case card", &format!("{cards} > 0"))
        .await;
    assert_eq!(inbox.eval(cards).await, 1, "one customer, one case");
    inbox.click("Claim", &card_button("Claim")).await;
    inbox
        .wait_until(
            "the card to show Alice's claim",
            &format!("{} && !{}", card_button("Release"), card_button("Claim")),
        )
        .await;
    customer
        .wait_until(
            "the customer to hear Alice joined",
            &widget_bubble(
                "notice",
                "text === 'Alice from our team has joined the conversation.'",
            ),
        )
        .await;

    // She opens the case, reads the conversation and answers.
    inbox.click("Open", &card_button("Open")).await;
    inbox
        .wait_until(
            "the conversation to show",
            &format!(
                "[...document.querySelectorAll('#case .line.customer')]\
                 .some((l) => l.textContent.includes({ask:?})) \
                 && document.getElementById('reply-text')"
            ),
        )
        .await;
    inbox
        .type_into(
            "the reply box",
            "document.getElementById('reply-text')",
            "Hello from Alice",
        )
        .await;
    inbox
        .click(
            "Send",
            "document.querySelector('#case form.reply button[type=submit]')",
        )
        .await;
    customer
        .wait_until(
            "Alice's answer in the chat",
            &widget_bubble("agent", "who === 'Alice' && text === 'Hello from Alice'"),
        )
        .await;
    // The page follows its own reply until it has reached the customer.
    inbox
        .wait_until(
            "the inbox to show the answer as delivered",
            "[...document.querySelectorAll('#case .line.agent')].some((l) => \
               l.textContent.includes('Hello from Alice') \
               && l.querySelector('.who').textContent.endsWith('delivered'))",
        )
        .await;

    // Resolving tells the customer and moves the card out of the open list.
    inbox.click("Resolve", &card_button("Resolve")).await;
    customer
        .wait_until(
            "the customer to be told it is resolved",
            &widget_bubble("notice", "text.includes('marked as resolved')"),
        )
        .await;
    inbox
        .wait_until("the card to leave the open list", &format!("{cards} === 0"))
        .await;
    inbox
        .eval(
            "(() => { const s = document.getElementById('f-state'); \
             s.value = 'resolved'; s.dispatchEvent(new Event('change')); })()",
        )
        .await;
    inbox
        .wait_until(
            "the card under Resolved",
            "document.querySelector('#cards article.card.resolved')",
        )
        .await;

    // The customer rates the help; the card shows the rating.
    customer
        .click(
            "Rate 4 of 5",
            &format!("{WIDGET}?.querySelector('.csat button[data-score=\"4\"]')"),
        )
        .await;
    customer
        .wait_until(
            "the rating to be thanked",
            &widget_bubble("notice", "meta === 'Thanks for your rating.'"),
        )
        .await;
    inbox
        .wait_until(
            "the card to show the rating",
            "document.querySelector('#cards article.card.resolved')?.innerText.includes('4 / 5')",
        )
        .await;

    keep_screenshot(&customer, &artefacts, "customer.png").await;
    keep_screenshot(&inbox, &artefacts, "agent.png").await;

    // The browser goes first: its open websocket and event stream would
    // otherwise hold the server's graceful shutdown.
    browser.close().await;
    app.shutdown.cancel();
    tokio::time::timeout(cdp::PATIENCE, app.server)
        .await
        .expect("the server stops once asked")
        .unwrap();
    eprintln!("the browser story took {:.1?}", began.elapsed());
}

#[test]
fn base64_decodes_as_screenshots_need() {
    assert_eq!(cdp::decode_base64("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
    assert_eq!(cdp::decode_base64("aGk"), b"hi");
    assert_eq!(cdp::decode_base64(""), b"");
}
