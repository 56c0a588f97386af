"""The input guard: every visitor message, before it is stored or reaches a model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from guardrails_ai.valid_length import ValidLength

from supportbot.guards.runtime import guard_cached, guard_run
from supportbot.guards.validators import (
    AbusiveLanguage,
    OnTopic,
    PersonalData,
    PromptInjection,
    Secrets,
)

# Said to the visitor in the language that is active when the verdict is made (the consumer picks it).
DECLINE_INJECTION = _(
    "I can only help with questions about this product and its help centre, and I can't change how I work. "
    "What would you like to know?"
)
DECLINE_ABUSE = _("I'm here to help, and I'll do my best if we keep things friendly. What can I help you with?")
CLOSED_FOR_ABUSE = _("This conversation has been closed. You're welcome to start a new one when you're ready.")
REDIRECT_OFF_TOPIC = _("I can only help with questions about {topics}. Is there something about that I can help with?")


@dataclass
class InputVerdict:
    text: str
    action: str = "allow"  # allow | decline | redirect | limit
    reason: str = ""
    reply: str = ""
    events: list[dict] = field(default_factory=list)
    redacted: list[str] = field(default_factory=list)


def _detectors(max_chars: int) -> list:
    return [
        ValidLength(max=max_chars, on_fail="noop"),
        PromptInjection(on_fail="noop"),
        AbusiveLanguage(on_fail="noop"),
        OnTopic(on_fail="noop"),
    ]


def _fixers(redact_pii: bool) -> list:
    # Secrets are always removed; other personal data only under the widget's "redact" policy.
    return [Secrets(on_fail="fix"), *([PersonalData(on_fail="fix")] if redact_pii else [])]


def input_check(*, text: str, widget, topic_vectors: np.ndarray | None = None, message_vector=None) -> InputVerdict:
    """Decide what happens to a visitor's message and what of it may be kept."""
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    detect = guard_cached(("input-detect", limit), lambda: _detectors(limit))
    metadata = {"topic_vectors": topic_vectors, "message_vector": message_vector}
    detected = guard_run(detect, text, metadata, fixing=False)
    redact = widget.pii_policy == "redact"
    fixed = guard_run(guard_cached(("input-fix", redact), lambda: _fixers(redact)), text, {}, fixing=True)
    verdict = InputVerdict(fixed.text, events=detected.events + fixed.events)
    verdict.redacted = sorted({kind for e in fixed.failures for kind in _kinds(e["detail"])})
    if detected.failed("guardrails/valid_length"):
        verdict.action, verdict.reason = "limit", "too_long"
    elif detected.failed("supportbot/prompt_injection"):
        verdict.action, verdict.reason, verdict.reply = "decline", "prompt_injection", str(DECLINE_INJECTION)
    elif detected.failed("supportbot/abusive_language"):
        verdict.action, verdict.reason, verdict.reply = "decline", "abusive_language", str(DECLINE_ABUSE)
    elif detected.failed("supportbot/on_topic"):
        topics = ", ".join(widget.allowed_topics)
        verdict.action, verdict.reason, verdict.reply = (
            "redirect",
            "off_topic",
            REDIRECT_OFF_TOPIC.format(topics=topics),
        )
    for event in verdict.events:
        if event["outcome"] == "fail" and event["action"] == "flagged" and verdict.action != "allow":
            event["action"] = "blocked" if verdict.action in ("decline", "limit") else "redirected"
    return verdict


def _kinds(detail: str) -> list[str]:
    if detail.startswith("personal data: "):
        return detail.removeprefix("personal data: ").split(", ")
    return ["SECRET"] if "secret" in detail else []
