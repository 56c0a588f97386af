from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField


def _new_widget_key() -> str:
    return secrets.token_urlsafe(12)


def _limit_field(help_text: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        null=True, blank=True, help_text=f"{help_text} Blank: the server default. 0: no limit."
    )


class Widget(models.Model):
    """One embeddable chat widget: its key goes in the script tag; only its allowed origins may open a chat."""

    key = models.CharField(max_length=64, unique=True, default=_new_widget_key)
    name = models.CharField(max_length=200)
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Origins like "https://www.example.com"; "self" allows pages served by Supportbot itself.',
    )
    title = models.CharField(max_length=100, default="Support")
    greeting = models.CharField(max_length=500, default="Hi! Ask me anything about our product.")
    accent_color = models.CharField(max_length=7, default="#3558e6")
    # Guard settings
    pii_policy = models.CharField(
        max_length=8,
        choices=[("redact", _("Redact personal data")), ("keep", _("Keep personal data"))],
        default="redact",
        help_text="Redact: emails, phone numbers, card numbers… are replaced before storing or sending to a model.",
    )
    allowed_topics = models.JSONField(
        default=list, blank=True, help_text="When set, questions far from every topic get a polite redirect."
    )
    banned_words = models.JSONField(default=list, blank=True, help_text="Words the bot must never say.")
    competitor_names = models.JSONField(default=list, blank=True, help_text="Removed from answers.")
    # --- Links in answers (issue #13, supportbot/guards/links.py) ---
    # Answers link only to the knowledge base's own hosts and Supportbot's; these domains (subdomains included)
    # are allowed for this widget too, on top of the server-wide KB_ANSWER_LINK_DOMAINS.
    answer_link_domains = models.JSONField(
        default=list,
        blank=True,
        help_text='Other domains answers may link to, like "status.example.com" (subdomains included).',
    )
    # --- end of links in answers ---
    # Limits (supportbot/chat/limits.py): blank = the server default from settings, 0 = no limit.
    visitor_messages_per_minute = _limit_field("Messages one visitor may send per minute.")
    ip_messages_per_minute = _limit_field("Messages one network address may send per minute.")
    widget_messages_per_minute = _limit_field("Messages all visitors of this widget may send per minute.")
    visitor_conversations_per_hour = _limit_field("New conversations one visitor may start per hour.")
    ip_conversations_per_hour = _limit_field("New conversations one network address may start per hour.")
    widget_conversations_per_hour = _limit_field("New conversations this widget may start per hour.")
    daily_token_budget = _limit_field(
        "LLM tokens (prompt + completion) per UTC day; past it, answers come from the help centre without the LLM."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ESCALATED = "escalated", _("Escalated")
        CLOSED = "closed", _("Closed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    widget = models.ForeignKey(Widget, on_delete=models.PROTECT, related_name="conversations")
    visitor_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    escalation_reason = models.CharField(max_length=64, blank=True)
    contact_email = models.EmailField(blank=True)
    ticket_reference = models.CharField(max_length=32, blank=True)
    origin = models.CharField(max_length=300, blank=True)
    abuse_count = models.PositiveIntegerField(default=0)
    # While an agent holds the conversation the bot stays silent.
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="held_conversations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.widget.key}/{self.visitor_id} ({self.status})"


class MessageQuerySet(models.QuerySet):
    def shown(self) -> MessageQuerySet:
        """What a transcript shows: every message but a bot reply that is still being written (it has no text yet;
        it is shown once done, or failed with its apology)."""
        return self.exclude(role=Message.Role.BOT, state__in=Message.UNFINISHED)

    def abandoned(self, *, claimed_before) -> MessageQuerySet:
        """Bot replies no answerer holds any more: released (their connection closed mid-answer) or claimed longer
        ago than an answer can take (their process died)."""
        return self.filter(role=Message.Role.BOT, state__in=Message.UNFINISHED).filter(
            models.Q(claimed_at__isnull=True) | models.Q(claimed_at__lt=claimed_before)
        )


class Message(models.Model):
    class Role(models.TextChoices):
        VISITOR = "visitor", _("Visitor")
        BOT = "bot", _("Bot")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")

    class State(models.TextChoices):
        PENDING = "pending"
        STREAMING = "streaming"
        DONE = "done"
        FAILED = "failed"

    UNFINISHED = (State.PENDING, State.STREAMING)

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField()
    # The visitor's own id for a frame, so a retried frame is stored once.
    client_id = models.CharField(max_length=64, blank=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    citations = models.JSONField(default=list, blank=True)
    retrieved = models.JSONField(default=list, blank=True, help_text="Chunks given to the model, with scores.")
    condensed_question = models.TextField(blank=True)
    confidence = models.FloatField(null=True, blank=True)
    confidence_label = models.CharField(max_length=8, blank=True)
    confidence_inputs = models.JSONField(default=dict, blank=True)
    escalation_offered = models.BooleanField(default=False)
    guard_results = models.JSONField(default=list, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=32, blank=True)
    from_cache = models.BooleanField(default=False)
    # A bot reply is stored pending when its question is acknowledged, streaming while an answerer writes it, then
    # done, or failed with an apology and a human offer: no acknowledged question is left without a reply
    # (supportbot/chat/recovery.py). Every other message is stored done.
    state = models.CharField(max_length=9, choices=State.choices, default=State.DONE)
    # When an answerer took this unfinished reply; empty when none holds it (its connection closed mid-answer).
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="chat_message_unique_client_id",
            )
        ]
        indexes = [
            # The recovery sweep's question, cheap however many finished messages there are.
            models.Index(
                fields=["claimed_at"],
                name="chat_message_unfinished",
                condition=models.Q(state__in=["pending", "streaming"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class CachedAnswer(models.Model):
    """The semantic cache: a near-identical question reuses a grounded answer while its cited chunks exist."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="cached_answers")
    question = models.TextField()
    embedding = VectorField(dimensions=settings.KB_EMBEDDING_DIMENSIONS)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    chunk_ids = models.JSONField(default=list)
    kb_version = models.PositiveBigIntegerField()
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.question[:80]


class AgentPresence(models.Model):
    """A connected agent console; the widget offers a live human only while one is fresh."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presences")
    channel_name = models.CharField(max_length=200, unique=True)
    last_seen = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} @ {self.last_seen:%H:%M:%S}"
