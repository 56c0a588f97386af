"""The HTML report of a run: one self-contained file (inline CSS and SVG, no script, a Content-Security-Policy
that forbids fetching anything), the page a team opens after a change.

It shows the headline metrics (and the difference from a baseline run), the plots — score distributions,
ranks and hit rate per document, the reliability diagram, latency — and the worst cases with the chunks that
were retrieved for them.
"""

from __future__ import annotations

import json

from django.template.loader import render_to_string

from supportbot.evaluation import plots
from supportbot.evaluation.models import EvalRun

WORST = 10
_HEADLINE = (
    ("hybrid hit@1", "modes.hybrid.hit@1"),
    ("hybrid hit@{k}", "modes.hybrid.hit@{k}"),
    ("hybrid MRR", "modes.hybrid.mrr"),
    ("groundedness", "answers.groundedness"),
    ("citation precision", "answers.citation_precision"),
    ("cited the right page", "answers.cited_source_rate"),
    ("ROUGE-L", "answers.rouge_l"),
    ("semantic F1", "answers.semantic_f1"),
    ("judge faithfulness (1–5)", "answers.judge_faithfulness"),
    ("judge relevancy (1–5)", "answers.judge_relevancy"),
    ("escalation accuracy", "unanswerable.escalation_accuracy"),
    ("confidence AUROC (answerable vs not)", "answerability.auroc"),
    ("answered, right page cited", "answerability.answerable_answered_rate"),
    ("calibration error (ECE)", "calibration.ece"),
    ("answer p95 ms", "latency.total_ms.p95"),
)


def _lookup(metrics: dict, path: str):
    value = metrics
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def headline(metrics: dict) -> list[dict]:
    """The cards at the top: each metric whose block the run has (a judge score may be None, with a note)."""
    k = metrics.get("k", 5)
    cards = []
    for label, path in _HEADLINE:
        path, label = path.replace("{k}", str(k)), label.replace("{k}", str(k))
        if isinstance(_lookup(metrics, path.rsplit(".", 1)[0]), dict):
            cards.append({"label": label, "value": _lookup(metrics, path)})
    return cards


def _answers(run: EvalRun) -> list[dict]:
    return [c["answer"] for c in run.cases if c.get("answer") and "error" not in c["answer"]]


def _plots(run: EvalRun) -> list:
    metrics, k = run.metrics, run.metrics.get("k", 5)
    drawn = []
    retrieved = [c["retrieval"] for c in run.cases if c.get("retrieval")]
    if retrieved:
        modes = list(metrics["modes"])
        counts = {mode: [0] * (k + 1) for mode in modes}
        for record in retrieved:
            for mode in modes:
                counts[mode][(record["ranks"][mode] or k + 1) - 1] += 1
        drawn.append(plots.ranks(counts, k=k))
        rows = [(doc, v["hybrid"]["hit@1"], v["hybrid"][f"hit@{k}"]) for doc, v in metrics["documents"].items()]
        drawn.append(plots.document_hits(rows, k=k))
    answered = _answers(run)
    scored = [a for a in answered if "outcome" not in a]
    for key, title in (
        ("groundedness", "Groundedness per answer"),
        ("citation_precision", "Citation precision per answer"),
        ("semantic_f1", "Semantic F1 per answer (vs reference)"),
        ("rouge_l", "ROUGE-L per answer (vs reference)"),
    ):
        values = [a[key] for a in scored if a.get(key) is not None]
        if values:
            drawn.append(plots.histogram(values, name=key.replace("_", "-"), title=title))
    if answered:
        confidences = [a["confidence"] for a in answered if a["confidence"] is not None]
        drawn.append(plots.histogram(confidences, name="confidence", title="Confidence per answer"))
        drawn.append(plots.reliability(metrics["calibration"]["bins"], ece=metrics["calibration"]["ece"]))
    if metrics.get("latency") or metrics.get("modes"):
        drawn.append(plots.latency(metrics.get("latency", {}), metrics.get("modes", {})))
    return drawn


def worst_retrieval(run: EvalRun, *, mode: str = "hybrid") -> list[dict]:
    """Questions whose document was missed, then those found lowest, by `mode`."""
    k = run.metrics.get("k", 5)
    cases = [c for c in run.cases if c.get("retrieval") and (c["retrieval"]["ranks"].get(mode) or k + 1) > 1]
    cases.sort(key=lambda c: -(c["retrieval"]["ranks"].get(mode) or k + 1))
    return cases[:WORST]


def _flawed(answer: dict) -> bool:
    grounded = answer["groundedness"] if answer["groundedness"] is not None else 1.0
    precision = answer.get("citation_precision")
    return (
        not answer["correct"]
        or grounded < 1.0
        or (precision is not None and precision < 1.0)
        or answer.get("semantic_f1", 1.0) < 0.5
    )


def _badness(answer: dict) -> tuple:
    grounded = answer["groundedness"] if answer["groundedness"] is not None else 1.0
    precision = answer.get("citation_precision")
    return (answer["correct"], grounded, precision if precision is not None else 0.0, answer.get("semantic_f1", 1.0))


def worst_answers(run: EvalRun) -> list[dict]:
    """Answers that missed the page, made unsupported claims, cited other pages or strayed from the reference."""
    cases = [c for c in run.cases if c.get("answer") and "correct" in c["answer"] and not c["unanswerable"]]
    return sorted((c for c in cases if _flawed(c["answer"])), key=lambda c: _badness(c["answer"]))[:WORST]


def wrong_escalations(run: EvalRun) -> list[dict]:
    return [c for c in run.cases if c.get("answer") and c["answer"].get("outcome") == "answered"][:WORST]


def _document_rows(metrics: dict) -> list[dict]:
    k, modes = metrics.get("k", 5), list(metrics.get("modes", {}))
    return [
        {
            "name": name,
            "n": values["n"],
            "cells": [values[m][key] for m in modes for key in ("hit@1", f"hit@{k}", "mrr")],
        }
        for name, values in metrics.get("documents", {}).items()
    ]


def report_render(*, run: EvalRun, comparison: list[dict] | None = None, baseline: EvalRun | None = None) -> str:
    metrics = run.metrics
    changed = [row for row in comparison or [] if row["change"]]
    context = {
        "run": run,
        "metrics": metrics,
        "k": metrics.get("k", 5),
        "hit_k": f"hit@{metrics.get('k', 5)}",
        "headline": headline(metrics),
        "plots": _plots(run),
        "comparison": comparison,
        "changed": changed,
        "baseline": baseline,
        "documents": _document_rows(metrics),
        "settings_json": json.dumps(run.settings_snapshot, indent=2),
        "worst_retrieval": worst_retrieval(run),
        "worst_answers": worst_answers(run),
        "wrong_escalations": wrong_escalations(run),
    }
    return render_to_string("evaluation/report.html", context)
