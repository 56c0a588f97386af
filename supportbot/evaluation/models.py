from __future__ import annotations

from django.db import models


class EvalRun(models.Model):
    """One `manage.py evaluate`: what was measured, on which knowledge base, with which settings, and every
    question's outcome, so a later run can be compared with it (`--compare RUN_ID`)."""

    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=1000, help_text="The eval file(s) this run read.")
    settings_snapshot = models.JSONField(
        default=dict, help_text="k, embedding model, LLM model or offline, search, chat and prompt settings."
    )
    kb_version = models.PositiveBigIntegerField(help_text="kb_state().version when the run started.")
    document_count = models.PositiveIntegerField()
    metrics = models.JSONField(default=dict)
    cases = models.JSONField(default=list, help_text="One result per question: retrieval ranks, answer, scores.")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} of {self.source} ({self.created_at:%Y-%m-%d %H:%M})"
