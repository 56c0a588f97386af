"""Recording feedback. Ratings are upserts keyed on (answer, visitor), so a retried frame is stored once."""

from __future__ import annotations

from feedback.models import Rating


class FeedbackError(ValueError):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def feedback_record(
    *, message_id: int, conversation_id, visitor_id: str, rating: str, reason: str = "", comment: str = ""
) -> Rating:
    from supportbot.chat.models import Message

    if rating not in Rating.Value.values:
        raise FeedbackError("invalid_rating", 'rating must be "up" or "down"')
    if reason and reason not in Rating.Reason.values:
        raise FeedbackError("invalid_reason", f"reason must be one of {', '.join(Rating.Reason.values)}")
    message = Message.objects.filter(pk=message_id, conversation_id=conversation_id, role=Message.Role.BOT).first()
    if message is None:
        raise FeedbackError("unknown_message", "no answer with that id in this conversation")
    record, _ = Rating.objects.update_or_create(
        message=message,
        visitor_id=visitor_id,
        defaults={"value": rating, "reason": reason, "comment": comment[:2000]},
    )
    return record
