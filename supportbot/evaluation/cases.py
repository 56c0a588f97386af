"""The cases of an eval set: a JSONL file of questions with the document (and section) that answers each.

A line: {"question": ..., "source_doc": "suffix of the document's path or URL", "section"?: "heading"}. A hit
is a retrieved chunk from that document; a section hit also has the heading in its heading path. A line may
also carry a reference answer ("reference", or "answer" when there is no "reference" — the `eval` export of
feedback has both, and its "answer" is the bot's old answer), and `"unanswerable": true` marks a question the
knowledge base cannot answer (no source_doc needed). Retrieval is scored by supportbot/evaluation/retrieval.py,
answers by supportbot/evaluation/answers.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


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
