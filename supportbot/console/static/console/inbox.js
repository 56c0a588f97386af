/*
 * The live inbox: rows arrive over the console websocket. A row already listed is updated in place; a row the
 * list doesn't show yet makes the list reload with the page's filters (debounced). The escalation queue keeps
 * every escalated conversation, longest waiting first, with its reason and summary.
 */
(function () {
  "use strict";
  var C = window.SupportbotConsole, el = C.el, gettext = window.gettext || function (s) { return s; };
  var data = C.readJson("inbox-data");
  var state = { conversations: data.conversations, escalations: data.escalations };
  var refetchTimer = null;

  function rowNode(row) {
    var last = row.last_text ? [el("span", { class: "muted small", text: (C.roles[row.last_role] || "") + ": " }), row.last_text] : [];
    return el("tr", { "data-id": row.id }, [
      el("td", {}, [C.statusPill(row), row.reason ? el("div", { class: "small muted", text: C.reasonLabel(row.reason) }) : null]),
      el("td", {}, [el("a", { href: row.url }, last.length ? last : [gettext("(no message)")])]),
      el("td", {}, [C.confidencePill(row.confidence_label, row.confidence)]),
      el("td", {}, [C.thumbs(row.thumbs_up, row.thumbs_down)]),
      el("td", { class: "small", text: row.widget }),
      el("td", { class: "small muted", text: C.formatTime(row.last_at) })
    ]);
  }

  function queueNode(row) {
    var summary = row.summary || { first_question: "", recent: [] };
    var lines = summary.recent.map(function (m) {
      return el("li", {}, [el("strong", { text: (C.roles[m.role] || m.role) + ": " }), m.text]);
    });
    return el("li", { class: row.agent ? "held" : "", "data-id": row.id }, [
      el("div", {}, [
        el("a", { href: row.url, text: C.reasonLabel(row.reason) || gettext("Escalated") }), " ",
        C.statusPill(row), " ",
        el("span", { class: "small muted", text: C.formatTime(row.last_at) })
      ]),
      summary.first_question ? el("p", { class: "first", text: gettext("First question:") + " " + summary.first_question }) : null,
      lines.length ? el("ul", { class: "summary", "aria-label": gettext("Latest messages") }, lines) : null,
      row.contact_email ? el("div", { class: "small muted", text: gettext("Left an email address") + (row.ticket ? " · " + row.ticket : "") }) : null
    ]);
  }

  function render() {
    var list = document.getElementById("conversations");
    list.replaceChildren.apply(list, state.conversations.map(rowNode));
    document.getElementById("conversations-empty").hidden = state.conversations.length > 0;
    var queue = document.getElementById("escalations");
    queue.replaceChildren.apply(queue, state.escalations.map(queueNode));
    document.getElementById("escalations-empty").hidden = state.escalations.length > 0;
    var count = document.getElementById("queue-count");
    count.textContent = String(state.escalations.length);
    count.hidden = state.escalations.length === 0;
  }

  function upsert(row) {
    var index = state.conversations.findIndex(function (r) { return r.id === row.id; });
    if (index >= 0) {
      state.conversations.splice(index, 1);
      state.conversations.unshift(row);
    } else {
      scheduleRefetch();
    }
    var queued = state.escalations.findIndex(function (r) { return r.id === row.id; });
    if (row.status === "escalated") {
      if (queued >= 0) state.escalations[queued] = row;
      else state.escalations.push(row);
    } else if (queued >= 0) {
      state.escalations.splice(queued, 1);
    }
    render();
  }

  function scheduleRefetch() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(function () {
      var url = document.getElementById("conversations").getAttribute("data-refresh") + location.search;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (fresh) {
          if (!fresh) return;
          state.conversations = fresh.conversations;
          state.escalations = fresh.escalations;
          C.showWaiting(fresh.waiting);
          render();
        });
    }, 300);
  }

  C.on("conversation", function (frame) { upsert(frame.row); });
  C.on("escalated", function (frame) { upsert(frame.row); });
  // After a reconnect anything may have changed meanwhile.
  C.on("open", scheduleRefetch);
  C.showWaiting(data.waiting);
  render();
})();
