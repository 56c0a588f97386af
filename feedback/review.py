"""The review queue: answers that went wrong, newest first — rated down, or followed by a handoff to a human.

The agent console will render it; until then it is an admin changelist (feedback/admin.py).
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery

from feedback.models import ImplicitSignal, Rating, ReviewItem


def review_queue() -> QuerySet[ReviewItem]:
    """Down-rated answers and answers before an escalation (implicit signals, collected periodically), each with
    its question, the latest down rating and reason, and the conversation's status."""
    down = Rating.objects.filter(message=OuterRef("pk"), value=Rating.Value.DOWN).order_by("-updated_at", "-pk")
    escalated = ImplicitSignal.objects.filter(message=OuterRef("pk"), kind=ImplicitSignal.Kind.ESCALATED)
    return (
        ReviewItem.objects.filter(role=ReviewItem.Role.BOT)
        .filter(Q(Exists(down)) | Q(Exists(escalated)))
        .annotate(
            question=F("reply_to__text"),
            rating=Subquery(down.values("value")[:1]),
            reason=Subquery(down.values("reason")[:1]),
            escalated=Exists(escalated),
            conversation_status=F("conversation__status"),
        )
        .select_related("conversation")
        .order_by("-created_at", "-pk")
    )
