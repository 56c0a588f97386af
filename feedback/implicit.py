"""Implicit feedback: what visitors did after an answer, read back from the stored conversations.

- escalated: the conversation was handed to a human after this answer (the last answer before the handoff);
- rephrased: the visitor's next message asks the previous question again (word overlap, or the embeddings of
  the two are close);
- left: nothing came from the visitor after the answer and the conversation has been idle for
  FEEDBACK_LEFT_AFTER_MINUTES.

Derived from stored data only, so the chat pipeline needs no hooks; collecting again adds nothing new
(one signal per answer and kind).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

import numpy as np
from django.conf import settings
from django.db.models import Case, F, TextField, Value, When
from django.utils import timezone

from feedback.models import ImplicitSignal
from kb.embeddings import embedder
from supportbot.chat.models import Message

REPHRASE_SIMILARITY = 0.80
REPHRASE_WORD_OVERLAP = 0.60
_BATCH = 500
_WORD = re.compile(r"\w+")
_HANDOFF_ROLES = {Message.Role.SYSTEM, Message.Role.AGENT}


@dataclass
class _Row:
    conversation_id: object
    pk: int
    role: str
    text: str
    reply_to_id: int | None
    created_at: datetime
    escalation_reason: str


@dataclass
class _Pair:
    answer_id: int
    question: str
    follow_up: str
    at: datetime


def implicit_signals_collect(*, since: datetime | None = None) -> dict[str, int]:
    """Derive the signals of conversations with activity since `since` (all when None); returns counts found."""
    idle_before = timezone.now() - timedelta(minutes=left_after_minutes())
    found = {kind: 0 for kind in ImplicitSignal.Kind.values}
    signals: list[ImplicitSignal] = []
    pairs: list[_Pair] = []
    for _, group in groupby(_rows(since), key=lambda row: row.conversation_id):
        conversation_signals, conversation_pairs = _conversation(list(group), idle_before=idle_before)
        signals += conversation_signals
        pairs += conversation_pairs
        if len(pairs) >= _BATCH:
            signals += _rephrased(pairs)
            pairs = []
        if len(signals) >= _BATCH:
            _store(signals, found)
            signals = []
    _store(signals + _rephrased(pairs), found)
    return found


def left_after_minutes() -> int:
    return int(getattr(settings, "FEEDBACK_LEFT_AFTER_MINUTES", 30))


def _rows(since: datetime | None):
    messages = Message.objects.all()
    if since is not None:
        active = Message.objects.filter(created_at__gte=since).values("conversation_id")
        messages = messages.filter(conversation_id__in=active)
    # Only visitors' words are needed as text: answers can be long and there are many of them.
    visitor_text = Case(When(role=Message.Role.VISITOR, then=F("text")), default=Value(""), output_field=TextField())
    rows = messages.order_by("conversation_id", "pk").values_list(
        "conversation_id", "pk", "role", visitor_text, "reply_to_id", "created_at", "conversation__escalation_reason"
    )
    return (_Row(*values) for values in rows.iterator(chunk_size=2000))


def _conversation(rows: list[_Row], *, idle_before: datetime) -> tuple[list[ImplicitSignal], list[_Pair]]:
    signals: list[ImplicitSignal] = []
    pairs: list[_Pair] = []
    handoff = next((i for i, row in enumerate(rows) if row.role in _HANDOFF_ROLES), None)
    escalated = _escalated(rows, handoff)
    if escalated is not None:
        signals.append(escalated)
    visitor_texts = {row.pk: row.text for row in rows if row.role == Message.Role.VISITOR}
    idle = rows[-1].created_at < idle_before
    for index, row in enumerate(rows):
        if row.role != Message.Role.BOT:
            continue
        after = rows[index + 1 :]
        follow_up = next((r for r in after if r.role == Message.Role.VISITOR), None)
        if follow_up is not None:
            if row.reply_to_id in visitor_texts:
                pairs.append(_Pair(row.pk, visitor_texts[row.reply_to_id], follow_up.text, follow_up.created_at))
        elif idle and not any(r.role in _HANDOFF_ROLES for r in after):
            signals.append(
                ImplicitSignal(message_id=row.pk, kind=ImplicitSignal.Kind.LEFT, created_at=rows[-1].created_at)
            )
    return signals, pairs


def _escalated(rows: list[_Row], handoff: int | None) -> ImplicitSignal | None:
    """The answer the conversation was handed over after: the last one before the first handoff message."""
    reason = rows[0].escalation_reason
    if not reason:
        return None
    before = rows[:handoff] if handoff is not None else rows
    answer = next((row for row in reversed(before) if row.role == Message.Role.BOT), None)
    if answer is None:
        return None
    at = rows[handoff].created_at if handoff is not None else answer.created_at
    return ImplicitSignal(
        message_id=answer.pk, kind=ImplicitSignal.Kind.ESCALATED, detail={"reason": reason}, created_at=at
    )


def _rephrased(pairs: list[_Pair]) -> list[ImplicitSignal]:
    if not pairs:
        return []
    overlap = [_word_overlap(p.question, p.follow_up) for p in pairs]
    unsure = [i for i, o in enumerate(overlap) if o < REPHRASE_WORD_OVERLAP]
    similarity = dict.fromkeys(range(len(pairs)), 1.0)
    if unsure:
        vectors = embedder().embed([pairs[i].question for i in unsure] + [pairs[i].follow_up for i in unsure])
        cosines = np.sum(vectors[: len(unsure)] * vectors[len(unsure) :], axis=1)
        similarity.update(zip(unsure, (float(c) for c in cosines), strict=True))
    return [
        ImplicitSignal(
            message_id=pair.answer_id,
            kind=ImplicitSignal.Kind.REPHRASED,
            detail={"similarity": round(similarity[i], 3), "word_overlap": round(overlap[i], 3)},
            created_at=pair.at,
        )
        for i, pair in enumerate(pairs)
        if overlap[i] >= REPHRASE_WORD_OVERLAP or similarity[i] >= REPHRASE_SIMILARITY
    ]


def _word_overlap(first: str, second: str) -> float:
    """Jaccard overlap of the two messages' words."""
    a, b = set(_WORD.findall(first.lower())), set(_WORD.findall(second.lower()))
    return len(a & b) / len(a | b) if a and b else 0.0


def _store(signals: list[ImplicitSignal], found: dict[str, int]) -> None:
    for signal in signals:
        found[signal.kind] += 1
    ImplicitSignal.objects.bulk_create(signals, ignore_conflicts=True)
