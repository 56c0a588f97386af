"""When the bot should hand over on its own."""

from __future__ import annotations

from supportbot.chat.models import Conversation, Message


def low_confidence_streak(conversation: Conversation, *, latest: Message) -> bool:
    """Two low-confidence answers in a row: the bot is out of its depth, a human should take over."""
    if latest.confidence_label != "low" or conversation.status != Conversation.Status.OPEN:
        return False
    previous = (
        conversation.messages.filter(role=Message.Role.BOT, pk__lt=latest.pk).exclude(text="").order_by("-pk").first()
    )
    return previous is not None and previous.confidence_label == "low"
