/*
 * The analytics charts (Chart.js, served from static/console/vendor). Data comes from the page (json_script);
 * every label goes through gettext().
 */
(function () {
  "use strict";
  var C = window.SupportbotConsole, gettext = window.gettext || function (s) { return s; };
  var data = C.readJson("charts-data");
  // Content-gap bars: widths through the CSSOM, as the Content-Security-Policy refuses style attributes.
  Array.prototype.forEach.call(document.querySelectorAll(".gap-bar[data-share]"), function (bar) {
    bar.style.width = Math.min(100, Math.max(0, Number(bar.getAttribute("data-share")) || 0)) + "%";
  });
  var style = getComputedStyle(document.documentElement);
  var COLORS = {
    accent: "#3558e6", good: "#1e8e3e", bad: "#d93025", warn: "#f29900", grey: "#80868b", violet: "#9334e6",
    teal: "#12b5cb"
  };
  // Dates and numbers in the console's language (<html lang>), not the browser's.
  var LANG = document.documentElement.lang || undefined;
  var PERCENT = new Intl.NumberFormat(LANG, { style: "percent", maximumFractionDigits: 1 });
  function percentTick(v) { return PERCENT.format(v / 100); }
  Chart.defaults.locale = LANG;
  var PALETTE = [COLORS.accent, COLORS.bad, COLORS.warn, COLORS.good, COLORS.violet, COLORS.teal, COLORS.grey];
  Chart.defaults.color = style.getPropertyValue("--muted").trim() || "#5b6470";
  Chart.defaults.borderColor = style.getPropertyValue("--border").trim() || "#d8dde3";
  Chart.defaults.maintainAspectRatio = false;

  function percent(values) { return values.map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; }); }
  function days() { return data.days.map(function (d) { return new Date(d + "T00:00:00").toLocaleDateString(LANG, { month: "short", day: "numeric" }); }); }
  function line(label, values, color, extra) {
    return Object.assign({ label: label, data: values, borderColor: color, backgroundColor: color, tension: 0.25,
      spanGaps: true, pointRadius: 2 }, extra || {});
  }
  function bar(label, values, color, extra) {
    return Object.assign({ label: label, data: values, backgroundColor: color }, extra || {});
  }
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) new Chart(canvas, config);
  }
  var percentAxis = { y: { min: 0, max: 100, ticks: { callback: percentTick } } };

  draw("chart-conversations", {
    type: "bar",
    data: { labels: days(), datasets: [
      bar(gettext("Resolved by the bot"), data.conversations.total.map(function (t, i) { return t - data.conversations.escalated[i]; }), COLORS.good, { stack: "c" }),
      bar(gettext("With a human"), data.conversations.escalated, COLORS.bad, { stack: "c" })
    ] },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
  draw("chart-deflection", {
    type: "line",
    data: { labels: days(), datasets: [
      line(gettext("Resolved without a human (%)"), percent(data.conversations.deflection_rate), COLORS.good),
      line(gettext("Escalation rate (%)"), percent(data.conversations.escalation_rate), COLORS.bad)
    ] },
    options: { scales: percentAxis }
  });
  draw("chart-reasons", {
    type: "doughnut",
    data: {
      labels: data.reasons.labels.length ? data.reasons.labels.map(C.reasonLabel) : [gettext("No escalations")],
      datasets: [{ label: gettext("Escalations"), data: data.reasons.counts.length ? data.reasons.counts : [0],
        backgroundColor: PALETTE }]
    }
  });
  draw("chart-thumbs", {
    type: "bar",
    data: { labels: days(), datasets: [
      bar(gettext("Thumbs up"), data.thumbs.up, COLORS.good, { yAxisID: "y" }),
      bar(gettext("Thumbs down"), data.thumbs.down, COLORS.bad, { yAxisID: "y" }),
      line(gettext("Thumbs-up ratio (%)"), percent(data.thumbs.up_ratio), COLORS.accent, { type: "line", yAxisID: "ratio" })
    ] },
    options: { scales: {
      y: { beginAtZero: true, ticks: { precision: 0 } },
      ratio: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, ticks: { callback: percentTick } }
    } }
  });
  draw("chart-confidence", {
    type: "bar",
    data: { labels: data.confidence.labels, datasets: [bar(gettext("Answers"), data.confidence.counts, COLORS.accent)] },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  draw("chart-latency", {
    type: "line",
    data: { labels: days(), datasets: [
      line(gettext("p50 (ms)"), data.latency.p50, COLORS.accent),
      line(gettext("p95 (ms)"), data.latency.p95, COLORS.warn)
    ] },
    options: { scales: { y: { beginAtZero: true } } }
  });
  draw("chart-guards", {
    type: "bar",
    data: {
      labels: data.guards.labels.length ? data.guards.labels.map(function (l) { return l.replace(/^.*\//, "").replace(/_/g, " "); }) : [gettext("No guard trips")],
      datasets: [bar(gettext("Trips"), data.guards.counts.length ? data.guards.counts : [0], COLORS.warn)]
    },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  draw("chart-cache", {
    type: "line",
    data: { labels: days(), datasets: [line(gettext("Answers from the cache (%)"), percent(data.cache.hit_rate), COLORS.teal)] },
    options: { scales: percentAxis }
  });
  draw("chart-tokens", {
    type: "bar",
    data: { labels: days(), datasets: [
      bar(gettext("Prompt tokens"), data.tokens.prompt, COLORS.accent, { stack: "t", yAxisID: "y" }),
      bar(gettext("Completion tokens"), data.tokens.completion, COLORS.violet, { stack: "t", yAxisID: "y" }),
      line(gettext("Cost (USD)"), data.tokens.cost, COLORS.bad, { type: "line", yAxisID: "cost" })
    ] },
    options: { scales: {
      x: { stacked: true }, y: { stacked: true, beginAtZero: true },
      cost: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } }
    } }
  });
})();
