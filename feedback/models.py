"""Feedback: visitors' ratings, signals read from what visitors did, agents' corrections and good examples,
dataset export jobs and the confidence thresholds calibrated from ratings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from supportbot.chat.models import Message, MessageQuerySet
from supportbot.jobs import BackgroundJob


class Rating(models.Model):
    """A visitor's thumbs on one bot answer. One per visitor per answer: changing your mind updates it."""

    class Value(models.TextChoices):
        UP = "up", _("Thumbs up")
        DOWN = "down", _("Thumbs down")

    class Reason(models.TextChoices):
        WRONG = "wrong", _("Wrong")
        INCOMPLETE = "incomplete", _("Incomplete")
        NOT_RELEVANT = "not_relevant", _("Not relevant")
        OUTDATED = "outdated", _("Outdated")
        UNSAFE = "unsafe", _("Unsafe")
        OTHER = "other", _("Other")

    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="ratings")
    visitor_id = models.CharField(max_length=64)
    value = models.CharField(max_length=8, choices=Value.choices)
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "visitor_id"], name="feedback_one_rating_per_visitor")
        ]

    def __str__(self) -> str:
        return f"{self.value} on message {self.message_id}"


class ImplicitSignal(models.Model):
    """What the visitor did after an answer, read from the stored conversation (see feedback/implicit.py)."""

    class Kind(models.TextChoices):
        ESCALATED = "escalated", _("Escalated to a human")
        REPHRASED = "rephrased", _("Asked the same again")
        LEFT = "left", _("Left without a word")

    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="implicit_signals")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, help_text="When it happened.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "kind"], name="feedback_one_signal_per_kind")]
        indexes = [models.Index(fields=["kind", "created_at"], name="feedback_signal_kind_time")]

    def __str__(self) -> str:
        return f"{self.kind} after message {self.message_id}"


class Correction(models.Model):
    """The answer an agent says the bot should have given. Once approved it becomes an FAQ document."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="corrections")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="corrections_written"
    )
    text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    document = models.ForeignKey(
        "kb.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="corrections"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["message"], condition=models.Q(status="approved"), name="feedback_one_approved_correction"
            )
        ]

    def __str__(self) -> str:
        return f"Correction {self.pk} of message {self.message_id} ({self.status})"

    @property
    def faq_url(self) -> str:
        return f"/help/faq/{self.pk}/"


class GoodExample(models.Model):
    """An answer an agent marked as exemplary: it goes into fine-tuning data like an up-rated one."""

    message = models.OneToOneField("chat.Message", on_delete=models.CASCADE, related_name="good_example")
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Good example: message {self.message_id}"


class ExportJob(BackgroundJob):
    """One dataset export run in the background; its file lives under DATA_DIR/exports/."""

    class Format(models.TextChoices):
        OPENAI_CHAT = "openai-chat", _("OpenAI chat fine-tuning (JSONL)")
        PREFERENCE = "preference", _("Preference pairs for DPO (JSONL)")
        EVAL = "eval", _("Evaluation set (JSONL)")
        CSV = "csv", _("Spreadsheet (CSV)")

    format = models.CharField(max_length=16, choices=Format.choices)
    filters = models.JSONField(default=dict, blank=True)
    rows_written = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=dict, blank=True, help_text="Rows left out, counted by reason.")
    path = models.CharField(max_length=1024, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta(BackgroundJob.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.format} export {self.pk} ({self.status})"


class ConfidenceCalibration(models.Model):
    """Thresholds fitted to the ratings by `calibrate_confidence`; the newest row overrides the settings."""

    high = models.FloatField()
    low = models.FloatField()
    samples = models.PositiveIntegerField()
    report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"high ≥ {self.high:.3f}, low < {self.low:.3f} ({self.samples} ratings)"


class ReviewItemQuerySet(MessageQuerySet):
    def review_queue(self) -> ReviewItemQuerySet:
        """The review queue the console's review page shows (and the read-only admin list mirrors), newest first:
        down-rated answers and answers before an escalation (implicit signals, collected periodically), each with
        its question, the latest down rating and reason, and the conversation's status."""
        down = Rating.objects.filter(message=OuterRef("pk"), value=Rating.Value.DOWN).order_by("-updated_at", "-pk")
        escalated = ImplicitSignal.objects.filter(message=OuterRef("pk"), kind=ImplicitSignal.Kind.ESCALATED)
        return (
            self.filter(role=Message.Role.BOT)
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


class ReviewItem(Message):
    """A bot answer seen as an item of the review queue (down-rated, or followed by an escalation)."""

    objects = ReviewItemQuerySet.as_manager()

    class Meta:
        proxy = True
        verbose_name = "review queue item"
        verbose_name_plural = "review queue"


# --- Drafts from resolved conversations (issue #15) ---------------------------------------------------------
class ArticleDraft(models.Model):
    """A knowledge-base article drafted from a conversation an agent resolved (feedback/drafts.py): the visitor's
    question in their words and the agent's answer, personal data taken out. Approved, it is published like a
    correction; when an existing article already answers the question, the draft is an edit of that article."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    conversation = models.OneToOneField("chat.Conversation", on_delete=models.CASCADE, related_name="article_draft")
    question = models.TextField()
    answer = models.TextField()
    # The existing article whose question is near-identical: approving edits it instead of adding a new one.
    duplicate_of = models.ForeignKey("kb.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    duplicate_similarity = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # The page it was published as (a new article, or the existing one it edited).
    document = models.ForeignKey(
        "kb.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="article_drafts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Article draft {self.pk} from conversation {self.conversation_id} ({self.status})"

    @property
    def article_url(self) -> str:
        """The public page of a draft published as a new article."""
        return f"/help/articles/{self.pk}/"


# --- CSAT (issue #15): the visitor's 1–5 rating of a whole conversation (feedback/csat.py) ---------------------
class CsatRating(models.Model):
    """A visitor's satisfaction with a whole conversation, asked by the widget when it ends (closed, or idle).
    One per conversation: answering again (a retried request, a change of mind) updates it."""

    SCORES = range(1, 6)

    conversation = models.OneToOneField("chat.Conversation", on_delete=models.CASCADE, related_name="csat")
    visitor_id = models.CharField(max_length=64)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CSAT rating"
        constraints = [
            # The database keeps the scale too, whatever writes the row.
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="feedback_csat_score_1_to_5")
        ]
        indexes = [models.Index(fields=["updated_at"], name="feedback_csat_updated")]

    def __str__(self) -> str:
        return f"CSAT {self.score} for conversation {self.conversation_id}"


# --- end of CSAT ------------------------------------------------------------------------------------------------
