"""The inbox's reads: conversations with their last message, confidence and thumbs; the escalation queue with a
short extractive summary; one conversation's transcript with what the agent needs to judge each message.

Rows are plain dicts because the same row goes into the page (json_script) and over the console websocket.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from feedback.models import Rating
from supportbot.chat.models import Conversation, Message
from supportbot.pii import PLACEHOLDERS

LIST_LIMIT = 100
SNIPPET_CHARS = 160
SUMMARY_RECENT = 3
STATUSES = ("open", "escalated", "held", "closed")
RATINGS = ("up", "down", "none")


@dataclass(frozen=True)
class InboxFilters:
    status: str = ""
    widget: str = ""
    rating: str = ""
    since: date | None = None
    until: date | None = None
    q: str = ""

    @classmethod
    def from_query(cls, params) -> InboxFilters:
        """From GET parameters; unknown values are ignored rather than refused (they come from a form)."""
        return cls(
            status=_one_of(params.get("status", ""), STATUSES),
            widget=params.get("widget", "").strip()[:64],
            rating=_one_of(params.get("rating", ""), RATINGS),
            since=_date(params.get("since", "")),
            until=_date(params.get("until", "")),
            q=" ".join(params.get("q", "").split())[:200],
        )

    @property
    def active(self) -> bool:
        return any((self.status, self.widget, self.rating, self.since, self.until, self.q))


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def inbox_conversations() -> QuerySet[Conversation]:
    """Conversations in which something was said, annotated for inbox rows, most recently active first."""
    # A bot reply still being written has no text yet: rows show the last message that has (Message.state).
    messages = Message.objects.shown().filter(conversation=OuterRef("pk")).order_by("-created_at", "-pk")
    answers = messages.filter(role=Message.Role.BOT).exclude(text="")
    return (
        Conversation.objects.filter(Exists(messages))
        .select_related("widget", "assigned_agent")
        .annotate(
            last_text=Subquery(messages.values("text")[:1]),
            last_role=Subquery(messages.values("role")[:1]),
            last_at=Subquery(messages.values("created_at")[:1]),
            confidence=Subquery(answers.values("confidence")[:1]),
            confidence_label=Subquery(answers.values("confidence_label")[:1]),
            thumbs_up=_rating_count(Rating.Value.UP),
            thumbs_down=_rating_count(Rating.Value.DOWN),
        )
        .order_by("-updated_at")
    )


def _rating_count(value: str):
    counts = (
        Rating.objects.filter(message__conversation=OuterRef("pk"), value=value)
        .order_by()
        .values("message__conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def inbox_filter(conversations: QuerySet[Conversation], filters: InboxFilters) -> QuerySet[Conversation]:
    if filters.status == "held":
        conversations = conversations.filter(assigned_agent__isnull=False)
    elif filters.status:
        conversations = conversations.filter(status=filters.status)
    if filters.widget:
        conversations = conversations.filter(widget__key=filters.widget)
    ratings = Rating.objects.filter(message__conversation=OuterRef("pk"))
    if filters.rating in ("up", "down"):
        conversations = conversations.filter(Exists(ratings.filter(value=filters.rating)))
    elif filters.rating == "none":
        conversations = conversations.exclude(Exists(ratings))
    if filters.since:
        conversations = conversations.filter(created_at__gte=_day_start(filters.since))
    if filters.until:
        conversations = conversations.filter(created_at__lt=_day_start(filters.until + timedelta(days=1)))
    if filters.q:
        said = Message.objects.filter(conversation=OuterRef("pk"), text__icontains=filters.q)
        conversations = conversations.filter(Q(Exists(said)) | Q(visitor_id=filters.q) | Q(ticket_reference=filters.q))
    return conversations


def inbox_rows(filters: InboxFilters) -> list[dict]:
    return [inbox_row(c) for c in inbox_filter(inbox_conversations(), filters)[:LIST_LIMIT]]


def escalation_rows() -> list[dict]:
    """Escalated conversations, the longest waiting first, each with a summary for the agent."""
    waiting = inbox_conversations().filter(status=Conversation.Status.ESCALATED).order_by("updated_at")
    return [inbox_row(c, summary=True) for c in waiting[:LIST_LIMIT]]


def escalations_waiting() -> int:
    """Escalated conversations no agent holds yet: the count in the console's title."""
    return Conversation.objects.filter(status=Conversation.Status.ESCALATED, assigned_agent__isnull=True).count()


def inbox_row_for(conversation_id) -> dict | None:
    """One row for a live update, or None when the conversation is unknown or nothing was said in it yet."""
    if not is_conversation_id(str(conversation_id)):
        return None
    conversation = inbox_conversations().filter(pk=conversation_id).first()
    return inbox_row(conversation, summary=True) if conversation else None


def is_conversation_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def inbox_row(conversation: Conversation, *, summary: bool = False) -> dict:
    agent = conversation.assigned_agent
    row = {
        "id": str(conversation.pk),
        "url": reverse("console:conversation", args=[conversation.pk]),
        "widget": conversation.widget.name,
        "widget_key": conversation.widget.key,
        "visitor": conversation.visitor_id[:12],
        "status": conversation.status,
        "reason": conversation.escalation_reason,
        "agent": (agent.get_short_name() or agent.get_username()) if agent else "",
        "agent_id": agent.pk if agent else None,
        "last_text": _snippet(conversation.last_text or ""),
        "last_role": conversation.last_role or "",
        "last_at": (conversation.last_at or conversation.updated_at).isoformat(),
        "created_at": conversation.created_at.isoformat(),
        "confidence": conversation.confidence,
        "confidence_label": conversation.confidence_label or "",
        "thumbs_up": conversation.thumbs_up,
        "thumbs_down": conversation.thumbs_down,
        "contact_email": bool(conversation.contact_email),
        "ticket": conversation.ticket_reference,
    }
    if summary:
        row["summary"] = conversation_summary(conversation)
    return row


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def conversation_summary(conversation: Conversation) -> dict:
    """Extractive: the visitor's first question and the last few things said, so the agent can start at once."""
    spoken = conversation.messages.exclude(role=Message.Role.SYSTEM).exclude(text="")
    first = spoken.filter(role=Message.Role.VISITOR).order_by("created_at", "pk").first()
    recent = list(spoken.exclude(pk=first.pk if first else None).order_by("-created_at", "-pk")[:SUMMARY_RECENT])
    return {
        "first_question": _snippet(first.text) if first else "",
        "recent": [{"role": m.role, "text": _snippet(m.text, 120)} for m in reversed(recent)],
        "messages": conversation.messages.count(),
    }


def agent_transcript(conversation: Conversation) -> list[dict]:
    """What an agent sees of a conversation: every shown message with its ratings (the visitor's own transcript is
    supportbot.chat.services.visitor_transcript)."""
    messages = list(conversation.messages.shown().select_related("agent").order_by("created_at", "pk"))
    ratings: dict[int, list[dict]] = {}
    for rating in Rating.objects.filter(message__in=messages).order_by("created_at"):
        ratings.setdefault(rating.message_id, []).append(
            {"value": rating.value, "reason": rating.reason, "comment": rating.comment}
        )
    return [message_detail(m, ratings.get(m.pk, [])) for m in messages]


def agent_transcript_for(conversation_id) -> list[dict]:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    return agent_transcript(conversation) if conversation else []


def message_detail_for(message_id) -> dict | None:
    message = Message.objects.select_related("agent").filter(pk=message_id).first()
    if message is None:
        return None
    ratings = [{"value": r.value, "reason": r.reason, "comment": r.comment} for r in message.ratings.all()]
    return message_detail(message, ratings)


def message_detail(message: Message, ratings: list[dict]) -> dict:
    """A message as the console shows it: citations, confidence, guard events and ratings; personal data the
    guards redacted appears only as the kinds that were redacted (the stored text has placeholders)."""
    events = [e for e in message.guard_results if isinstance(e, dict) and "validator" in e]
    tripped = [
        {"validator": e["validator"], "outcome": e.get("outcome", ""), "action": e.get("action", "")}
        for e in events
        if e.get("outcome") != "pass"
    ]
    return {
        "id": message.pk,
        "role": message.role,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "agent": (message.agent.get_short_name() or message.agent.get_username()) if message.agent else "",
        "citations": [
            {k: c.get(k, "") for k in ("n", "title", "url", "snippet")}
            for c in message.citations
            if isinstance(c, dict)
        ],
        "confidence": message.confidence,
        "confidence_label": message.confidence_label,
        "from_cache": message.from_cache,
        "latency_ms": (message.timings or {}).get("total_ms"),
        "model": message.model,
        "guard_checks": len(events),
        "guard_events": tripped,
        "redacted": _redacted_kinds(message),
        "ratings": ratings,
    }


def _redacted_kinds(message: Message) -> list[str]:
    kinds = {k for e in message.guard_results if isinstance(e, dict) for k in e.get("redacted", [])}
    kinds |= {kind for kind, placeholder in PLACEHOLDERS.items() if placeholder in message.text}
    return sorted(kinds)
