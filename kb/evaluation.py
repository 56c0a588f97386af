"""Retrieval evaluation over a JSONL file of questions with the document (and section) that answers each.

A line: {"question": ..., "source_doc": "suffix of the document's path or URL", "section"?: "heading"}. A hit
is a retrieved chunk from that document; a section hit also has the heading in its heading path. A line may
also carry a reference answer ("reference", or "answer" when there is no "reference" — the `eval` export of
feedback has both, and its "answer" is the bot's old answer), and `"unanswerable": true` marks a question the
knowledge base cannot answer (no source_doc needed). Answers are scored by supportbot/evaluation/.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kb.retrieval import MODES, SearchResult, timed_search

SNIPPET_CHARS = 300


class EvalFileError(ValueError):
    pass


@dataclass
class EvalCase:
    question: str
    source_doc: str = ""
    section: str | None = None
    reference: str | None = None
    unanswerable: bool = False


def cases_load(path: Path, *, unanswerable: bool = False) -> list[EvalCase]:
    """The questions of a JSONL eval file. With `unanswerable`, every line is an unanswerable question."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"{path}: {exc}") from exc
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            cases.append(_case(json.loads(line), unanswerable=unanswerable))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            wanted = "question" if unanswerable else "question and source_doc"
            raise EvalFileError(f"{path}:{number}: expected JSON with {wanted} ({exc})") from exc
    return cases


def _case(row: dict, *, unanswerable: bool) -> EvalCase:
    question = row["question"].strip()
    if not question:
        raise KeyError("question")
    if unanswerable or row.get("unanswerable") is True:
        return EvalCase(question, unanswerable=True)
    reference = row.get("reference") or row.get("answer") or None
    source_doc = row["source_doc"].strip()
    if not source_doc:
        raise KeyError("source_doc")
    return EvalCase(question, source_doc, row.get("section") or None, reference.strip() if reference else None)


def source_matches(values: Iterable[str], source_doc: str) -> bool:
    """Whether any of a chunk's document path or URL ends with `source_doc`."""
    wanted = source_doc.rstrip("/")
    return any(value and value.rstrip("/").endswith(wanted) for value in values)


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
    return {
        "chunk_id": result.chunk_id,
        "title": result.title,
        "heading": result.heading,
        "source": result.source,
        "url": result.link,
        "score": round(result.score, 4),
        "text": result.text[:SNIPPET_CHARS],
    }


def _case_search(case: EvalCase, *, k: int, modes: tuple[str, ...]) -> tuple[dict, dict[str, float]]:
    record: dict = {"question": case.question, "source_doc": case.source_doc, "section": case.section}
    record["ranks"], record["section_ranks"], took = {}, {}, {}
    for mode in modes:
        results, took[mode] = timed_search(case.question, k=k, mode=mode)
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
    cases: list[EvalCase], *, k: int = 5, modes: tuple[str, ...] = MODES
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


def retrieval_evaluate(cases: list[EvalCase], *, k: int = 5, modes: tuple[str, ...] = MODES) -> dict:
    """Metrics per search mode and per document, in the shape `evaluate --json` prints."""
    return retrieval_cases_evaluate(cases, k=k, modes=modes)[0]
