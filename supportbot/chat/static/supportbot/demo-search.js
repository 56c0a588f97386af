/*
 * The demo page's knowledge-base search box (GET /api/search). A file, not an inline <script>: the
 * Content-Security-Policy runs scripts from Supportbot's own origin only. Results are inserted as text.
 * The search answers a widget's pages only (kb/public_search.py): it sends the key of the page's widget.
 */
(function () {
  "use strict";
  var form = document.getElementById("search");
  if (!form) return;
  var widget = document.querySelector("script[data-key][src*='widget.js']");
  var key = widget ? widget.getAttribute("data-key") : "";
  function safeUrl(raw) {
    try {
      var url = new URL(raw, location.href);
      return (url.protocol === "http:" || url.protocol === "https:") ? url.href : null;
    } catch (e) { return null; }
  }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var q = new FormData(form).get("q");
    var response = await fetch("/api/search?" + new URLSearchParams({ key: key, q: q, k: 5 }));
    var data = await response.json();
    var box = document.getElementById("results");
    box.replaceChildren.apply(box, (data.results || []).map(function (r) {
      var item = document.createElement("div");
      item.className = "result";
      var link = document.createElement("a");
      var href = safeUrl(r.url);  // a document's url comes from its front matter: never a javascript: link
      if (href) link.href = href;
      link.textContent = r.title + (r.heading ? " — " + r.heading : "");
      var text = document.createElement("p");
      text.textContent = r.snippet;
      item.append(link, text);
      return item;
    }));
  });
})();
