"""Retrieval evaluation: hit@1, hit@k and MRR per search mode and per document over the cases of an eval set
(supportbot/evaluation/cases.py), each search made through `kb.search` and timed here.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import kb
from kb import SearchResult
from kb.search_result import EVALUATION_FIELDS
from supportbot.evaluation.cases import EvalCase, EvalFileError, source_matches

SNIPPET_CHARS = 300


def _doc_matches(result: SearchResult, source_doc: str) -> bool:
    return source_matches((result.source, result.url), source_doc)


def _section_matches(result: SearchResult, case: EvalCase) -> bool:
    wanted = (case.section or "").strip().lower()
    return _doc_matches(result, case.source_doc) and wanted in (h.strip().lower() for h in result.heading_path)


def _first_rank(results: list[SearchResult], matches: Callable[[SearchResult], bool]) -> int | None:
    return next((rank for rank, result in enumerate(results, start=1) if matches(result)), None)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (inclusive method); the value itself for one value."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def rank_metrics(ranks: list[int | None], k: int, *, prefix: str = "") -> dict[str, float]:
    """hit@1, hit@k and MRR (reciprocal rank within the top k, 0 for a miss) of first-hit ranks."""
    n = len(ranks) or 1
    return {
        f"{prefix}hit@1": round(sum(1 for r in ranks if r == 1) / n, 4),
        f"{prefix}hit@{k}": round(sum(1 for r in ranks if r is not None) / n, 4),
        f"{prefix}mrr": round(sum(1 / r for r in ranks if r) / n, 4),
    }


def chunk_summary(result: SearchResult) -> dict:
    """A retrieved chunk as an evaluation run stores it (and the report shows it)."""
    summary = result.as_dict(EVALUATION_FIELDS)
    return summary | {"score": round(result.score, 4), "text": result.text[:SNIPPET_CHARS]}


def _timed_search(question: str, *, k: int, mode: str) -> tuple[list[SearchResult], float]:
    """kb.search and how long it took, in milliseconds: latency is measured here, at the call site."""
    started = time.perf_counter()
    results = kb.search(question, k=k, mode=mode)
    return results, (time.perf_counter() - started) * 1000


def _case_search(case: EvalCase, *, k: int, modes: tuple[str, ...]) -> tuple[dict, dict[str, float]]:
    record: dict = {"question": case.question, "source_doc": case.source_doc, "section": case.section}
    record["ranks"], record["section_ranks"], took = {}, {}, {}
    for mode in modes:
        results, took[mode] = _timed_search(case.question, k=k, mode=mode)
        record["ranks"][mode] = _first_rank(results, lambda r: _doc_matches(r, case.source_doc))
        if case.section:
            record["section_ranks"][mode] = _first_rank(results, lambda r: _section_matches(r, case))
        if mode == modes[0]:
            record["retrieved"] = [chunk_summary(r) | {"match": _doc_matches(r, case.source_doc)} for r in results]
    return record, took


def _mode_metrics(records: list[dict], timings: list[float], *, k: int, mode: str) -> dict[str, float]:
    metrics = rank_metrics([r["ranks"][mode] for r in records], k)
    sectioned = [r["section_ranks"][mode] for r in records if mode in r["section_ranks"]]
    metrics.update(rank_metrics(sectioned, k, prefix="section_"))
    metrics["p50_ms"] = round(percentile(timings, 50), 2)
    metrics["p95_ms"] = round(percentile(timings, 95), 2)
    return metrics


def _document_metrics(records: list[dict], *, k: int, modes: tuple[str, ...]) -> dict[str, dict]:
    by_document: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_document[record["source_doc"]].append(record)
    return {
        document: {"n": len(rows), **{mode: rank_metrics([r["ranks"][mode] for r in rows], k) for mode in modes}}
        for document, rows in sorted(by_document.items())
    }


def retrieval_cases_evaluate(
    cases: list[EvalCase], *, k: int = 5, modes: tuple[str, ...] = kb.SEARCH_MODES
) -> tuple[dict, list[dict]]:
    """The metrics of `retrieval_evaluate`, and one record per question (its ranks and the chunks retrieved by
    the first mode). Unanswerable questions are left out: they have no document to find."""
    answerable = [case for case in cases if not case.unanswerable]
    if not answerable:
        raise EvalFileError("the eval file has no questions with a source_doc")
    records, timings = [], {mode: [] for mode in modes}
    for case in answerable:
        record, took = _case_search(case, k=k, modes=modes)
        records.append(record)
        for mode in modes:
            timings[mode].append(took[mode])
    report = {
        "n": len(records),
        "k": k,
        "modes": {mode: _mode_metrics(records, timings[mode], k=k, mode=mode) for mode in modes},
        "documents": _document_metrics(records, k=k, modes=modes),
    }
    return report, records


def retrieval_evaluate(cases: list[EvalCase], *, k: int = 5, modes: tuple[str, ...] = kb.SEARCH_MODES) -> dict:
    """Metrics per search mode and per document, in the shape `evaluate --json` prints."""
    return retrieval_cases_evaluate(cases, k=k, modes=modes)[0]
