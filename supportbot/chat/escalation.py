"""When the bot hands a conversation to a human on its own: the one place that decides it.

services.conversation_escalate carries it out; the turn (supportbot/chat/turn.py) and recovery ask here first.
"""

from __future__ import annotations

import re

from supportbot.chat.models import Conversation, Message
from supportbot.guards.input_guard import InputVerdict

_HUMAN_REQUEST = re.compile(
    r"\b(talk|speak|chat|connect)\b.{0,20}\b(human|person|agent|someone|somebody|representative|operator|staff)\b"
    r"|\b(human|real person|live agent|representative|operator)\b\s*(please|pls|now)?\s*[.!?]*$",
    re.IGNORECASE,
)


def wants_human(text: str) -> bool:
    """The visitor asked for a human in words: the escalation is the bot's reply."""
    return bool(_HUMAN_REQUEST.search(text))


def escalation_reason(
    *, conversation: Conversation, reply: Message | None, verdict: InputVerdict | None = None, ours: bool = True
) -> str:
    """Why the turn that ended with `reply` hands the conversation to a human, or "" when it does not.
    `verdict` is the input guard's on the question; `ours` is False when another answerer finished the reply (and
    saw to what follows it). No reply to an allowed question means the visitor asked for a human."""
    if verdict is not None and verdict.action != "allow":
        # Someone trying to take over the bot is worth a human's look; other declined messages are not.
        injection = verdict.reason == "prompt_injection" and conversation.status == Conversation.Status.OPEN
        return f"guard:{verdict.reason}" if injection else ""
    if reply is None:
        return "visitor_request"
    if not ours or reply.state == Message.State.FAILED:
        return ""  # a failed answer is escalated with its apology (failure_escalates)
    return "low_confidence" if low_confidence_streak(conversation, latest=reply) else ""


def failure_escalates(conversation: Conversation) -> bool:
    """A reply nobody could finish hands its conversation to a human, unless the conversation is closed."""
    return conversation.status != Conversation.Status.CLOSED


def low_confidence_streak(conversation: Conversation, *, latest: Message) -> bool:
    """Two low-confidence answers in a row: the bot is out of its depth, a human should take over."""
    if latest.confidence_label != "low" or conversation.status != Conversation.Status.OPEN:
        return False
    previous = (
        conversation.messages.filter(role=Message.Role.BOT, pk__lt=latest.pk).exclude(text="").order_by("-pk").first()
    )
    return previous is not None and previous.confidence_label == "low"
