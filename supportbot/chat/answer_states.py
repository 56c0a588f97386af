"""The life of a bot reply (Message.state): pending → streaming → done, or failed.

A reply is stored pending in the same transaction as the visitor's question, so an acknowledged question always
has a row saying that an answer is owed. An answerer claims it (streaming) and stores it done; every write here
is conditional on the row being unfinished, so when two answerers meet on one reply (the visitor's connection and
the recovery of supportbot/chat/recovery.py) the first to finish wins and the other returns what is stored.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from supportbot.chat.models import Conversation, Message


def answer_pending_create(*, conversation: Conversation, question: Message) -> Message:
    """The reply the bot owes `question`, claimed by the connection that acknowledges it."""
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.BOT,
        text="",
        reply_to=question,
        state=Message.State.PENDING,
        claimed_at=timezone.now(),
    )


def answer_claim(*, bot: Message) -> bool:
    """Start writing an unfinished reply (streaming); False when it was finished meanwhile."""
    now = timezone.now()
    claimed = Message.objects.filter(pk=bot.pk, state__in=Message.UNFINISHED).update(
        state=Message.State.STREAMING, claimed_at=now
    )
    if claimed:
        bot.state, bot.claimed_at = Message.State.STREAMING, now
    return bool(claimed)


def answer_release(*, bot_id: int) -> int:
    """Its answerer stops before the end (the visitor's connection closed mid-answer): the reply goes back to
    pending, held by nobody, for the visitor's next connection or the sweep to answer at once."""
    return Message.objects.filter(pk=bot_id, state__in=Message.UNFINISHED).update(
        state=Message.State.PENDING, claimed_at=None, text=""
    )


def answer_store(bot: Message) -> Message:
    """Save a finished reply as done, unless another answerer finished it first: the reply as it is stored."""
    with transaction.atomic():
        state = Message.objects.select_for_update().filter(pk=bot.pk).values_list("state", flat=True).first()
        if state is None:
            raise Message.DoesNotExist(f"bot message {bot.pk} is gone")
        if state not in Message.UNFINISHED:
            return Message.objects.get(pk=bot.pk)
        bot.state, bot.claimed_at = Message.State.DONE, None
        bot.save()
    return bot
