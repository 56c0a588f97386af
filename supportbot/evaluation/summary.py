"""A run's answer records summed up: answer metrics, escalation on unanswerable questions, answerability (does the
bot tell what it can answer from what it can't), calibration, latency.

Means are taken over the answers a metric applies to (groundedness over answers that make claims, citation
precision over answers with citations, reference overlap over questions with a reference); each block says
how many answers it covers.
"""

from __future__ import annotations

from supportbot.evaluation.judge import NO_LLM_NOTE
from supportbot.evaluation.metrics import auroc, mean, reliability_bins
from supportbot.evaluation.retrieval import percentile

STAGES = ("retrieve_ms", "generate_ms", "total_ms")


def answers_summarize(records: list[dict], *, judged: bool) -> dict:
    """The "answers", "unanswerable", "calibration" and "latency" blocks of a run's metrics (those that apply)."""
    ok = [r for r in records if "error" not in r]
    answerable = [r for r in ok if "outcome" not in r]
    unanswerable = [r for r in ok if "outcome" in r]
    summary: dict = {}
    if answerable:
        summary["answers"] = _answers_block(answerable, judged=judged)
        summary["answers"]["errors"] = sum(1 for r in records if "error" in r)
    if unanswerable:
        summary["unanswerable"] = _unanswerable_block(unanswerable)
    if answerable and unanswerable:
        summary["answerability"] = _answerability_block(answerable, unanswerable)
    if ok:
        summary["calibration"] = reliability_bins((r["confidence"], r["correct"]) for r in ok)
        summary["latency"] = _latency_block(ok)
    return summary


def _rate(records: list[dict], test) -> float:
    return round(sum(1 for r in records if test(r)) / len(records), 4)


def _answers_block(records: list[dict], *, judged: bool) -> dict:
    referenced = [r for r in records if "rouge_l" in r]
    block = {
        "n": len(records),
        "groundedness": mean(r["groundedness"] for r in records),
        "groundedness_n": sum(1 for r in records if r["groundedness"] is not None),
        "citation_precision": mean(r["citation_precision"] for r in records),
        "cited_source_rate": _rate(records, lambda r: r["correct"]),
        "human_offered_rate": _rate(records, lambda r: r["human_offered"]),
        "guard_dropped_rate": _rate(records, lambda r: "dropped" in r["guard_actions"]),
        "confidence": mean(r["confidence"] for r in records),
        "reference_n": len(referenced),
        "rouge_l": mean(r["rouge_l"] for r in referenced),
        "semantic_f1": mean(r["semantic_f1"] for r in referenced),
    }
    return block | _judge_block(records, judged=judged)


def _judge_block(records: list[dict], *, judged: bool) -> dict:
    verdicts = [r["judge"] for r in records if r.get("judge")]
    faithfulness = mean(v["faithfulness"] for v in verdicts)
    relevancy = mean(v["relevancy"] for v in verdicts)
    if not judged:
        note = "the judge was switched off (--judge-samples 0)"
    elif any(NO_LLM_NOTE in v["notes"] for v in verdicts):
        note = NO_LLM_NOTE
    else:
        failures = sum(len(v["notes"]) for v in verdicts)
        note = f"{failures} judge calls gave no score" if failures else ""
    return {"judge_faithfulness": faithfulness, "judge_relevancy": relevancy, "judge_note": note}


def _unanswerable_block(records: list[dict]) -> dict:
    outcomes = [r["outcome"] for r in records]
    return {
        "n": len(records),
        "escalation_accuracy": _rate(records, lambda r: r["escalation_correct"]),
        "declined": outcomes.count("declined"),
        "hedged": outcomes.count("hedged"),
        "answered": outcomes.count("answered"),
    }


def _answerability_block(answerable: list[dict], unanswerable: list[dict]) -> dict:
    """The issue's two rates side by side (unanswerable questions declined or handed to a human; answerable ones
    answered with the right page cited), and how well the confidence shown separates the two kinds."""
    pairs = [(r["confidence"], True) for r in answerable] + [(r["confidence"], False) for r in unanswerable]
    return {
        "auroc": auroc(pairs),
        "unanswerable_declined_rate": _rate(unanswerable, lambda r: r["escalation_correct"]),
        "answerable_answered_rate": _rate(answerable, lambda r: r["correct"]),
        "answerable_declined_rate": _rate(answerable, lambda r: not r["citations"]),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
    }


def _latency_block(records: list[dict]) -> dict:
    block = {}
    for stage in STAGES:
        values = [r["timings"][stage] for r in records if r["timings"].get(stage) is not None]
        if values:
            block[stage] = {"p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2)}
    return block
