// handoff web chat widget. One <script src=".../chat/widget.js"> tag adds a
// launcher button and a chat panel (in a shadow root, so the host page's CSS
// cannot break it). Protocol: docs/webchat-protocol.md. Customer and agent
// text is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";
  if (window.__handoffChat) return;
  var script = document.currentScript;
  var base = new URL(script ? script.src : "/chat/widget.js", location.href);
  var wsUrl = (base.protocol === "https:" ? "wss:" : "ws:") + "//" + base.host + "/chat/ws";
  var store = window.localStorage;
  var KEY = "handoff-chat:" + base.host;

  function load() {
    try { return JSON.parse(store.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  function save() {
    try { store.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode: session only */ }
  }
  // token: session token; seq: last entry shown; pending: sent, not acknowledged.
  var state = load();
  state.pending = state.pending || [];
  state.seq = state.seq || 0;
  var shown = {};      // seq -> true
  var bubbles = {};    // client id -> element
  var identity = window.handoffIdentity || null; // set by the host site, signed by its server

  var host = document.createElement("div");
  host.id = "handoff-chat";
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var css = document.createElement("style");
  css.textContent = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launch{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:#1d4ed8;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}",
    ".launch:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:88px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;z-index:2147483001;color:#111827}",
    ".panel[hidden]{display:none}",
    "header{background:#1d4ed8;color:#fff;padding:14px 16px;display:flex;align-items:center;justify-content:space-between}",
    "header h2{margin:0;font-size:17px}",
    ".status{font-size:12px;opacity:.85}",
    ".close{background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;line-height:1}",
    ".log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:8px;background:#f8fafc}",
    ".msg{max-width:80%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;word-wrap:break-word;font-size:15px;line-height:1.4}",
    ".customer{align-self:flex-end;background:#1d4ed8;color:#fff;border-bottom-right-radius:4px}",
    ".agent,.bot{align-self:flex-start;background:#e5e7eb;border-bottom-left-radius:4px}",
    ".notice{align-self:center;background:transparent;color:#4b5563;font-size:13px;text-align:center}",
    ".who{display:block;font-size:12px;font-weight:600;margin-bottom:2px;color:#374151}",
    ".meta{display:block;font-size:11px;opacity:.75;margin-top:2px}",
    ".failed{background:#fee2e2;color:#7f1d1d}",
    ".alert{background:#fef3c7;color:#78350f;padding:8px 12px;font-size:13px}",
    ".alert[hidden]{display:none}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb;background:#fff}",
    "textarea{flex:1;resize:none;border:1px solid #cbd5e1;border-radius:10px;padding:8px 10px;font-size:15px;max-height:120px}",
    ".send{background:#1d4ed8;color:#fff;border:0;border-radius:10px;padding:0 16px;font-size:15px;cursor:pointer}",
    ".csat{display:flex;gap:6px;justify-content:center;margin-top:6px}",
    ".csat button{width:36px;height:36px;border-radius:50%;border:1px solid #94a3b8;background:#fff;color:#111827;font-size:15px;cursor:pointer}",
    ".csat button[aria-pressed=true]{background:#1d4ed8;color:#fff;border-color:#1d4ed8}",
    ".csat button:disabled{cursor:default}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}"
  ].join("\n");
  root.appendChild(css);

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }

  var launch = el("button", { "class": "launch", "type": "button", "aria-label": "Open support chat", "aria-expanded": "false", "aria-controls": "handoff-panel" }, "\u{1F4AC}");
  var panel = el("section", { "class": "panel", "id": "handoff-panel", "role": "dialog", "aria-label": "Support chat" });
  panel.hidden = true;
  var head = el("header");
  var titles = el("div");
  var title = el("h2", {}, (script && script.dataset.title) || "Support");
  var status = el("div", { "class": "status", "aria-live": "polite" }, "Connecting\u2026");
  titles.appendChild(title); titles.appendChild(status);
  var close = el("button", { "class": "close", "type": "button", "aria-label": "Close chat" }, "\u00D7");
  head.appendChild(titles); head.appendChild(close);
  var alertBox = el("div", { "class": "alert", "role": "alert" });
  alertBox.hidden = true;
  var log = el("div", { "class": "log", "role": "log", "aria-live": "polite", "aria-label": "Conversation", "tabindex": "0" });
  var form = el("form");
  var label = el("label", { "for": "handoff-input", "class": "sr" }, "Your message");
  var input = el("textarea", { "id": "handoff-input", "rows": "1", "placeholder": "Type your message\u2026", "maxlength": "4000" });
  var sendBtn = el("button", { "class": "send", "type": "submit" }, "Send");
  form.appendChild(label); form.appendChild(input); form.appendChild(sendBtn);
  panel.appendChild(head); panel.appendChild(alertBox); panel.appendChild(log); panel.appendChild(form);
  root.appendChild(launch); root.appendChild(panel);

  function open() {
    panel.hidden = false;
    launch.setAttribute("aria-expanded", "true");
    input.focus();
    log.scrollTop = log.scrollHeight;
  }
  function shut() {
    panel.hidden = true;
    launch.setAttribute("aria-expanded", "false");
    launch.focus();
  }
  launch.addEventListener("click", function () { panel.hidden ? open() : shut(); });
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") shut(); });

  function showAlert(text) {
    alertBox.textContent = text;
    alertBox.hidden = !text;
  }

  function bubble(author, name, text, kind) {
    var b = el("div", { "class": "msg " + (kind === "notice" ? "notice" : author) });
    if (author === "agent" && name && kind !== "notice") b.appendChild(el("span", { "class": "who" }, name));
    b.appendChild(document.createTextNode(text));
    log.appendChild(b);
    log.scrollTop = log.scrollHeight;
    return b;
  }

  function setMeta(b, text) {
    var m = b.querySelector(".meta");
    if (!m) { m = el("span", { "class": "meta" }); b.appendChild(m); }
    m.textContent = text;
  }

  // The rating question (after a resolved notice): five labelled buttons.
  // The customer's own rating comes back as a "rating" entry, which marks
  // the question answered here and in every other tab.
  var lastCsat = null;
  function rated(score) {
    if (!lastCsat) return;
    lastCsat.querySelectorAll("button").forEach(function (b) {
      b.disabled = true;
      b.setAttribute("aria-pressed", b.dataset.score === String(score) ? "true" : "false");
    });
    setMeta(lastCsat, "Thanks for your rating.");
  }
  function csat(text) {
    var b = bubble("bot", null, text, "notice");
    var group = el("div", { "class": "csat", "role": "group", "aria-label": "Rate from 1 (bad) to 5 (great)" });
    for (var i = 1; i <= 5; i++) {
      var btn = el("button", { "type": "button", "aria-label": "Rate " + i + " of 5", "data-score": String(i) }, String(i));
      btn.addEventListener("click", function (ev) {
        var score = Number(ev.currentTarget.dataset.score);
        if (frame({ type: "rate", id: newId(), score: score })) rated(score);
        else showAlert("Not connected: please try again in a moment.");
      });
      group.appendChild(btn);
    }
    b.appendChild(group);
    log.scrollTop = log.scrollHeight;
    lastCsat = b;
  }

  function onEntry(e) {
    if (shown[e.seq]) return;
    shown[e.seq] = true;
    if (e.kind === "csat") {
      csat(e.text);
    } else if (e.kind === "rating") {
      rated(Number(e.text));
    } else if (e.client_id && bubbles[e.client_id]) {
      setMeta(bubbles[e.client_id], "Sent");
    } else {
      var b = bubble(e.author, e.name, e.text, e.kind);
      if (e.client_id) { bubbles[e.client_id] = b; setMeta(b, "Sent"); }
    }
    if (e.seq > state.seq) { state.seq = e.seq; save(); }
  }

  var ws = null, ready = false, retry = 0, greeted = false;

  function frame(obj) {
    if (ws && ready && ws.readyState === 1) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function submit(text) {
    var id = newId();
    state.pending.push({ id: id, text: text });
    save();
    var b = bubble("customer", null, text, "message");
    bubbles[id] = b;
    setMeta(b, "Sending\u2026");
    frame({ type: "message", id: id, text: text });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.replace(/\s+$/, "");
    if (!text.trim()) return;
    input.value = "";
    submit(text);
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });

  function dropPending(id) {
    state.pending = state.pending.filter(function (p) { return p.id !== id; });
    save();
  }

  function connect() {
    ready = false;
    status.textContent = "Connecting\u2026";
    ws = new WebSocket(wsUrl);
    ws.onopen = function () {
      var hello = { type: "hello", last_seq: state.seq };
      if (state.token) hello.token = state.token;
      if (identity) hello.identity = identity;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = function (m) {
      var f;
      try { f = JSON.parse(m.data); } catch (e) { return; }
      if (f.type === "welcome") {
        ready = true; retry = 0;
        status.textContent = "Online";
        showAlert("");
        if (f.token) { state.token = f.token; state.seq = 0; save(); }
        if (f.limits) input.setAttribute("maxlength", String(f.limits.max_message_chars));
        if (f.greeting && !greeted && state.seq === 0) { greeted = true; bubble("bot", null, f.greeting, "notice"); }
        // Resend what the server never acknowledged; it deduplicates.
        state.pending.forEach(function (p) {
          if (!bubbles[p.id]) { bubbles[p.id] = bubble("customer", null, p.text, "message"); setMeta(bubbles[p.id], "Sending\u2026"); }
          frame({ type: "message", id: p.id, text: p.text });
        });
      } else if (f.type === "ack") {
        dropPending(f.id);
        if (bubbles[f.id]) setMeta(bubbles[f.id], "Sent");
      } else if (f.type === "entry") {
        onEntry(f);
      } else if (f.type === "error") {
        if (f.id && (f.code === "too_large" || f.code === "rate_limited" || f.code === "bad_frame")) {
          dropPending(f.id);
          if (bubbles[f.id]) { bubbles[f.id].classList.add("failed"); setMeta(bubbles[f.id], "Not sent"); }
        }
        if (f.code === "unknown_session") { state.seq = 0; save(); }
        showAlert(f.message + (f.retry_after ? " (" + f.retry_after + " s)" : ""));
      }
    };
    ws.onclose = function () {
      ready = false;
      status.textContent = "Reconnecting\u2026";
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, Math.round(500 * Math.pow(2, retry - 1) * (0.5 + Math.random())));
    };
  }

  (document.body || document.documentElement).appendChild(host);
  window.__handoffChat = { open: open, close: shut, send: submit };
  connect();
  if (script && script.dataset.open === "true") open();
})();
