"""The rows of a feedback dataset: every bot answer with feedback (a rating, an approved correction or a good
example mark), with what is needed to reproduce the turn, read in a stream and scrubbed of personal data.

Answers are read with `.iterator(chunk_size=...)` and the context passages of each batch in one query, so an
export holds one batch in memory whatever its size.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import islice

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from feedback.models import Correction, GoodExample, ImplicitSignal, Rating
from kb import SearchResult
from kb.models import Chunk
from supportbot.chat.models import Message
from supportbot.pii import PLACEHOLDERS, pii_redact

BATCH = 1000
_FIELDS = (
    "pk",
    "conversation_id",
    "conversation__visitor_id",
    "conversation__widget__key",
    "created_at",
    "text",
    "reply_to__text",
    "condensed_question",
    "retrieved",
    "citations",
    "confidence",
    "confidence_label",
    "prompt_version",
    "model",
    "guard_results",
)
_ANNOTATIONS = ("rating", "reason", "comment", "correction", "correction_url", "good", "agent_reply", "signals")


@dataclass(frozen=True)
class ExportFilters:
    since: datetime | None = None
    until: datetime | None = None
    rating: str | None = None
    widget: str | None = None

    @classmethod
    def parse(cls, *, since: str = "", until: str = "", rating: str = "", widget: str = "") -> ExportFilters:
        """From command-line or JSON values; a date `until` includes that whole day. Raises ValueError."""
        if rating and rating not in Rating.Value.values:
            raise ValueError('rating must be "up" or "down"')
        start, end = _moment(since, "since"), _moment(until, "until")
        if end and _is_date(until):
            end += timedelta(days=1)
        return cls(since=start, until=end, rating=rating or None, widget=widget or None)

    def as_json(self) -> dict:
        return {
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "rating": self.rating or "",
            "widget": self.widget or "",
        }


def _is_date(value: str) -> bool:
    try:
        return parse_date(value) is not None
    except ValueError:
        return False


def _moment(value: str, name: str) -> datetime | None:
    """A date (its midnight, UTC) or an ISO date-time; ValueError naming the option otherwise."""
    if not value:
        return None
    try:
        moment = datetime.combine(parse_date(value), time.min) if _is_date(value) else parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"--{name} must be a date (YYYY-MM-DD) or an ISO date-time, got {value!r}")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


@dataclass
class FeedbackRow:
    """One answer with its feedback; every text field is already scrubbed of personal data."""

    answer_id: int
    conversation_id: str
    visitor: str
    widget: str
    created_at: datetime
    question: str
    condensed_question: str
    answer: str
    rating: str | None
    reason: str
    comment: str
    correction: str
    correction_url: str
    good: bool
    agent_reply: str
    signals: list[str]
    citations: list[dict]
    retrieved: list[dict]
    contexts: list[SearchResult] = field(default_factory=list)
    confidence: float | None = None
    confidence_label: str = ""
    model: str = ""
    prompt_version: str = ""
    guard_results: list = field(default_factory=list)
    pii_only_question: bool = False

    @property
    def standalone_question(self) -> str:
        return self.condensed_question or self.question

    def reproduction(self) -> dict:
        """What is needed to reproduce the turn, for formats that carry metadata."""
        return {
            "answer_id": self.answer_id,
            "conversation_id": self.conversation_id,
            "created_at": self.created_at.isoformat(),
            "condensed_question": self.condensed_question,
            "retrieved": self.retrieved,
            "prompt_version": self.prompt_version,
            "model": self.model,
            "confidence": self.confidence,
            "confidence_label": self.confidence_label,
            "guard_results": self.guard_results,
            "signals": self.signals,
        }


def feedback_answers(filters: ExportFilters) -> QuerySet:
    """Bot answers with feedback, newest last, as dicts of the fields and annotations above."""
    ratings = Rating.objects.filter(message=OuterRef("pk")).order_by("-updated_at", "-pk")
    approved = Correction.objects.filter(message=OuterRef("pk"), status=Correction.Status.APPROVED)
    agent_reply = Message.objects.filter(
        conversation=OuterRef("conversation"), role=Message.Role.AGENT, pk__gt=OuterRef("pk")
    ).order_by("pk")
    answers = Message.objects.filter(role=Message.Role.BOT).filter(
        Q(Exists(ratings)) | Q(Exists(approved)) | Q(Exists(GoodExample.objects.filter(message=OuterRef("pk"))))
    )
    if filters.since:
        answers = answers.filter(created_at__gte=filters.since)
    if filters.until:
        answers = answers.filter(created_at__lt=filters.until)
    if filters.widget:
        answers = answers.filter(conversation__widget__key=filters.widget)
    answers = answers.annotate(
        rating=Subquery(ratings.values("value")[:1]),
        reason=Subquery(ratings.values("reason")[:1]),
        comment=Subquery(ratings.values("comment")[:1]),
        correction=Subquery(approved.values("text")[:1]),
        correction_url=Subquery(approved.values("document__url")[:1]),
        good=Exists(GoodExample.objects.filter(message=OuterRef("pk"))),
        agent_reply=Subquery(agent_reply.values("text")[:1]),
        signals=ArraySubquery(ImplicitSignal.objects.filter(message=OuterRef("pk")).order_by("kind").values("kind")),
    )
    if filters.rating:
        answers = answers.filter(rating=filters.rating)
    return answers.order_by("pk").values(*_FIELDS, *_ANNOTATIONS)


def feedback_rows(filters: ExportFilters, *, context_chunks: int = 5) -> Iterator[FeedbackRow]:
    """Stream the dataset rows, scrubbed; visitor ids become pseudonyms that hold within this stream only."""
    salt = secrets.token_bytes(16)
    stream = feedback_answers(filters).iterator(chunk_size=BATCH)
    while batch := list(islice(stream, BATCH)):
        passages = _passages(batch, context_chunks)
        for values in batch:
            yield _row(values, passages, salt, context_chunks)


def _passages(batch: list[dict], limit: int) -> dict[int, dict]:
    ids = {r["chunk_id"] for values in batch for r in (values["retrieved"] or [])[:limit] if "chunk_id" in r}
    chunks = Chunk.objects.filter(pk__in=ids).values("pk", "text", "heading_path", "anchor", "document__uri")
    # Scrubbed once per batch: the same passages come back in many answers.
    return {chunk["pk"]: {**chunk, "text": scrub(chunk["text"])} for chunk in chunks}


def _row(values: dict, passages: dict[int, dict], salt: bytes, limit: int) -> FeedbackRow:
    question, kinds = pii_redact(values["reply_to__text"] or "")
    return FeedbackRow(
        answer_id=values["pk"],
        conversation_id=str(values["conversation_id"]),
        visitor=hmac.new(salt, values["conversation__visitor_id"].encode(), hashlib.sha256).hexdigest()[:16],
        widget=values["conversation__widget__key"],
        created_at=values["created_at"],
        question=question,
        condensed_question=scrub(values["condensed_question"]),
        answer=scrub(values["text"]),
        rating=values["rating"],
        reason=values["reason"] or "",
        comment=scrub(values["comment"] or ""),
        correction=scrub(values["correction"] or ""),
        correction_url=values["correction_url"] or "",
        good=values["good"],
        agent_reply=scrub(values["agent_reply"] or ""),
        signals=list(values["signals"] or []),
        citations=scrub(values["citations"] or []),
        retrieved=scrub(values["retrieved"] or []),
        contexts=_contexts(values["retrieved"] or [], passages, limit),
        confidence=values["confidence"],
        confidence_label=values["confidence_label"],
        model=values["model"],
        prompt_version=values["prompt_version"],
        guard_results=scrub(values["guard_results"] or []),
        pii_only_question=bool(kinds) and not _has_words(question),
    )


def _contexts(retrieved: list[dict], passages: dict[int, dict], limit: int) -> list[SearchResult]:
    """The passages the model was given, numbered as it saw them. Re-ingesting a document replaces its chunks:
    a passage gone since keeps its number and title with an empty text."""
    contexts = []
    for row in retrieved[:limit]:
        chunk = passages.get(row.get("chunk_id")) or {}
        contexts.append(
            SearchResult(
                chunk_id=row.get("chunk_id", 0),
                document_id=row.get("document_id", 0),
                title=scrub(row.get("title", "")),
                source=chunk.get("document__uri", ""),
                url=row.get("url", ""),
                heading_path=list(chunk.get("heading_path") or []),
                anchor=chunk.get("anchor", ""),
                text=chunk.get("text", ""),
                score=row.get("score", 0.0),
            )
        )
    return contexts


def scrub(value):
    """Personal data out of a string, or out of every string inside a JSON-like value."""
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    return value


@functools.lru_cache(maxsize=4096)
def _scrub_text(text: str) -> str:
    # Titles, links and passages of the knowledge base come back in many rows; the cache is bounded.
    return pii_redact(text)[0]


def _has_words(text: str) -> bool:
    stripped = text
    for placeholder in PLACEHOLDERS.values():
        stripped = stripped.replace(placeholder, "")
    return any(ch.isalnum() for ch in stripped)
