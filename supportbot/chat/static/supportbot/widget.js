/*
 * Supportbot chat widget. One script tag on any site:
 *   <script src="https://HOST/static/supportbot/widget.js" data-key="WIDGET_KEY" defer></script>
 * Plain JavaScript, no build step. Everything lives in a Shadow DOM so the host page's styles can't reach in
 * and ours can't leak out. Text from the server is always inserted as text, never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='widget.js']");
  if (!script || window.__supportbotLoaded) return;
  window.__supportbotLoaded = true;

  var KEY = script.getAttribute("data-key") || "";
  var SERVER = new URL(script.src, location.href);
  var WS_URL = (SERVER.protocol === "https:" ? "wss://" : "ws://") + SERVER.host + "/ws/chat/";
  var STORE = "supportbot:" + KEY + ":";
  // The widget's language: data-lang on the script tag, else the page's <html lang>, else the browser's.
  var LANG = (script.getAttribute("data-lang") || document.documentElement.getAttribute("lang") ||
    navigator.language || "en").toLowerCase().split(/[-_]/)[0];
  // Interface text is written in English here and looked up in TEXT, which holds the server's translations
  // (GET /api/widget/strings, Django's catalogues) once they arrive; anything missing stays English.
  var TEXT = {};
  function t(english, values) {
    var text = TEXT[english] || english;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }
  function loadStrings(done) {
    if (LANG === "en" || !window.fetch) { LANG = "en"; done(); return; }
    var finished = false, finish = function () { if (!finished) { finished = true; done(); } };
    setTimeout(finish, 3000);  // a slow or missing server never keeps the chat from starting
    fetch(new URL("/api/widget/strings?lang=" + encodeURIComponent(LANG) + "&key=" + encodeURIComponent(KEY), SERVER))
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data && !finished) { LANG = data.lang; TEXT = data.strings || {}; } })
      .catch(function () { /* English it is */ })
      .then(function () { if (!TEXT || !Object.keys(TEXT).length) LANG = "en"; finish(); });
  }
  function timeLabel(date) {
    try { return new Intl.DateTimeFormat(LANG, { hour: "numeric", minute: "2-digit" }).format(date); }
    catch (e) { return date.toLocaleTimeString(); }
  }
  function fullDate(date) {
    try { return new Intl.DateTimeFormat(LANG, { dateStyle: "full", timeStyle: "short" }).format(date); }
    catch (e) { return date.toString(); }
  }
  var REASONS = [["wrong", "Wrong"], ["incomplete", "Incomplete"], ["not_relevant", "Not relevant"],
    ["outdated", "Outdated"], ["unsafe", "Unsafe"], ["other", "Other"]];
  // Error frames by code, in the visitor's language; other codes show the server's (English) detail.
  var ERRORS = {
    empty_message: "The message is empty.",
    message_too_long: "That message is too long. Please shorten it.",
    conversation_closed: "This conversation is closed. Reload the page to start a new one.",
    invalid_email: "That does not look like an email address.",
    internal_error: "Something went wrong on our side. Your message was kept.",
    rate_limited: "You're sending messages too quickly. Please wait a moment."
  };
  // The daily answering budget is spent (or cannot be checked): answers still come, from the articles alone.
  var BUDGET_NOTICE = "For now, answers come straight from the help centre articles. A human can help: use “Talk to a human”.";
  var CONFIDENCE = {
    high: ["Confident", "The help centre clearly supports this answer."],
    medium: ["Fairly sure", "The help centre supports most of this answer; check the sources."],
    low: ["Not sure", "The help centre may not cover this. A human can help."]
  };

  function remember(name, value) { try { localStorage.setItem(STORE + name, value); } catch (e) { /* private mode */ } }
  function recall(name) { try { return localStorage.getItem(STORE + name) || ""; } catch (e) { return ""; } }
  function randomId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), attrs[name]);
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function safeUrl(raw) {
    try {
      var url = new URL(raw, SERVER);
      return (url.protocol === "http:" || url.protocol === "https:") ? url.href : null;
    } catch (e) { return null; }
  }

  // --- A small Markdown subset rendered with DOM nodes: paragraphs, lists, **bold**, *em*, `code`, links, [n].
  function renderInline(parent, text, citations) {
    var pattern = /(\*\*[^*]+\*\*|`[^`]+`|\*[^*\s][^*]*\*|\[[^\]]+\]\([^)\s]+\)|\[\d+\])/g;
    var last = 0, match;
    while ((match = pattern.exec(text))) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var token = match[0];
      if (token.slice(0, 2) === "**") parent.appendChild(el("strong", { text: token.slice(2, -2) }));
      else if (token[0] === "`") parent.appendChild(el("code", { text: token.slice(1, -1) }));
      else if (token[0] === "*") parent.appendChild(el("em", { text: token.slice(1, -1) }));
      else if (/^\[\d+\]$/.test(token)) parent.appendChild(citationMark(token.slice(1, -1), citations));
      else {
        var parts = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(token), href = safeUrl(parts[2]);
        parent.appendChild(href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: parts[1] })
          : document.createTextNode(parts[1]));
      }
      last = pattern.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function citationMark(n, citations) {
    var found = (citations || []).filter(function (c) { return String(c.n) === n; })[0];
    var href = found && safeUrl(found.url);
    if (!href) return document.createTextNode("");
    return el("a", { class: "mark", href: href, target: "_blank", rel: "noopener noreferrer",
      "aria-label": t("Source {n}: {title}", { n: n, title: found.title }), text: "[" + n + "]" });
  }
  function renderMarkdown(text, citations) {
    var box = el("div", { class: "md" }), list = null;
    text.split(/\n/).forEach(function (line) {
      var item = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(line);
      if (item) {
        if (!list) { list = el(/^\s*\d/.test(line) ? "ol" : "ul"); box.appendChild(list); }
        var li = el("li"); renderInline(li, item[1], citations); list.appendChild(li);
        return;
      }
      list = null;
      if (line.trim()) { var p = el("p"); renderInline(p, line.replace(/^#+\s*/, ""), citations); box.appendChild(p); }
    });
    return box;
  }

  // Drawn, not emoji: many systems (and headless browsers) have no emoji font.
  function thumbIcon(down) {
    var NS = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "16"); svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    if (down) svg.setAttribute("transform", "rotate(180)");
    var path = document.createElementNS(NS, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M2 21h4V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z");
    svg.appendChild(path);
    return svg;
  }

  var STYLE = [
    ":host{all:initial;--accent:#3558e6;--bg:#fff;--fg:#1b1f24;--muted:#5b6470;--bubble:#f1f3f6;--border:#d8dde3;",
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg)}",
    ":host(.dark){--bg:#1d2025;--fg:#e8eaed;--muted:#a3abb5;--bubble:#2b3038;--border:#3a404a}",
    "*{box-sizing:border-box}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;",
    "background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer;box-shadow:0 4px 16px rgba(0,0,0,.25)}",
    ".launcher:focus-visible,button:focus-visible,textarea:focus-visible,a:focus-visible,select:focus-visible,input:focus-visible",
    "{outline:3px solid #ffbf47;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:84px;z-index:2147483001;width:380px;height:560px;max-height:calc(100vh - 110px);",
    "display:flex;flex-direction:column;background:var(--bg);color:var(--fg);border:1px solid var(--border);border-radius:14px;",
    "box-shadow:0 10px 40px rgba(0,0,0,.28);overflow:hidden}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--accent);color:#fff}",
    "header h2{flex:1;margin:0;font-size:16px}",
    "header button{background:transparent;border:0;color:#fff;font-size:20px;cursor:pointer;line-height:1}",
    ".status{font-size:12px;opacity:.85}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px}",
    ".msg{max-width:88%;padding:8px 11px;border-radius:12px;background:var(--bubble);word-wrap:break-word}",
    ".msg.visitor{align-self:flex-end;background:var(--accent);color:#fff}",
    ".msg.agent{border-left:3px solid var(--accent)}",
    ".msg.system,.notice{align-self:center;background:transparent;color:var(--muted);font-size:13px;text-align:center}",
    ".who{display:block;font-size:12px;color:var(--muted);margin-bottom:2px}",
    ".time{font-size:11px;color:var(--muted);margin-left:auto}.msg.visitor .time,.msg.agent .time{display:block;text-align:right}",
    ".msg.visitor .time{color:rgba(255,255,255,.8)}",
    // Korean wraps between words, not inside them.
    ":host([lang=ko]) .msg{word-break:keep-all;overflow-wrap:anywhere}",
    ".md p{margin:0 0 6px}.md p:last-child{margin:0}.md ul,.md ol{margin:4px 0 6px;padding-left:20px}",
    ".md code{font:13px ui-monospace,monospace;background:rgba(127,127,127,.18);padding:1px 4px;border-radius:4px}",
    "a{color:inherit}.mark{font-size:11px;vertical-align:super;text-decoration:none;margin-left:1px}",
    ".sources{margin:6px 0 0;padding-left:18px;font-size:13px}.sources a{color:var(--accent)}",
    ":host(.dark) .sources a{color:#9db4ff}",
    ".meta{display:flex;align-items:center;gap:6px;margin-top:6px;flex-wrap:wrap}",
    ".badge{font-size:12px;padding:2px 8px;border-radius:10px;border:1px solid var(--border);color:var(--muted)}",
    ".badge.high{color:#137333;border-color:#137333}.badge.low{color:#b3261e;border-color:#b3261e}",
    ":host(.dark) .badge.high{color:#81c995;border-color:#81c995}:host(.dark) .badge.low{color:#f28b82;border-color:#f28b82}",
    ".thumb{display:inline-flex;align-items:center;border:1px solid var(--border);background:transparent;color:var(--fg);",
    "border-radius:8px;cursor:pointer;padding:3px 8px;font:inherit;font-size:12px}",
    ".thumb[aria-pressed=true]{background:var(--accent);color:#fff;border-color:var(--accent)}",
    ".reason{display:flex;gap:6px;margin-top:6px;flex-wrap:wrap}",
    ".reason select,.reason input{font:inherit;font-size:13px;padding:3px;border:1px solid var(--border);border-radius:6px;",
    "background:var(--bg);color:var(--fg)}",
    ".reason button,.contact button{font:inherit;font-size:13px;border:0;border-radius:6px;background:var(--accent);color:#fff;padding:4px 10px;cursor:pointer}",
    ".contact{display:flex;gap:6px;align-self:stretch}.contact input{flex:1;font:inherit;padding:6px;border:1px solid var(--border);border-radius:6px}",
    "form.compose{display:flex;gap:8px;padding:10px;border-top:1px solid var(--border)}",
    "textarea{flex:1;resize:none;font:inherit;padding:8px;border:1px solid var(--border);border-radius:8px;background:var(--bg);color:var(--fg)}",
    "form.compose button{border:0;border-radius:8px;background:var(--accent);color:#fff;font:inherit;padding:0 14px;cursor:pointer}",
    // CSAT survey (issue #15)
    ".csat{align-self:stretch;border:1px solid var(--border);border-radius:10px;padding:10px;margin:0;display:flex;flex-direction:column;gap:8px}",
    ".csat .ask{font-size:14px;font-weight:600}.csat .scores{display:flex;gap:6px;align-items:center;flex-wrap:wrap}",
    ".csat .score{min-width:34px;border:1px solid var(--border);border-radius:8px;background:transparent;color:var(--fg);font:inherit;padding:4px 0;cursor:pointer}",
    ".csat .score[aria-pressed=true]{background:var(--accent);color:#fff;border-color:var(--accent)}",
    ".csat .ends{font-size:12px;color:var(--muted)}.csat input{font:inherit;font-size:13px;padding:5px;border:1px solid var(--border);border-radius:6px;background:var(--bg);color:var(--fg)}",
    ".csat button[type=submit]{align-self:flex-start;font:inherit;font-size:13px;border:0;border-radius:6px;background:var(--accent);color:#fff;padding:4px 10px;cursor:pointer}",
    ".human{margin:0 10px 10px;border:1px solid var(--border);border-radius:8px;background:transparent;color:var(--fg);font:inherit;",
    "font-size:13px;padding:6px;cursor:pointer}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100vh;max-height:none;border-radius:0}}"
  ].join("");

  // The host page's Content-Security-Policy decides whether a <style> element may apply: without 'unsafe-inline'
  // in its style-src it is refused, and the widget would be unstyled. A constructed stylesheet is not an inline
  // style, so no CSP blocks it; only browsers without constructable stylesheets get the <style> element.
  function adoptStyle(root) {
    try {
      if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(STYLE);
        root.adoptedStyleSheets = [sheet];
        return;
      }
    } catch (e) { /* no constructable stylesheets here: the fallback below */ }
    root.appendChild(el("style", { text: STYLE }));
  }

  function pageIsDark() {
    var probe = [document.body, document.documentElement];
    for (var i = 0; i < probe.length; i++) {
      var rgb = /rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?/.exec(getComputedStyle(probe[i]).backgroundColor || "");
      if (rgb && rgb[4] !== "0") return (0.2126 * rgb[1] + 0.7152 * rgb[2] + 0.0722 * rgb[3]) < 128;
    }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function Widget() {
    this.host = el("div", { id: "supportbot-widget" });
    this.root = this.host.attachShadow({ mode: "open" });
    adoptStyle(this.root);
    // The visitor id is the server's (signed for this widget): none until the first session answer gives one.
    this.visitor = recall("visitor");
    this.conversation = recall("conversation");
    this.outbox = [];
    this.pending = {};
    this.bubbles = {};
    this.retry = 0;
    var self = this;
    // The interface is drawn once its strings are known, so nothing flashes in English first.
    loadStrings(function () {
      self.build();
      document.body.appendChild(self.host);
      self.theme();
      self.connect();
    });
  }

  Widget.prototype.build = function () {
    var self = this;
    this.host.setAttribute("lang", LANG);
    this.launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false",
      "aria-controls": "sb-panel", text: t("Chat with us"), onclick: function () { self.toggle(); } });
    this.title = el("h2", { id: "sb-title", text: t("Support") });
    this.statusLine = el("span", { class: "status", "aria-live": "polite" });
    this.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions" });
    this.input = el("textarea", { rows: "2", "aria-label": t("Your question"), placeholder: t("Ask a question…"),
      maxlength: "4000" });
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); self.submit(); }
    });
    var form = el("form", { class: "compose", onsubmit: function (event) { event.preventDefault(); self.submit(); } },
      [this.input, el("button", { type: "submit", text: t("Send") })]);
    this.humanButton = el("button", { class: "human", type: "button", text: t("Talk to a human"),
      onclick: function () { self.send({ type: "escalate" }); } });
    this.panel = el("div", { class: "panel", id: "sb-panel", role: "dialog", "aria-labelledby": "sb-title", hidden: "" }, [
      el("header", {}, [this.title, this.statusLine,
        el("button", { type: "button", "aria-label": t("Close chat"), text: "×", onclick: function () { self.toggle(false); } })]),
      this.log, form, this.humanButton]);
    this.panel.addEventListener("keydown", function (event) { if (event.key === "Escape") self.toggle(false); });
    this.root.appendChild(this.launcher);
    this.root.appendChild(this.panel);
  };

  Widget.prototype.theme = function () {
    var self = this, apply = function () { self.host.classList.toggle("dark", pageIsDark()); };
    apply();
    if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
  };

  Widget.prototype.toggle = function (open) {
    var show = open === undefined ? this.panel.hasAttribute("hidden") : open;
    if (show) { this.panel.removeAttribute("hidden"); this.input.focus(); }
    else { this.panel.setAttribute("hidden", ""); this.launcher.focus(); }
    this.launcher.setAttribute("aria-expanded", String(show));
  };

  // --- Connection: a fresh session token (POST /api/widget/session) for every connect, then the websocket;
  // reconnect with backoff, resume the conversation, never drop what the visitor sent.
  Widget.prototype.connect = function () {
    var self = this;
    this.setStatus("Connecting…");
    this.sessionToken().then(function (session) {
      if (!session) { self.setStatus("Chat unavailable on this site"); return; }
      if (session.visitor_id !== self.visitor) {
        // A new id (a first visit, or an id the server did not issue): the stored conversation was not this
        // visitor's, so it is not asked for.
        self.conversation = "";
        remember("conversation", "");
      }
      self.visitor = session.visitor_id;
      remember("visitor", self.visitor);
      self.open(session.token);
    }, function (error) { self.reconnect((error && error.retryAfter) || 0); });
  };

  // Resolves to {token, visitor_id}, or to null when this site may not use the widget (no point retrying).
  Widget.prototype.sessionToken = function () {
    return fetch(new URL("/api/widget/session", SERVER).href, {
      method: "POST", credentials: "omit", cache: "no-store", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(this.visitor ? { key: KEY, visitor: this.visitor } : { key: KEY })
    }).then(function (response) {
      if (response.status === 403 || response.status === 404) return null;
      if (response.status === 429) {  // too many token requests from here: wait as long as the server says
        var error = new Error("session token: HTTP 429");
        error.retryAfter = parseInt(response.headers.get("Retry-After"), 10) || 60;
        throw error;
      }
      if (!response.ok) throw new Error("session token: HTTP " + response.status);
      return response.json();
    });
  };

  Widget.prototype.open = function (token) {
    var self = this;
    var query = "?key=" + encodeURIComponent(KEY) + "&visitor=" + encodeURIComponent(this.visitor) +
      "&token=" + encodeURIComponent(token) + (LANG ? "&lang=" + encodeURIComponent(LANG) : "") +
      (this.conversation ? "&conversation=" + encodeURIComponent(this.conversation) : "");
    var socket = this.socket = new WebSocket(WS_URL + query);
    socket.onmessage = function (event) {
      var frame; try { frame = JSON.parse(event.data); } catch (e) { return; }
      self.handle(frame);
    };
    socket.onclose = function (event) {
      if (event.code === 4403 || event.code === 4404) { self.setStatus("Chat unavailable on this site"); return; }
      // 4429: too many new conversations from here; the error frame said how long to wait.
      self.reconnect(event.code === 4429 ? self.retryAfter : 0);
    };
  };

  Widget.prototype.reconnect = function (waitSeconds) {
    var self = this;
    var backoff = Math.min(30000, 1000 * Math.pow(2, this.retry++)) * (0.75 + Math.random() / 2);
    this.setStatus("Reconnecting…");
    setTimeout(function () { self.connect(); }, Math.max(backoff, 1000 * (waitSeconds || 0)));
  };

  Widget.prototype.setStatus = function (text) { this.statusLine.textContent = t(text); };

  Widget.prototype.send = function (frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN && this.ready) this.socket.send(JSON.stringify(frame));
    else this.outbox.push(frame);
  };

  Widget.prototype.submit = function () {
    var text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    var clientId = randomId();
    // Kept until the server says it stored it: a message refused by a rate limit goes back into the input.
    this.pending[clientId] = { text: text, bubble: this.add("visitor", text) };
    clearTimeout(this.idleTimer);  // the visitor is still asking: not the end of the conversation
    this.send({ type: "message", text: text, client_id: clientId });
  };

  Widget.prototype.handle = function (frame) {
    var handlers = {
      session: this.onSession, token: this.onToken, answer: this.onAnswer, escalated: this.onEscalated,
      agent_message: this.onAgent, ticket: this.onTicket, error: this.onError, notice: this.onNotice,
      feedback_saved: function () {}, received: function (f) { delete this.pending[f.client_id]; }, pong: function () {}
    };
    (handlers[frame.type] || function () {}).call(this, frame);
  };

  Widget.prototype.onSession = function (frame) {
    var self = this, fresh = frame.conversation_id !== this.conversation;
    this.ready = true;
    this.retry = 0;
    this.conversation = frame.conversation_id;
    remember("conversation", frame.conversation_id);
    this.title.textContent = frame.widget.title;
    this.launcher.textContent = frame.widget.title;
    this.host.style.setProperty("--accent", /^#[0-9a-fA-F]{6}$/.test(frame.widget.accent_color) ? frame.widget.accent_color : "#3558e6");
    this.setStatus(frame.agents_online ? "Agents online" : "");
    this.csat = frame.csat || {};
    if (fresh) this.surveyShown = false;
    if (fresh || !this.log.childNodes.length) {
      this.log.textContent = "";
      this.add("bot", frame.widget.greeting);
      this.restoring = true;
      frame.messages.forEach(function (m) { self.show(m); });
      this.restoring = false;
    }
    var pending = this.outbox; this.outbox = [];
    pending.forEach(function (f) { self.send(f); });
  };

  Widget.prototype.show = function (m) {
    if (m.role === "bot") { this.onAnswer(m); return; }
    this.add(m.role, m.text, m.agent, m.created_at);
  };

  // When a message was written, in the widget's language (Intl); restored messages without a time get none.
  Widget.prototype.stamp = function (node, iso) {
    var date = iso ? new Date(iso) : (this.restoring ? null : new Date());
    if (!date || isNaN(date.getTime())) return;
    node.appendChild(el("time", { class: "time", datetime: date.toISOString(), title: fullDate(date),
      text: timeLabel(date) }));
  };

  Widget.prototype.add = function (role, text, who, created) {
    var bubble = el("div", { class: "msg " + role });
    if (role === "agent") bubble.appendChild(el("span", { class: "who", text: (who || t("Agent")) + " · " + t("Support agent") }));
    if (role === "bot" || role === "agent") bubble.appendChild(renderMarkdown(text, []));
    else bubble.appendChild(document.createTextNode(text));
    if (role === "visitor" || role === "agent") this.stamp(bubble, created);
    this.log.appendChild(bubble);
    this.log.scrollTop = this.log.scrollHeight;
    return bubble;
  };

  Widget.prototype.onToken = function (frame) {
    var bubble = this.bubbles[frame.message_id];
    if (!bubble) {
      bubble = this.bubbles[frame.message_id] = el("div", { class: "msg bot streaming", "aria-busy": "true" });
      bubble.appendChild(el("span", { class: "stream" }));
      this.log.appendChild(bubble);
    }
    var stream = bubble.querySelector(".stream");
    // "replace": words shown ahead of their sentence's check were withdrawn; this is the text to show instead.
    if (typeof frame.replace === "string") stream.textContent = frame.replace;
    else stream.textContent += frame.text;
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.onAnswer = function (frame) {
    var bubble = this.bubbles[frame.message_id];
    if (!bubble) { bubble = this.bubbles[frame.message_id] = el("div", { class: "msg bot" }); this.log.appendChild(bubble); }
    bubble.className = "msg bot";
    bubble.removeAttribute("aria-busy");
    bubble.setAttribute("data-message-id", frame.message_id);
    bubble.textContent = "";
    bubble.appendChild(renderMarkdown(frame.text, frame.citations));
    if (frame.citations && frame.citations.length) {
      var list = el("ol", { class: "sources", "aria-label": t("Sources") });
      frame.citations.forEach(function (c) {
        var href = safeUrl(c.url);
        if (!href) return;
        list.appendChild(el("li", { value: String(c.n) }, [el("a", { href: href, target: "_blank",
          rel: "noopener noreferrer", title: c.snippet || "", text: c.title })]));
      });
      bubble.appendChild(list);
    }
    bubble.appendChild(this.meta(frame));
    this.log.scrollTop = this.log.scrollHeight;
    if (!this.restoring) this.idleWatch();
  };

  Widget.prototype.meta = function (frame) {
    var self = this, meta = el("div", { class: "meta" });
    var words = (CONFIDENCE[frame.confidence_label] || []).map(function (w) { return t(w); });
    if (words.length) meta.appendChild(el("span", { class: "badge " + frame.confidence_label, title: words[1],
      "aria-label": t("Confidence: {label}. {hint}", { label: words[0], hint: words[1] }), text: words[0] }));
    var up = el("button", { class: "thumb", type: "button", "aria-label": t("Helpful"), title: t("Helpful"),
      "aria-pressed": String(frame.rating === "up") }, [thumbIcon(false)]);
    var down = el("button", { class: "thumb", type: "button", "aria-label": t("Not helpful"), title: t("Not helpful"),
      "aria-pressed": String(frame.rating === "down") }, [thumbIcon(true)]);
    up.addEventListener("click", function () {
      up.setAttribute("aria-pressed", "true"); down.setAttribute("aria-pressed", "false");
      self.send({ type: "feedback", message_id: frame.message_id, rating: "up" });
      var open = meta.querySelector(".reason"); if (open) open.remove();
    });
    down.addEventListener("click", function () {
      down.setAttribute("aria-pressed", "true"); up.setAttribute("aria-pressed", "false");
      if (!meta.querySelector(".reason")) meta.appendChild(self.reasonForm(frame.message_id));
    });
    meta.appendChild(up);
    meta.appendChild(down);
    if (frame.escalation_offered) meta.appendChild(el("button", { class: "thumb", type: "button", text: t("Talk to a human"),
      onclick: function () { self.send({ type: "escalate" }); } }));
    this.stamp(meta, frame.created_at);
    return meta;
  };

  Widget.prototype.reasonForm = function (messageId) {
    var self = this;
    var select = el("select", { "aria-label": t("What was wrong?") }, REASONS.map(function (r) {
      return el("option", { value: r[0], text: t(r[1]) });
    }));
    var comment = el("input", { type: "text", "aria-label": t("Comment (optional)"), placeholder: t("Comment (optional)"),
      maxlength: "500" });
    var form = el("form", { class: "reason" }, [select, comment, el("button", { type: "submit", text: t("Send feedback") })]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.send({ type: "feedback", message_id: messageId, rating: "down", reason: select.value, comment: comment.value });
      form.replaceWith(el("span", { class: "notice", text: t("Thanks for the feedback.") }));
    });
    return form;
  };

  Widget.prototype.onEscalated = function (frame) {
    var self = this;
    this.add("system", frame.detail).classList.add("escalation");
    if (frame.agents_online) return;
    var email = el("input", { type: "email", "aria-label": t("Your email"), placeholder: t("you@example.com"),
      required: "" });
    var form = el("form", { class: "contact" }, [email, el("button", { type: "submit", text: t("Send") })]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.send({ type: "contact", email: email.value });
      self.contactForm = form;
    });
    this.log.appendChild(form);
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.onTicket = function (frame) {
    if (this.contactForm) this.contactForm.remove();
    this.add("system", t("Thanks — we'll email you. Your ticket reference is {reference}.", { reference: frame.reference }));
  };

  Widget.prototype.onAgent = function (frame) { this.add("agent", frame.text, frame.agent); this.idleWatch(); };

  Widget.prototype.onNotice = function (frame) {
    this.add("system", frame.text);
    if (frame.status === "closed") this.askCsat();
  };

  // --- CSAT (issue #15): at the end of the conversation (an agent closed it, or the visitor has been idle since
  // the last reply for the server's csat.idle_seconds) the widget asks for a 1–5 rating and an optional comment,
  // once per conversation. It is posted to /api/csat with a fresh session token, like the websocket's.
  Widget.prototype.idleWatch = function () {
    var self = this, seconds = (this.csat || {}).idle_seconds;
    clearTimeout(this.idleTimer);
    if (seconds > 0) this.idleTimer = setTimeout(function () { self.askCsat(); }, seconds * 1000);
  };

  Widget.prototype.askCsat = function () {
    if (this.surveyShown || (this.csat || {}).rated) return;
    this.surveyShown = true;
    clearTimeout(this.idleTimer);
    var self = this, chosen = 0, scores = [];
    for (var n = 1; n <= 5; n++) scores.push(el("button", { class: "score", type: "button", "aria-pressed": "false",
      "aria-label": t("{n} out of 5", { n: n }), text: String(n) }));
    scores.forEach(function (button, index) {
      button.addEventListener("click", function () {
        chosen = index + 1;
        scores.forEach(function (b, i) { b.setAttribute("aria-pressed", String(i === index)); });
      });
    });
    var comment = el("input", { type: "text", "aria-label": t("Comment (optional)"), placeholder: t("Comment (optional)"),
      maxlength: "500" });
    var error = el("span", { class: "notice", role: "alert" });
    var question = t("How would you rate this conversation?");
    var form = el("form", { class: "csat", "aria-label": question }, [el("strong", { class: "ask", text: question }),
      el("div", { class: "scores", role: "group", "aria-label": t("Your rating") }, [el("span", { class: "ends",
        text: t("Not satisfied") })].concat(scores, [el("span", { class: "ends", text: t("Very satisfied") })])),
      comment, el("button", { type: "submit", text: t("Send rating") }), error]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!chosen) { error.textContent = t("Choose a rating from 1 to 5."); return; }
      self.sendCsat(chosen, comment.value).then(function () {
        self.csat.rated = true;
        form.replaceWith(el("div", { class: "notice", role: "status", text: t("Thanks for your rating.") }));
      }, function () { error.textContent = t("Your rating could not be sent. Please try again."); });
    });
    this.log.appendChild(form);
    this.log.scrollTop = this.log.scrollHeight;
  };

  Widget.prototype.sendCsat = function (score, comment) {
    var self = this;
    return this.sessionToken().then(function (session) {
      if (!session) throw new Error("csat: no session");
      return fetch(new URL("/api/csat", SERVER).href, {
        method: "POST", credentials: "omit", cache: "no-store", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ key: KEY, conversation_id: self.conversation, visitor_id: session.visitor_id,
          token: session.token, score: score, comment: comment })
      });
    }).then(function (response) { if (!response.ok) throw new Error("csat: HTTP " + response.status); });
  };

  Widget.prototype.onError = function (frame) {
    if (frame.code === "rate_limited") this.retryAfter = frame.retry_after;
    // Refused before it was stored (a rate limit, or stored === false): the text goes back into the input.
    var refused = (frame.code === "rate_limited" || frame.stored === false) && this.pending[frame.client_id];
    if (refused) {
      delete this.pending[frame.client_id];
      refused.bubble.remove();
      this.input.value = refused.text + (this.input.value ? "\n" + this.input.value : "");
    }
    // A budget notice also comes as rate_limited, but it is not about speed: say what it means, in the page's language.
    var budget = frame.code === "rate_limited" && /_tokens$|^budget_/.test(frame.scope || "");
    this.log.appendChild(el("div", { class: "notice", role: "alert", text: budget ? t(BUDGET_NOTICE) :
      ERRORS[frame.code] ? t(ERRORS[frame.code]) : (frame.detail || t("Something went wrong.")) }));
  };

  function start() { window.Supportbot = new Widget(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
