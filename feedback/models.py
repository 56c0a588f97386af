from __future__ import annotations

from django.db import models


class Rating(models.Model):
    """A visitor's thumbs on one bot answer. One per visitor per answer: changing your mind updates it."""

    class Value(models.TextChoices):
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    class Reason(models.TextChoices):
        WRONG = "wrong", "Wrong"
        INCOMPLETE = "incomplete", "Incomplete"
        NOT_RELEVANT = "not_relevant", "Not relevant"
        OUTDATED = "outdated", "Outdated"
        UNSAFE = "unsafe", "Unsafe"
        OTHER = "other", "Other"

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
