/*
 * The console's shared script: one websocket per page (/ws/console/) that reconnects with backoff and sends a
 * heartbeat every 30 s (the agent's presence), a tiny event bus for the page scripts, and the escalation
 * notification on every page: a short WebAudio beep and the number waiting in the title and the Inbox link.
 * Strings go through gettext() from Django's JavaScript catalogue; server text is always inserted as text.
 */
(function () {
  "use strict";
  var gettext = window.gettext || function (s) { return s; };
  var HEARTBEAT_MS = 30000;
  var baseTitle = document.title;
  var listeners = {};
  var socket = null, retry = 0, audio = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function safeUrl(raw) {
    try {
      var url = new URL(raw, location.href);
      return (url.protocol === "http:" || url.protocol === "https:") ? url.href : null;
    } catch (e) { return null; }
  }

  function on(type, handler) { (listeners[type] = listeners[type] || []).push(handler); }
  function emit(frame) { (listeners[frame.type] || []).forEach(function (handler) { handler(frame); }); }

  function setSocketState(up) {
    var dot = document.getElementById("socket-state");
    if (!dot) return;
    dot.classList.toggle("up", up);
    dot.setAttribute("aria-label", up ? gettext("Live updates connected") : gettext("Live updates disconnected"));
  }

  function connect() {
    socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/console/");
    socket.onopen = function () { retry = 0; setSocketState(true); emit({ type: "open" }); };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (typeof frame.waiting === "number") showWaiting(frame.waiting);
      if (frame.type === "escalated") beep();
      emit(frame);
    };
    socket.onclose = function () {
      setSocketState(false);
      var delay = Math.min(30000, 1000 * Math.pow(2, retry++)) * (0.75 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function showWaiting(count) {
    document.title = (count > 0 ? "(" + count + ") " : "") + baseTitle;
    var badge = document.getElementById("waiting-badge");
    if (!badge) return;
    badge.textContent = String(count);
    badge.hidden = count <= 0;
  }

  // Browsers start audio only after a gesture: the context is created (or resumed) on the first click.
  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) audio = new Context();
    if (audio && audio.state === "suspended") audio.resume();
    return audio;
  }
  document.addEventListener("click", audioContext, { once: true });

  function beep() {
    api.beeps += 1;
    try {
      var ctx = audioContext();
      if (!ctx) return;
      var osc = ctx.createOscillator(), gain = ctx.createGain(), now = ctx.currentTime;
      osc.type = "sine";
      osc.frequency.setValueAtTime(880, now);
      osc.frequency.setValueAtTime(660, now + 0.15);
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.25, now + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.35);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(now);
      osc.stop(now + 0.4);
    } catch (e) { /* no audio device: the title and badge still show it */ }
  }

  function formatTime(iso) {
    var date = new Date(iso);
    return isNaN(date) ? "" : date.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "short", timeStyle: "short" });
  }

  var STATUS = { open: gettext("Open"), escalated: gettext("Escalated"), closed: gettext("Closed") };
  var REASONS = {
    visitor_request: gettext("Visitor asked for a human"),
    visitor_button: gettext("Visitor pressed “Talk to a human”"),
    low_confidence: gettext("Two unsure answers in a row"),
    agent_takeover: gettext("Taken over by an agent")
  };
  var ROLES = { visitor: gettext("Visitor"), bot: gettext("Bot"), agent: gettext("Agent"), system: gettext("System") };
  var CONFIDENCE = { high: gettext("Confident"), medium: gettext("Fairly sure"), low: gettext("Not sure") };

  function reasonLabel(reason) {
    if (!reason) return "";
    if (REASONS[reason]) return REASONS[reason];
    if (reason.indexOf("guard:") === 0) return gettext("Guard tripped:") + " " + reason.slice(6).replace(/_/g, " ");
    return reason.replace(/_/g, " ");
  }

  function statusPill(row) {
    if (row.agent) return el("span", { class: "pill held", text: gettext("Held by") + " " + row.agent });
    return el("span", { class: "pill " + row.status, text: STATUS[row.status] || row.status });
  }

  function confidencePill(label, value) {
    if (!label) return null;
    var text = (CONFIDENCE[label] || label) + (typeof value === "number" ? " " + value.toLocaleString(document.documentElement.lang || undefined,
      { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : "");
    return el("span", { class: "pill " + label, title: gettext("Confidence"), text: text });
  }

  function thumbs(up, down) {
    return el("span", { class: "thumbs", title: gettext("Thumbs up / thumbs down") }, [
      el("span", { class: "up", "aria-label": gettext("thumbs up"), text: "▲ " + up }), " ",
      el("span", { class: "down", "aria-label": gettext("thumbs down"), text: "▼ " + down })
    ]);
  }

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  var api = window.SupportbotConsole = {
    el: el, on: on, send: send, safeUrl: safeUrl, formatTime: formatTime, reasonLabel: reasonLabel,
    statusPill: statusPill, confidencePill: confidencePill, thumbs: thumbs, readJson: readJson,
    roles: ROLES, status: STATUS, beeps: 0, showWaiting: showWaiting
  };

  // Forms that ask before they submit (data-confirm="question"). A listener here rather than an onsubmit attribute:
  // the Content-Security-Policy runs no inline handlers.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  connect();
  setInterval(function () { send({ type: "heartbeat" }); }, HEARTBEAT_MS);
})();
