"""Resolutions: which conversations the bot resolved, counted the way Intercom counts Fin's.

Each conversation in which the visitor asked something ends in exactly one of these:

- with a human: it was escalated, taken over, or an agent wrote in it. Not the bot's resolution, whatever the
  visitor said afterwards.
- confirmed: the visitor said the bot helped. Their verdict is their CSAT rating when they gave one (4 or 5 is
  satisfied), else their latest thumbs (up is satisfied).
- not resolved: the visitor said it did not help (a CSAT of 1 to 3, or a thumbs down last), or the conversation
  ended with a visitor's question unanswered or with the bot offering a human or apologising.
- assumed: no verdict and no human, and the conversation ended after an answer of the bot: the visitor left
  without asking again (closed, or idle for FEEDBACK_LEFT_AFTER_MINUTES since the last message).
- still open: none of those yet (it is not counted in the rates).

The resolution rate is (confirmed + assumed) over the conversations that ended or were confirmed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from feedback.csat import SATISFIED
from feedback.implicit import left_after_minutes
from feedback.models import CsatRating, Rating
from supportbot.chat.models import Conversation, Message

OUTCOMES = ("confirmed", "assumed", "unresolved", "human", "open")


def human_involved() -> Q:
    """A conversation a human took part in: escalated, held by an agent, or an agent wrote in it."""
    agent_spoke = Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.AGENT)
    return (
        Q(status=Conversation.Status.ESCALATED)
        | ~Q(escalation_reason="")
        | Q(assigned_agent__isnull=False)
        | Q(Exists(agent_spoke))
    )


def resolution_counts(*, conversations: QuerySet, now: datetime | None = None) -> dict:
    """How many of `conversations` ended in each outcome (see the module's docstring), and the rates."""
    idle_before = (now or timezone.now()) - timedelta(minutes=left_after_minutes())
    rows = _with_outcome(conversations, idle_before=idle_before).values("outcome").annotate(n=Count("pk"))
    counts = dict.fromkeys(OUTCOMES, 0) | {row["outcome"]: row["n"] for row in rows.order_by()}
    counted = sum(counts.values()) - counts["open"]
    return {
        **counts,
        "conversations": sum(counts.values()),
        "counted": counted,
        "resolution_rate": _share(counts["confirmed"] + counts["assumed"], counted),
        "confirmed_rate": _share(counts["confirmed"], counted),
        "assumed_rate": _share(counts["assumed"], counted),
        "left_after_minutes": left_after_minutes(),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _with_outcome(conversations: QuerySet, *, idle_before: datetime) -> QuerySet:
    said = Message.objects.filter(conversation=OuterRef("pk")).exclude(role=Message.Role.SYSTEM)
    last_said = said.order_by("-created_at", "-pk")
    last_thumb = Rating.objects.filter(message__conversation=OuterRef("pk")).order_by("-updated_at", "-pk")
    csat = CsatRating.objects.filter(conversation=OuterRef("pk"))
    annotated = conversations.annotate(
        csat_score=Subquery(csat.values("score")[:1]),
        last_thumb=Subquery(last_thumb.values("value")[:1]),
        last_role=Subquery(last_said.values("role")[:1]),
        last_state=Subquery(last_said.values("state")[:1]),
        last_offered=Subquery(last_said.values("escalation_offered")[:1]),
        last_at=Subquery(
            Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
        ),
    )
    verdict = Case(
        When(csat_score__gte=SATISFIED, then=Value(Rating.Value.UP)),
        When(csat_score__isnull=False, then=Value(Rating.Value.DOWN)),
        default=F("last_thumb"),
        output_field=CharField(),
    )
    ended = Q(status=Conversation.Status.CLOSED) | Q(last_at__lt=idle_before)
    answered_last = Q(last_role=Message.Role.BOT, last_state=Message.State.DONE, last_offered=False)
    outcome = Case(
        When(human_involved(), then=Value("human")),
        When(verdict=Rating.Value.UP, then=Value("confirmed")),
        When(verdict=Rating.Value.DOWN, then=Value("unresolved")),
        When(ended & answered_last, then=Value("assumed")),
        When(ended, then=Value("unresolved")),
        default=Value("open"),
        output_field=CharField(),
    )
    return annotated.annotate(verdict=verdict).annotate(outcome=outcome)
