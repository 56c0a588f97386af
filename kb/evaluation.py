"""Retrieval evaluation over a JSONL file of questions with the document (and section) that answers each.

A line: {"question": ..., "source_doc": "suffix of the document's path or URL", "section"?: "heading"}. A hit
is a retrieved chunk from that document; a section hit also has the heading in its heading path.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from kb.retrieval import MODES, SearchResult, timed_search


class EvalFileError(ValueError):
    pass


@dataclass
class EvalCase:
    question: str
    source_doc: str
    section: str | None = None


def cases_load(path: Path) -> list[EvalCase]:
    cases = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"{path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(EvalCase(row["question"], row["source_doc"], row.get("section") or None))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise EvalFileError(f"{path}:{number}: expected JSON with question and source_doc ({exc})") from exc
    return cases


def _doc_matches(result: SearchResult, source_doc: str) -> bool:
    return any(value and value.rstrip("/").endswith(source_doc.rstrip("/")) for value in (result.source, result.url))


def _section_matches(result: SearchResult, case: EvalCase) -> bool:
    wanted = (case.section or "").strip().lower()
    return _doc_matches(result, case.source_doc) and wanted in (h.strip().lower() for h in result.heading_path)


def _first_rank(results: list[SearchResult], matches) -> int | None:
    return next((rank for rank, result in enumerate(results, start=1) if matches(result)), None)


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def mode_evaluate(cases: list[EvalCase], *, k: int, mode: str) -> dict[str, float]:
    doc_ranks, section_ranks, timings = [], [], []
    for case in cases:
        results, took_ms = timed_search(case.question, k=k, mode=mode)
        timings.append(took_ms)
        doc_ranks.append(_first_rank(results, lambda r, c=case: _doc_matches(r, c.source_doc)))
        if case.section:
            section_ranks.append(_first_rank(results, lambda r, c=case: _section_matches(r, c)))
    metrics = _rank_metrics(doc_ranks, k, prefix="")
    metrics.update(_rank_metrics(section_ranks, k, prefix="section_"))
    metrics["p50_ms"] = round(_percentile(timings, 50), 2)
    metrics["p95_ms"] = round(_percentile(timings, 95), 2)
    return metrics


def _rank_metrics(ranks: list[int | None], k: int, *, prefix: str) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        f"{prefix}hit@1": round(sum(1 for r in ranks if r == 1) / n, 4),
        f"{prefix}hit@{k}": round(sum(1 for r in ranks if r is not None) / n, 4),
        f"{prefix}mrr": round(sum(1 / r for r in ranks if r) / n, 4),
    }


def retrieval_evaluate(cases: list[EvalCase], *, k: int = 5, modes: tuple[str, ...] = MODES) -> dict:
    """Metrics per search mode, in the shape `evaluate --json` prints."""
    if not cases:
        raise EvalFileError("the eval file has no questions")
    return {"n": len(cases), "k": k, "modes": {mode: mode_evaluate(cases, k=k, mode=mode) for mode in modes}}
