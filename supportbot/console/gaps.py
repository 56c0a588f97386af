"""Content gaps: the questions the bot could not answer or answered badly — a low-confidence answer, a thumbs
down, or a handoff to a human after it — grouped by meaning so the team writes one article per gap.

Grouping is greedy: questions in order, each joins the first group whose leading question is at least
SIMILARITY (cosine of the knowledge base's own embeddings) close, or starts a new group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db.models import Exists, OuterRef, Q

from feedback.models import ImplicitSignal, Rating
from kb.embeddings import embedder
from supportbot.chat.models import Message
from supportbot.console.charts import Period
from supportbot.pii import pii_redact

SIMILARITY = 0.75
MAX_QUESTIONS = 1000
MAX_GROUPS = 20
EXAMPLES = 5


@dataclass
class Gap:
    question: str
    vector: np.ndarray
    count: int = 0
    examples: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    message_ids: list[int] = field(default_factory=list)

    def add(self, question: str, reasons: list[str], message_id: int) -> None:
        self.count += 1
        if question not in self.examples and len(self.examples) < EXAMPLES:
            self.examples.append(question)
        for reason in reasons:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.message_ids.append(message_id)

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "count": self.count,
            "examples": self.examples,
            "reasons": self.reasons,
            "message_id": self.message_ids[0],
        }


def gap_candidates(period: Period) -> list[tuple[int, str, list[str]]]:
    """(answer id, question, reasons) for the period's badly answered questions, newest first."""
    down = Rating.objects.filter(message=OuterRef("pk"), value=Rating.Value.DOWN)
    escalated = ImplicitSignal.objects.filter(message=OuterRef("pk"), kind=ImplicitSignal.Kind.ESCALATED)
    answers = (
        Message.objects.filter(role=Message.Role.BOT, created_at__gte=period.start, created_at__lt=period.end)
        .annotate(down=Exists(down), escalated=Exists(escalated))
        .filter(Q(confidence_label="low") | Q(down=True) | Q(escalated=True))
        .filter(reply_to__isnull=False)
        .values_list("pk", "condensed_question", "reply_to__text", "confidence_label", "down", "escalated")
        .order_by("-created_at", "-pk")[:MAX_QUESTIONS]
    )
    rows = []
    for pk, condensed, asked, label, was_down, was_escalated in answers:
        question = pii_redact(" ".join((condensed or asked or "").split()))[0]
        reasons = [r for r, hit in (("low_confidence", label == "low"), ("down_rated", was_down)) if hit]
        reasons += ["escalated"] if was_escalated else []
        if question:
            rows.append((pk, question, reasons))
    return rows


def content_gaps(period: Period) -> list[dict]:
    """Groups of similar badly answered questions, the biggest first."""
    rows = gap_candidates(period)
    if not rows:
        return []
    vectors = embedder().embed([question for _, question, _ in rows])
    groups = gaps_group(rows, vectors)
    groups.sort(key=lambda gap: -gap.count)
    return [gap.as_dict() for gap in groups[:MAX_GROUPS]]


def gaps_group(rows: list[tuple[int, str, list[str]]], vectors: np.ndarray) -> list[Gap]:
    """Greedy grouping on normalised vectors: join the most similar leader at ≥ SIMILARITY, else lead anew."""
    groups: list[Gap] = []
    for (pk, question, reasons), vector in zip(rows, vectors, strict=True):
        best, score = None, SIMILARITY
        for gap in groups:
            similarity = float(np.dot(gap.vector, vector))
            if similarity >= score:
                best, score = gap, similarity
        if best is None:
            best = Gap(question=question, vector=vector)
            groups.append(best)
        best.add(question, reasons, pk)
    return groups
