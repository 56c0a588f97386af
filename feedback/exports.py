"""Feedback as datasets, written as a stream: one line per row, never the whole list in memory.

- openai-chat: chat fine-tuning JSONL, {"messages": [system, user (question + retrieved context), assistant]},
  from up-rated or good-example answers and from approved corrections (the correction is the assistant turn);
- preference: {"prompt", "chosen", "rejected"} for DPO trainers: a down-rated answer is rejected, its approved
  correction (or else the agent's reply after the handoff) is chosen;
- eval: {"question", "contexts", "answer", "reference", "rating", "source_doc", ...}, readable by
  `manage.py evaluate` (supportbot/evaluation/cases.py), with the reference answer from a correction or an
  up-rated answer;
- csv: one row per answer with feedback, for spreadsheets.

Rows that can't make a valid line are skipped and counted by reason. Personal data is scrubbed on the way out
(feedback/datasets.py).
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TextIO
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from feedback.datasets import ExportFilters, FeedbackRow, feedback_rows
from feedback.implicit import implicit_signals_collect
from feedback.models import ExportJob
from kb.extraction import FORMAT_BY_SUFFIX
from kb.public_links import document_page
from supportbot.answering import prompts

FORMATS = tuple(ExportJob.Format.values)
SUFFIXES = {"openai-chat": "jsonl", "preference": "jsonl", "eval": "jsonl", "csv": "csv"}
CSV_COLUMNS = [
    "answer_id",
    "conversation_id",
    "visitor",
    "widget",
    "created_at",
    "question",
    "condensed_question",
    "answer",
    "rating",
    "reason",
    "comment",
    "correction",
    "good_example",
    "agent_reply",
    "signals",
    "cited_documents",
    "confidence",
    "confidence_label",
    "model",
    "prompt_version",
    "retrieved",
    "guard_results",
]


def system_rules() -> str:
    """The rules of the answer prompt for a training example; the numbered context moves into its user turn.
    Lines with a placeholder (the leak canary) stay out: a model trained on the canary would defeat the check."""
    rules = prompts.SYSTEM_PROMPT.split("\n\nContext:")[0]
    return "\n".join(line for line in rules.splitlines() if "{" not in line)


class Skip(Exception):
    """This answer makes no valid line in this format; the reason is counted."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class ExportResult:
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.skipped.most_common())
        return f"Wrote {self.rows} rows, skipped {sum(self.skipped.values())}" + (f" ({reasons})" if reasons else "")


def dataset_export(*, fmt: str, out: TextIO, filters: ExportFilters, collect_signals: bool = True) -> ExportResult:
    """Write the dataset in format `fmt` to `out`, line by line; returns how many rows were written and skipped."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if collect_signals:
        implicit_signals_collect(since=filters.since)
    result = ExportResult()
    write = _csv_writer(out) if fmt == "csv" else _jsonl_writer(out, LINES[fmt])
    for row in feedback_rows(filters, context_chunks=settings.CHAT_CONTEXT_CHUNKS):
        try:
            write(row)
        except Skip as skip:
            result.skipped[skip.reason] += 1
            continue
        result.rows += 1
    return result


def _jsonl_writer(out: TextIO, line: Callable[[FeedbackRow], dict]) -> Callable[[FeedbackRow], None]:
    def write(row: FeedbackRow) -> None:
        out.write(json.dumps(line(row), ensure_ascii=False) + "\n")

    return write


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP "CSV injection"): a visitor's
# comment =HYPERLINK("http://evil.example","x") would become a live link, or worse, in a reviewer's sheet. The
# full-width forms are listed too because some spreadsheets normalise them to the ASCII ones.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows and never runs: text starting like a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_writer(out: TextIO) -> Callable[[FeedbackRow], None]:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)

    def write(row: FeedbackRow) -> None:
        # Every cell, not just the comment: questions, answers, titles and agents' replies are all text that a
        # visitor or a fetched page wrote.
        writer.writerow(
            [
                csv_cell(value)
                for value in [
                    row.answer_id,
                    row.conversation_id,
                    row.visitor,
                    row.widget,
                    row.created_at.isoformat(),
                    row.question,
                    row.condensed_question,
                    row.answer,
                    row.rating or "",
                    row.reason,
                    row.comment,
                    row.correction,
                    "yes" if row.good else "",
                    row.agent_reply,
                    " ".join(row.signals),
                    " ".join(dict.fromkeys(_without_fragment(c.get("url", "")) for c in row.citations)),
                    "" if row.confidence is None else row.confidence,
                    row.confidence_label,
                    row.model,
                    row.prompt_version,
                    json.dumps(row.retrieved, ensure_ascii=False),
                    json.dumps(row.guard_results, ensure_ascii=False),
                ]
            ]
        )

    return write


def _usable(row: FeedbackRow) -> None:
    if not row.question.strip():
        raise Skip("no question")
    if row.pii_only_question:
        raise Skip("PII-only")


def _user_turn(row: FeedbackRow) -> str:
    context = prompts.context_block(row.contexts) or "(no passages were found)"
    return f"Context:\n{context}\n\nQuestion: {row.standalone_question}"


def openai_chat_line(row: FeedbackRow) -> dict:
    _usable(row)
    if row.correction:
        assistant = row.correction
    elif row.rating == "up" or row.good:
        assistant = row.answer
    else:
        raise Skip("no reference")
    if not assistant.strip():
        raise Skip("empty answer")
    return {
        "messages": [
            {"role": "system", "content": system_rules()},
            {"role": "user", "content": _user_turn(row)},
            {"role": "assistant", "content": assistant},
        ]
    }


def preference_line(row: FeedbackRow) -> dict:
    _usable(row)
    if row.rating != "down":
        raise Skip("not rated down")
    if not row.answer.strip():
        raise Skip("empty answer")
    chosen = row.correction or row.agent_reply
    if not chosen.strip():
        raise Skip("no reference")
    if chosen.strip() == row.answer.strip():
        raise Skip("chosen equals rejected")
    return {
        "prompt": _user_turn(row),
        "chosen": chosen,
        "rejected": row.answer,
        "reason": row.reason,
        "metadata": row.reproduction(),
    }


def eval_line(row: FeedbackRow) -> dict:
    _usable(row)
    if not row.correction and not row.answer.strip():
        raise Skip("empty answer")
    reference = row.correction or (row.answer if row.rating == "up" or row.good else "")
    if not reference.strip():
        raise Skip("no reference")
    source = source_doc(row)
    if not source:
        raise Skip("no cited source")
    line = {
        "question": row.standalone_question,
        "contexts": [context.text for context in row.contexts if context.text],
        "answer": row.answer,
        "reference": reference,
        "rating": row.rating,
        "source_doc": source,
        "metadata": row.reproduction(),
    }
    section = _top_section(row) if not row.correction_url else None
    if section:
        line["section"] = section
    return line


LINES: dict[str, Callable[[FeedbackRow], dict]] = {
    "openai-chat": openai_chat_line,
    "preference": preference_line,
    "eval": eval_line,
}


def source_doc(row: FeedbackRow) -> str:
    """What `evaluate` matches as a suffix of a result's path or URL: the correction's FAQ page when there is
    one, else the top cited document: its file name, or its URL's path."""
    if row.correction_url:
        return row.correction_url
    if not row.citations:
        return ""
    top = min(row.citations, key=lambda c: c.get("n", 0))
    link = _without_fragment(top.get("url", ""))
    cited = next((c for c in row.contexts if c.chunk_id == top.get("chunk_id")), None)
    if cited and cited.source and link == document_page(cited.document_id):
        # Visitors were shown Supportbot's page of a document without a public URL (kb/public_links.py); the
        # evaluator matches the file it was read from, which also outlives re-ingestion (a new document id).
        link = cited.source
    if link.startswith(("http://", "https://")):
        path = urlsplit(link).path
        return path if path.strip("/") else link
    if PurePosixPath(link).suffix.lower() in FORMAT_BY_SUFFIX:
        return PurePosixPath(link).name
    return link


def _top_section(row: FeedbackRow) -> str | None:
    top = min(row.citations, key=lambda c: c.get("n", 0)) if row.citations else None
    context = next((c for c in row.contexts if top and c.chunk_id == top.get("chunk_id")), None)
    return context.heading_path[-1] if context and context.heading_path else None


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def export_job_create(*, fmt: str, filters: ExportFilters, user=None) -> ExportJob:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return ExportJob.objects.create(format=fmt, filters=filters.as_json(), created_by=user)


def export_job_run(*, job_id: int) -> ExportJob:
    """Run an export job into DATA_DIR/exports/; a retried task for a finished job does nothing."""
    job = ExportJob.objects.get(pk=job_id)
    if job.is_finished:
        return job
    job.status, job.started_at = ExportJob.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    path = export_path(job)
    partial = path.with_suffix(path.suffix + ".part")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            result = dataset_export(fmt=job.format, out=out, filters=ExportFilters.parse(**job.filters))
        os.replace(partial, path)  # a download never sees a half-written file
    except Exception as exc:  # noqa: BLE001 — the job row records the failure for the console
        partial.unlink(missing_ok=True)
        job.status, job.error = ExportJob.Status.FAILED, f"{type(exc).__name__}: {exc}"
    else:
        job.status, job.path = ExportJob.Status.SUCCEEDED, str(path)
        job.rows_written, job.skipped = result.rows, dict(result.skipped)
    job.finished_at = timezone.now()
    job.save()
    return job


def export_path(job: ExportJob) -> Path:
    folder = settings.DATA_DIR / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"feedback-{job.pk}-{job.format}.{SUFFIXES[job.format]}"
