"""Writes of the feedback loop: visitors' ratings, agents' corrections and good examples.

Ratings are upserts keyed on (answer, visitor), so a retried frame or request is stored once; a rating's comment
is stored with personal data redacted, like the visitor's messages. A down-rated answer leaves the semantic cache
at once, so it is never served again. An approved correction is published as an FAQ document of the knowledge
base (feedback/faq.py) after the approval commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from feedback.models import Correction, GoodExample, Rating
from supportbot.pii import PLACEHOLDERS, pii_find

if TYPE_CHECKING:
    from supportbot.chat.models import Widget

MAX_COMMENT_CHARS = 2000
MAX_CORRECTION_CHARS = 8000


class FeedbackError(ValueError):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def feedback_record(
    *, message_id: int, conversation_id, visitor_id: str, rating: str, reason: str = "", comment: str = ""
) -> Rating:
    """Record (or change) a visitor's thumbs on an answer of their conversation."""
    from supportbot.chat.models import Message

    if rating not in Rating.Value.values:
        raise FeedbackError("invalid_rating", 'rating must be "up" or "down"')
    if reason and reason not in Rating.Reason.values:
        raise FeedbackError("invalid_reason", f"reason must be one of {', '.join(Rating.Reason.values)}")
    answers = Message.objects.filter(pk=message_id, conversation_id=conversation_id, role=Message.Role.BOT)
    message = answers.select_related("conversation__widget").first()
    if message is None:
        raise FeedbackError("unknown_message", "no answer with that id in this conversation")
    with transaction.atomic():
        record, _ = Rating.objects.update_or_create(
            message=message,
            visitor_id=visitor_id,
            defaults={
                "value": rating,
                "reason": reason,
                "comment": comment_redact(comment, widget=message.conversation.widget),
            },
        )
        if rating == Rating.Value.DOWN:
            _cache_forget(message)
    return record


def comment_redact(comment: str, *, widget: Widget) -> str:
    """A visitor's comment as it may be stored: secrets always out, other personal data (emails, phone and card
    numbers...) out unless the widget keeps personal data, the same rule as their messages (guards/input_guard.py).
    The comment reaches the console, the review queue and exports, none of which need a visitor's card number."""
    # Redacted before the cut, with a margin, so a number split by the cut is still recognised and removed whole.
    text = comment[: MAX_COMMENT_CHARS + 64]
    keep_personal = widget.pii_policy == "keep"
    findings = [f for f in pii_find(text) if not keep_personal or f.kind == "SECRET"]
    for finding in reversed(findings):
        text = text[: finding.start] + PLACEHOLDERS[finding.kind] + text[finding.end :]
    return text[:MAX_COMMENT_CHARS]


def _cache_forget(message) -> None:
    """Drop the cache entries of this answer, and of the original it was replayed from."""
    from supportbot.chat.models import CachedAnswer

    ids = {message.pk}
    cached_from = (message.timings or {}).get("cached_from")
    if isinstance(cached_from, int):
        ids.add(cached_from)
    CachedAnswer.objects.filter(message_id__in=ids).delete()


def _answer(message_id: int):
    from supportbot.chat.models import Message

    message = Message.objects.filter(pk=message_id, role=Message.Role.BOT).select_related("reply_to").first()
    if message is None:
        raise FeedbackError("unknown_message", "no bot answer with that id")
    return message


def correction_write(*, message_id: int, author: AbstractBaseUser | None, text: str) -> Correction:
    """An agent's draft of the answer the bot should have given."""
    message = _answer(message_id)
    correction_check(message=message, text=text)
    return Correction.objects.create(message=message, author=author, text=text.strip())


def correction_check(*, message, text: str) -> None:
    """Raise FeedbackError unless `text` can correct `message` (a bot answer with its question)."""
    if message.role != "bot":
        raise FeedbackError("not_an_answer", "only the bot's answers can be corrected")
    if message.reply_to_id is None:
        raise FeedbackError("no_question", "this answer has no recorded question to correct")
    if not text.strip():
        raise FeedbackError("empty_correction", "the correction is empty")
    if len(text.strip()) > MAX_CORRECTION_CHARS:
        raise FeedbackError("correction_too_long", f"corrections are limited to {MAX_CORRECTION_CHARS} characters")


def correction_approve(*, correction_id: int, approver: AbstractBaseUser | None) -> Correction:
    """Approve a correction; it replaces any earlier approved one and is published as an FAQ document."""
    from feedback import tasks

    with transaction.atomic():
        correction = Correction.objects.select_for_update().get(pk=correction_id)
        if correction.status == Correction.Status.APPROVED:
            return correction  # approving twice changes nothing
        superseded = list(
            Correction.objects.select_for_update().filter(
                message_id=correction.message_id, status=Correction.Status.APPROVED
            )
        )
        for earlier in superseded:
            _reject(earlier)
        correction.status = Correction.Status.APPROVED
        correction.approved_by, correction.approved_at = approver, timezone.now()
        correction.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
        transaction.on_commit(lambda: tasks.correction_publish_task.delay(correction.pk))
    correction.refresh_from_db()
    return correction


def correction_reject(*, correction_id: int) -> Correction:
    """Reject a correction; if it was published, its FAQ document leaves the knowledge base."""
    with transaction.atomic():
        correction = Correction.objects.select_for_update().get(pk=correction_id)
        _reject(correction)
    return correction


def _reject(correction: Correction) -> None:
    from feedback.faq import faq_unpublish

    if correction.document_id or correction.status == Correction.Status.APPROVED:
        faq_unpublish(correction=correction)
    correction.status, correction.document = Correction.Status.REJECTED, None
    correction.save(update_fields=["status", "document", "updated_at"])


def answer_mark_good(*, message_id: int, user: AbstractBaseUser | None) -> GoodExample:
    """Mark an answer as a good example for fine-tuning; marking it again changes nothing."""
    message = _answer(message_id)
    if not message.text.strip():
        raise FeedbackError("empty_answer", "an empty answer can't be a good example")
    example, _ = GoodExample.objects.get_or_create(message=message, defaults={"marked_by": user})
    return example
