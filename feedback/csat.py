"""CSAT: the visitor's 1–5 rating of a whole conversation, with an optional comment.

The widget asks for it when the conversation ends: an agent closed it, or the visitor has been idle for
CSAT_IDLE_SECONDS after a reply. One rating per conversation, an upsert, so a retried request is stored once and a
change of mind replaces the first answer. The comment is stored with personal data redacted, like a thumbs
comment. Reads for the console: the score distribution, the average and the CSAT score (share of 4s and 5s).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Avg, Count, Q

from feedback.models import CsatRating
from feedback.services import FeedbackError, comment_redact
from supportbot.chat.models import Conversation

SATISFIED = 4  # 4 and 5 count as satisfied, the usual CSAT score (and a confirmed resolution)
RECENT_COMMENTS = 5


def csat_record(*, conversation: Conversation, visitor_id: str, score: object, comment: str = "") -> CsatRating:
    """Record (or change) the visitor's rating of their conversation. FeedbackError for a score outside 1–5, a
    visitor other than the conversation's, or a conversation where nothing was said yet."""
    if isinstance(score, bool) or not isinstance(score, int) or score not in CsatRating.SCORES:
        raise FeedbackError("invalid_score", "score must be a whole number from 1 to 5")
    if not isinstance(comment, str):
        raise FeedbackError("malformed_field", "comment must be a string")
    if conversation.visitor_id != visitor_id:
        raise FeedbackError("unknown_conversation", "no conversation with that id for this visitor")
    if not conversation.messages.exclude(role="visitor").exists():
        raise FeedbackError("nothing_to_rate", "nobody has answered in this conversation yet")
    rating, _ = CsatRating.objects.update_or_create(
        conversation=conversation,
        defaults={
            "visitor_id": visitor_id,
            "score": score,
            "comment": comment_redact(comment.strip(), widget=conversation.widget),
        },
    )
    return rating


def csat_prompt(*, conversation: Conversation) -> dict:
    """What the widget needs to ask at the right time: the idle delay (0: only when closed) and whether the
    visitor already answered, so a reload does not ask again."""
    return {
        "idle_seconds": settings.CSAT_IDLE_SECONDS,
        "rated": CsatRating.objects.filter(conversation=conversation).exists(),
    }


def csat_summary(*, since: datetime | None = None, until: datetime | None = None) -> dict:
    """Ratings given between `since` (inclusive) and `until` (exclusive): count per score, average, CSAT score
    (the share of 4 and 5) and the latest comments."""
    ratings = CsatRating.objects.all()
    if since:
        ratings = ratings.filter(updated_at__gte=since)
    if until:
        ratings = ratings.filter(updated_at__lt=until)
    totals = ratings.aggregate(
        n=Count("pk"), average=Avg("score"), satisfied=Count("pk", filter=Q(score__gte=SATISFIED))
    )
    by_score = dict(ratings.values_list("score").annotate(n=Count("pk")).order_by("score"))
    comments = ratings.exclude(comment="").order_by("-updated_at", "-pk")[:RECENT_COMMENTS]
    return {
        "ratings": totals["n"],
        "average": round(totals["average"], 2) if totals["average"] is not None else None,
        "score": round(totals["satisfied"] / totals["n"], 4) if totals["n"] else None,
        "satisfied": totals["satisfied"],
        "by_score": [by_score.get(score, 0) for score in CsatRating.SCORES],
        "comments": [{"score": r.score, "comment": r.comment, "at": r.updated_at.isoformat()} for r in comments],
    }
