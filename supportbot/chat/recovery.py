"""No acknowledged question is left without a reply.

The bot's reply is stored pending with the question (answer_states). `answer_events` wraps the answering pipeline
for a visitor who is waiting: whatever fails (the database, the model, a bug) the reply becomes an apology with a
human offer, stored and sent, and the conversation goes to a human; when the visitor's connection closes
mid-answer (Channels cancels the consumer) the reply is released. Released replies, and replies whose answerer
died with its process (claimed longer ago than CHAT_ANSWER_GRACE_SECONDS), are answered again: when the visitor
reconnects, before their transcript is sent, and by a periodic sweep for visitors who never come back (a Celery
beat task; without a broker, a loop in the server's own event loop). Recovery answers from the knowledge base
without the model (the offline answerer, with a human offer): a reconnecting visitor never waits on a model, and
a visitor who left spends none of the widget's token budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import timedelta

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone, translation

from supportbot.answering.pipeline import HUMAN_OFFER, LLM_FAILED, Answered, answer_stream
from supportbot.chat import services
from supportbot.chat.answer_states import answer_release
from supportbot.chat.broadcasts import conversation_broadcast_async, visitor_frame_broadcast_async
from supportbot.chat.dbthreads import in_db_thread
from supportbot.chat.escalation import failure_escalates
from supportbot.chat.models import Conversation, Message
from supportbot.chat.visitor_language import visitor_language

logger = logging.getLogger(__name__)
SWEEP_BATCH = 50  # replies one sweep answers; the next sweep takes the rest


async def answer_events(
    *, conversation: Conversation, question: Message | None, bot: Message, use_llm: bool = True
) -> AsyncIterator[dict | Answered]:
    """answer_stream for the reply `bot` owes `question`, ending with the answer, or with an apology, a human offer
    and the escalation (or, with the database away, an error frame) — never with nothing. Closed before its end
    (the consumer cancelled), it releases the reply for recovery. Callers close it (contextlib.aclosing) so that
    happens at once."""
    ended = False
    try:
        if question is None:  # its question was deleted: nothing to answer, but the reply must not stay empty
            raise Message.DoesNotExist(f"the question of reply {bot.pk} is gone")
        async for event in answer_stream(conversation=conversation, question=question, use_llm=use_llm, bot=bot):
            ended = isinstance(event, Answered)
            yield event
    except Exception as exc:  # noqa: BLE001 — whatever broke, the visitor gets a reply and a human
        logger.exception("answering reply %s failed", bot.pk)
        ended = True
        async for frame in _apology_frames(bot, question.text if question else "", reason=type(exc).__name__):
            yield frame
    finally:
        if not ended:
            await _release(bot.pk)


async def _release(bot_id: int) -> None:
    # Shielded: a second cancellation must not stop the one write that hands the reply to recovery.
    try:
        await asyncio.shield(in_db_thread(answer_release)(bot_id=bot_id))
    except DatabaseError:
        logger.exception("could not release reply %s; the sweep takes it after the grace", bot_id)


async def _apology_frames(bot: Message, question_text: str, *, reason: str) -> AsyncIterator[dict | Answered]:
    try:
        stored, escalated = await in_db_thread(answer_fail)(bot_id=bot.pk, reason=reason)
    except Exception:  # noqa: BLE001 — the database away, most likely
        # Nothing can be stored: say it anyway. The reply stays unfinished and the sweep tries again later.
        logger.exception("could not store the apology for reply %s", bot.pk)
        yield {"type": "error", "code": "answer_failed", "detail": apology_text(question_text)}
        return
    if stored is not None:  # the apology, or a reply another answerer finished meanwhile (theirs stands)
        yield Answered(stored, ours=stored.state == Message.State.FAILED)
    if escalated is not None:
        yield escalated


def apology_text(question_text: str) -> str:
    """Sorry, and a human offer, in the visitor's language."""
    with translation.override(visitor_language(question_text, fallback=translation.get_language())):
        return f"{LLM_FAILED} {HUMAN_OFFER}"


def answer_fail(*, bot_id: int, reason: str) -> tuple[Message | None, dict | None]:
    """Store an apology with a human offer on a reply nobody could finish, and hand the conversation to a human.
    A reply finished meanwhile stands: it is returned as stored, with no escalation. (None, None): it is gone."""
    bot = Message.objects.select_related("conversation", "reply_to").filter(pk=bot_id).first()
    if bot is None:
        return None, None
    failure = {"validator": "answer", "outcome": "error", "action": "apology", "detail": reason}
    with transaction.atomic():  # the apology and the escalation together, or neither (then the sweep retries)
        failed = Message.objects.filter(pk=bot_id, state__in=Message.UNFINISHED).update(
            state=Message.State.FAILED,
            claimed_at=None,
            text=apology_text(bot.reply_to.text if bot.reply_to else ""),
            confidence=0.0,
            confidence_label="low",
            escalation_offered=True,
            guard_results=[*bot.guard_results, failure],
        )
        escalated = None
        if failed and failure_escalates(bot.conversation):
            escalated = services.conversation_escalate(conversation=bot.conversation, reason="answer_failed")
    bot.refresh_from_db()
    return bot, escalated


async def answers_recover(*, conversation: Conversation) -> list[dict]:
    """On (re)connect, before the transcript is sent: answer this conversation's replies nobody is writing any
    more. Returns the frames to send after the session (a widget that reconnects without reloading keeps its
    transcript, and replaces a half-streamed reply with the answer frame of the same id)."""
    frames = []
    for bot in await in_db_thread(abandoned_take)(conversation_id=conversation.pk, limit=SWEEP_BATCH):
        frames += await _answer_again(bot, conversation)
    return frames


async def answers_sweep() -> list[int]:
    """Periodic: answer the replies nobody is writing any more in every conversation; the visitor's widget (when
    it is connected) and the agents' consoles are told, so the inbox shows the answer or the escalation."""
    layer = get_channel_layer()
    taken = await in_db_thread(abandoned_take)(conversation_id=None, limit=SWEEP_BATCH)
    for bot in taken:
        for frame in await _answer_again(bot, bot.conversation):
            await visitor_frame_broadcast_async(layer, bot.conversation_id, frame)
    if taken:
        logger.info("answers sweep: %s unanswered replies taken over", len(taken))
    return [bot.pk for bot in taken]


def abandoned_take(*, conversation_id, limit: int) -> list[Message]:
    """Claim the replies no answerer holds (released, or claimed before the grace), oldest first; rows another
    process is taking at this moment are skipped, so two recoveries never take the same reply."""
    cutoff = timezone.now() - timedelta(seconds=settings.CHAT_ANSWER_GRACE_SECONDS)
    replies = Message.objects.abandoned(claimed_before=cutoff).select_related("conversation__widget", "reply_to")
    if conversation_id is not None:
        replies = replies.filter(conversation_id=conversation_id)
    with transaction.atomic():
        taken = list(replies.select_for_update(skip_locked=True, of=("self",)).order_by("pk")[:limit])
        Message.objects.filter(pk__in=[bot.pk for bot in taken]).update(
            state=Message.State.STREAMING, claimed_at=timezone.now()
        )
    return taken


async def _answer_again(bot: Message, conversation: Conversation) -> list[dict]:
    """Answer a taken-over reply offline, or apologise; the frames its visitor should see. Agents are told."""
    frames, replies = [], []
    events = answer_events(conversation=conversation, question=bot.reply_to, bot=bot, use_llm=False)
    async with aclosing(events):
        async for event in events:
            if not isinstance(event, Answered):
                if event["type"] != "token":
                    frames.append(event)
                continue
            replies.append(event.reply)
            frames.append(services.answer_frame(event.reply))
            escalated = await in_db_thread(services.conversation_escalate_if_due)(
                conversation=conversation, reply=event.reply, ours=event.ours
            )
            if escalated is not None:
                frames.append(escalated)
    for reply in replies:
        await conversation_broadcast_async(get_channel_layer(), conversation.pk, services.message_payload(reply))
    return frames


_sweeper: asyncio.Task | None = None


def sweeper_ensure() -> None:
    """Without a broker there is no Celery beat: run the sweep in this process's event loop, every
    CHAT_SWEEP_SECONDS, from the first chat connection on (daphne has no start-up hook to start it from)."""
    global _sweeper
    if not settings.CELERY_TASK_ALWAYS_EAGER or not settings.CHAT_SWEEP_SECONDS:
        return
    loop = asyncio.get_running_loop()
    if _sweeper is None or _sweeper.done() or _sweeper.get_loop() is not loop:
        _sweeper = loop.create_task(_sweep_forever(), name="supportbot-answers-sweep")


async def _sweep_forever() -> None:
    while True:
        await asyncio.sleep(settings.CHAT_SWEEP_SECONDS)
        try:
            await answers_sweep()
        except Exception:  # noqa: BLE001 — a failed sweep (the database away) is retried by the next one
            logger.exception("answers sweep failed")
