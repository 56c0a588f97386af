"""Writes of the feedback loop: visitors' ratings, agents' corrections and good examples.

Ratings are upserts keyed on (answer, visitor), so a retried frame or request is stored once; a rating's comment
is stored with personal data redacted, like the visitor's messages. A down-rated answer leaves the semantic cache
at once, so it is never served again. An approved correction is published as an FAQ document of the knowledge
base (feedback/faq.py) after the approval commits. Dataset exports start here, from the admin or the console.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from feedback.models import Correction, ExportJob, GoodExample, Rating
from supportbot.errors import DomainError
from supportbot.jobs import job_enqueue_on_commit
from supportbot.pii import PLACEHOLDERS, pii_find

if TYPE_CHECKING:
    from supportbot.chat.models import Widget

MAX_COMMENT_CHARS = 2000
MAX_CORRECTION_CHARS = 8000


class FeedbackError(DomainError, ValueError):
    """Feedback refused (unknown answer, empty correction...). (Still a ValueError, as callers have caught it.)"""


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
        job_enqueue_on_commit(tasks.correction_publish_task, correction.pk)
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


def export_start(*, data: Mapping[str, Any], user: AbstractBaseUser | None, in_background: bool = False) -> ExportJob:
    """A dataset export job from an export form's cleaned data (format, since, until, rating, widget), queued
    once its row commits. The Django admin and the console both start exports here. `in_background`: without a
    broker, the job runs in a thread so the request returns at once (supportbot/jobs.py). Raises ValueError for
    a format or filter the export does not know."""
    from feedback import tasks
    from feedback.datasets import ExportFilters
    from feedback.exports import export_job_create

    filters = ExportFilters.parse(
        since=data["since"].isoformat() if data.get("since") else "",
        until=data["until"].isoformat() if data.get("until") else "",
        rating=data.get("rating") or "",
        widget=data.get("widget") or "",
    )
    job = export_job_create(fmt=data["format"], filters=filters, user=user)
    job_enqueue_on_commit(tasks.export_job_task, job.pk, in_background=in_background)
    return job
