/*
 * One conversation: the transcript (citations, confidence, guard events, ratings, redactions per message), the
 * messages said since live ("watch"), and the takeover controls. Actions go over the console websocket; the
 * conversation's new state comes back as an inbox row, so every console showing it agrees.
 */
(function () {
  "use strict";
  var C = window.SupportbotConsole, el = C.el, gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (fmt, args) { return fmt.replace("%s", args[0]); };
  var row = C.readJson("conversation-row");
  var me = C.readJson("me");
  var shown = {};
  var log = document.getElementById("transcript");
  var error = document.getElementById("action-error");

  function citations(message) {
    if (!message.citations.length) return null;
    return el("ol", { class: "sources", "aria-label": gettext("Sources") }, message.citations.map(function (c) {
      var href = C.safeUrl(c.url);
      return el("li", { value: String(c.n) }, [href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer",
        title: c.snippet || "", text: c.title }) : c.title]);
    }));
  }

  function meta(message) {
    var items = [C.confidencePill(message.confidence_label, message.confidence)];
    if (message.from_cache) items.push(el("span", { class: "pill", text: gettext("From cache") }));
    if (typeof message.latency_ms === "number") {
      items.push(el("span", { class: "pill", text: interpolate(gettext("%s ms"), [Math.round(message.latency_ms)]) }));
    }
    message.guard_events.forEach(function (e) {
      items.push(el("span", { class: "pill guard", title: gettext("Guard event"),
        text: e.validator.replace(/^.*\//, "").replace(/_/g, " ") + " · " + (e.action || e.outcome) }));
    });
    if (message.guard_checks && !message.guard_events.length) {
      items.push(el("span", { class: "pill", text: interpolate(gettext("%s guard checks passed"), [message.guard_checks]) }));
    }
    if (message.redacted.length) {
      items.push(el("span", { class: "pill guard", text: gettext("Personal data redacted:") + " " + message.redacted.join(", ") }));
    }
    message.ratings.forEach(function (r) {
      var label = r.value === "up" ? gettext("Thumbs up") : gettext("Thumbs down");
      items.push(el("span", { class: "pill " + (r.value === "up" ? "high" : "low"),
        text: label + (r.reason ? " · " + r.reason.replace(/_/g, " ") : "") + (r.comment ? " · “" + r.comment + "”" : "") }));
    });
    items = items.filter(Boolean);
    return items.length ? el("div", { class: "meta" }, items) : null;
  }

  function messageNode(message) {
    var who = C.roles[message.role] || message.role;
    if (message.role === "agent" && message.agent) who = message.agent + " · " + who;
    return el("article", { class: "msg " + message.role, "data-message-id": String(message.id) }, [
      el("div", { class: "who" }, [el("strong", { text: who }), el("span", { text: C.formatTime(message.created_at) })]),
      el("div", { class: "text", text: message.text || gettext("(empty)") }),
      citations(message),
      meta(message)
    ]);
  }

  // A message seen again replaces its node: a bot answer is stored empty while it streams, then filled in.
  function add(message) {
    var node = messageNode(message);
    if (shown[message.id]) { shown[message.id].replaceWith(node); shown[message.id] = node; return; }
    shown[message.id] = node;
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
  }

  function renderState() {
    var status = document.getElementById("status");
    status.replaceChildren(C.statusPill(row));
    var reason = document.getElementById("reason");
    if (reason) reason.textContent = C.reasonLabel(row.reason);
    var mine = row.agent_id === me, held = row.agent_id !== null && row.agent_id !== undefined;
    var closed = row.status === "closed";
    document.getElementById("take-over").disabled = closed || mine || held;
    document.getElementById("hand-back").disabled = !mine;
    document.getElementById("close").disabled = closed || (held && !mine);
    document.getElementById("reply").hidden = !mine;
    // Resolving (issue #15) closes the conversation and drafts an article from what the holding agent answered.
    document.getElementById("resolve").hidden = !mine || closed;
  }

  function act(type, extra) {
    error.textContent = "";
    var frame = Object.assign({ type: type, conversation_id: row.id }, extra || {});
    if (!C.send(frame)) error.textContent = gettext("Not connected; try again in a moment.");
  }

  document.getElementById("take-over").addEventListener("click", function () { act("take_over"); });
  document.getElementById("hand-back").addEventListener("click", function () { act("hand_back"); });
  document.getElementById("close").addEventListener("click", function () {
    if (window.confirm(gettext("Close this conversation for the visitor?"))) act("close");
  });
  document.getElementById("reply").addEventListener("submit", function (event) {
    event.preventDefault();
    var box = document.getElementById("reply-text"), text = box.value.trim();
    if (!text) return;
    act("reply", { text: text });
    box.value = "";
    box.focus();
  });
  document.getElementById("reply-text").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      document.getElementById("reply").requestSubmit();
    }
  });

  C.on("open", function () { C.send({ type: "watch", conversation_id: row.id }); });
  C.on("conversation", function (frame) {
    if (frame.row.id !== row.id) return;
    row = frame.row;
    renderState();
  });
  C.on("message", function (frame) { if (frame.conversation_id === row.id) add(frame.message); });
  C.on("transcript", function (frame) { if (frame.conversation_id === row.id) frame.messages.forEach(add); });
  C.on("error", function (frame) { error.textContent = frame.detail || gettext("Something went wrong."); });

  C.readJson("transcript-data").forEach(add);
  renderState();
})();
