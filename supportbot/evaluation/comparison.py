"""Two runs side by side, and the floors a run must meet (`evaluate --compare RUN_ID --fail-under NAME=VALUE`).

Metric names are flat: "<mode>.<metric>" for retrieval ("hybrid.hit@5", "keyword.mrr", "vector.p95_ms"),
"answers.<metric>" ("answers.groundedness"), "unanswerable.escalation_accuracy", "calibration.ece" and
"latency.<stage>.<p50|p95>" ("latency.total_ms.p95").
"""

from __future__ import annotations

import math

ANSWER_METRICS = (
    "groundedness",
    "citation_precision",
    "cited_source_rate",
    "human_offered_rate",
    "guard_dropped_rate",
    "confidence",
    "rouge_l",
    "semantic_f1",
    "judge_faithfulness",
    "judge_relevancy",
)
# Neither higher nor lower is better: shown, never marked.
NEUTRAL = {"answers.confidence"}
# Quality moves by whole questions; a difference below this is rounding. Timings are noisy: only a change of
# more than a quarter counts.
QUALITY_TOLERANCE = 0.001
LATENCY_TOLERANCE = 0.25


def metrics_flatten(metrics: dict) -> dict[str, float | None]:
    """{"hybrid.hit@5": 0.95, "answers.groundedness": 0.9, ...} from a run's nested metrics."""
    flat: dict[str, float | None] = {}
    for mode, values in metrics.get("modes", {}).items():
        flat.update({f"{mode}.{name}": value for name, value in values.items()})
    for name in ANSWER_METRICS:
        if "answers" in metrics:
            flat[f"answers.{name}"] = metrics["answers"].get(name)
    if "unanswerable" in metrics:
        flat["unanswerable.escalation_accuracy"] = metrics["unanswerable"]["escalation_accuracy"]
    if "calibration" in metrics:
        flat["calibration.ece"] = metrics["calibration"]["ece"]
    for name, value in metrics.get("answerability", {}).items():
        if not name.startswith("n_"):
            flat[f"answerability.{name}"] = value
    for stage, values in metrics.get("latency", {}).items():
        flat.update({f"latency.{stage}.{name}": value for name, value in values.items()})
    return flat


def lower_is_better(name: str) -> bool:
    return (
        name.endswith("_ms")
        or name.startswith("latency.")
        or name
        in {
            "calibration.ece",
            "answers.human_offered_rate",
            "answers.guard_dropped_rate",
            "answerability.answerable_declined_rate",
        }
    )


def _change(name: str, before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "" if before == after else "missing"
    if name in NEUTRAL:
        return ""
    delta = after - before
    if lower_is_better(name):
        delta = -delta
    if name.endswith("_ms") or name.startswith("latency."):
        if abs(after - before) <= LATENCY_TOLERANCE * max(abs(before), 1.0):
            return ""
    elif abs(delta) < QUALITY_TOLERANCE:
        return ""
    return "improvement" if delta > 0 else "regression"


def runs_compare(*, before: dict, after: dict) -> list[dict]:
    """One row per metric of either run: before, after, delta and the change ("regression", "improvement",
    "missing" when only one run has it, or "" when it held)."""
    old, new = metrics_flatten(before), metrics_flatten(after)
    rows = []
    for name in [*new, *(n for n in old if n not in new)]:
        b, a = old.get(name), new.get(name)
        delta = round(a - b, 4) if a is not None and b is not None else None
        rows.append({"metric": name, "before": b, "after": a, "delta": delta, "change": _change(name, b, a)})
    return rows


def floor_parse(text: str) -> tuple[str, float]:
    """ "hybrid.hit@5=0.9" → ("hybrid.hit@5", 0.9); ValueError for anything else."""
    name, sep, value = text.partition("=")
    try:
        floor = float(value)
    except ValueError:
        floor = math.nan
    if not sep or not name.strip() or math.isnan(floor):
        raise ValueError(f"--fail-under takes METRIC=VALUE (like hybrid.hit@5=0.9), got {text!r}")
    return name.strip(), floor


def floors_check(metrics: dict, floors: list[tuple[str, float]]) -> list[str]:
    """Why the run misses its floors (empty when it meets them all). A metric the run lacks misses its floor."""
    flat = metrics_flatten(metrics)
    failures = []
    for name, floor in floors:
        if name not in flat:
            failures.append(f"{name}: no such metric in this run (known: {', '.join(sorted(flat))})")
        elif flat[name] is None:
            failures.append(f"{name}: no value in this run")
        elif flat[name] < floor:
            failures.append(f"{name} = {flat[name]} is below its floor {floor}")
    return failures
