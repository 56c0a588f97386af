/*
 * Ingestion jobs with live progress: while any job is unfinished the page asks for the job rows every second
 * (processed/total, counts and per-document errors) and stops once all are done.
 */
(function () {
  "use strict";
  var C = window.SupportbotConsole, el = C.el, gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (fmt) { return fmt; };
  var body = document.getElementById("jobs");
  var POLL_MS = 1000, timer = null;

  function progress(job) {
    var share = job.total ? Math.round(100 * job.processed / job.total) : (job.finished ? 100 : 0);
    var filled = el("span");
    filled.style.width = share + "%";  // through the CSSOM: the Content-Security-Policy refuses style attributes
    return el("div", {}, [
      el("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(job.total),
        "aria-valuenow": String(job.processed) }, [filled]),
      el("span", { class: "small job-progress", text: interpolate(gettext("%s of %s documents"), [job.processed, job.total]) })
    ]);
  }

  function result(job) {
    var counts = interpolate(gettext("%s new, %s updated, %s unchanged, %s failed, %s chunks written"),
      [job.created, job.updated, job.unchanged, job.failed, job.chunks_written]);
    var errors = job.errors.length ? el("ul", { class: "job-errors" }, job.errors.map(function (e) {
      return el("li", {}, [el("strong", { text: e.uri || gettext("job") }), ": " + e.error]);
    })) : null;
    // Documents the planted-instruction scan quarantined (kb/quarantine.py): reviewed on each document's page.
    var flagged = job.flagged ? el("div", {}, [el("span", { class: "pill low job-flagged",
      text: interpolate(gettext("%s flagged: planted instructions, kept out of answers"), [job.flagged]) })]) : null;
    return el("td", { class: "small" }, [counts, flagged, errors]);
  }

  function row(job) {
    return el("tr", { "data-job": String(job.id), "data-status": job.status }, [
      el("td", { text: String(job.id) }),
      el("td", { class: "small", text: job.targets.join(", ") }),
      el("td", {}, [el("span", { class: "pill job-status " + (job.finished ? (job.failed ? "low" : "high") : "medium"),
        text: job.status_label })]),
      el("td", {}, [progress(job)]),
      result(job)
    ]);
  }

  function render(jobs) {
    body.replaceChildren.apply(body, jobs.map(row));
    document.getElementById("jobs-empty").hidden = jobs.length > 0;
    clearTimeout(timer);
    if (jobs.some(function (job) { return !job.finished; })) timer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    fetch(body.getAttribute("data-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (data) { render(data.jobs); })
      .catch(function () { timer = setTimeout(poll, POLL_MS * 5); });
  }

  render(C.readJson("jobs-data"));
})();
