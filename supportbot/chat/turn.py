"""One visitor turn: a message, from the words the visitor sent to the last frame they should see.

rate limits → input guard and storage (the question and the reply it is owed, in one transaction) → "received" →
the agent hold (a conversation an agent holds gets no bot reply) → the input guard's reply, the visitor's request
for a human, or the answer: the token budget checked once, tokens streamed through the output guard, the reply
pending → streaming → done or failed (answer_states, recovery) → its tokens recorded once → the escalation,
decided in escalation.py.

The visitor's websocket forwards every frame (consumers.ChatConsumer.on_message). `ask` and the answer evaluations
run the same turn (supportbot/chat/ask.py) with limits off: a staff tool is neither rate limited nor spends the
widget's token budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from channels.layers import get_channel_layer
from django.db import transaction

from supportbot.answering.pipeline import Answered
from supportbot.chat import chat_metrics, limits, recovery, services
from supportbot.chat.broadcasts import conversation_broadcast_async
from supportbot.chat.dbthreads import in_db_thread
from supportbot.chat.models import Conversation, Message
from supportbot.chat.services import ChatError
from supportbot.guards.input_guard import InputVerdict
from supportbot.llm import llm_configured
from supportbot.metrics import ANSWER_FIRST_TOKEN_SECONDS, ANSWER_SECONDS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    """Who is asking, and what this turn may do."""

    conversation: Conversation
    visitor_id: str
    address: str
    limits_on: bool
    human_request_on: bool


@dataclass
class Intake:
    """A visitor's message after the rate limits, the input guard and storage."""

    refusal: limits.Refusal | None = None
    question: Message | None = None
    created: bool = False
    verdict: InputVerdict | None = None
    budget: limits.Refusal | None = None  # the widget's daily token budget is spent
    reply: Message | None = None  # the bot's reply, stored with the question: the guard's, or pending an answer


async def turn_run(
    *,
    conversation: Conversation,
    text: object,
    client_id: object = "",
    visitor_id: str,
    address: str = "",
    limits_on: bool = True,
    human_request_on: bool = True,
) -> AsyncIterator[dict]:
    """Take a visitor's message through the whole turn and yield every frame for them: a refusal, or "received"
    and then the budget notice, tokens, the answer and the escalation as they come. Raises ChatError for a message
    that cannot be taken (malformed, empty, too long, the conversation closed). human_request_on=False: words asking
    for a human are a question for the bot (a staff tool asks; nobody waits for a human)."""
    if not isinstance(text, str) or not isinstance(client_id, str):
        raise ChatError("malformed_frame", "text must be a string")
    if conversation.status == Conversation.Status.CLOSED:
        raise ChatError("conversation_closed", "this conversation is closed; reload to start a new one")
    turn = Turn(conversation, visitor_id, address, limits_on, human_request_on)
    # One trip to a worker thread up to the acknowledgement: under load every trip back to the event loop
    # waits behind the other conversations' work, and this is all before the visitor's first word.
    intake = await in_db_thread(_intake)(turn, text, client_id)
    if intake.refusal is not None:  # refused before anything was stored: the widget puts the text back
        yield intake.refusal.frame(client_id=client_id)
        return
    question, stored_at = intake.question, time.perf_counter()
    yield {"type": "received", "message_id": question.pk, "client_id": client_id}
    if not intake.created:
        return  # a retried frame: already stored (and answered, or being answered)
    chat_metrics.message_count(Message.Role.VISITOR)
    chat_metrics.guard_trips_count(question.guard_results)
    await conversation_broadcast_async(get_channel_layer(), conversation.pk, services.message_payload(question))
    if conversation.assigned_agent_id:
        return  # an agent holds the conversation: the bot stays silent
    if intake.reply is None:  # the visitor asked for a human: the escalation is the reply
        if escalated := await in_db_thread(services.conversation_escalate_if_due)(
            conversation=conversation, reply=None
        ):
            yield escalated
        return
    if intake.verdict.action != "allow":
        frames = _reply_frames(turn, Answered(intake.reply), verdict=intake.verdict, path="guard", since=stored_at)
    else:
        frames = _answer_frames(turn, question, intake.reply, budget=intake.budget, since=stored_at)
    async with aclosing(frames):
        async for frame in frames:
            yield frame


def _intake(turn: Turn, text: str, client_id: str) -> Intake:
    """Rate limits, then the input guard and storage; what the rest of the turn needs to know."""
    conversation = turn.conversation
    if turn.limits_on and (refusal := limits.hits_take("messages", **_counted(turn))):
        return Intake(refusal=refusal)
    with transaction.atomic():  # the question and the reply it is owed are stored together, or neither is
        question, created, verdict = services.visitor_message_receive(
            conversation=conversation, text=text, client_id=client_id
        )
        intake = Intake(question=question, created=created, verdict=verdict)
        if created:
            conversation.refresh_from_db(fields=["status", "assigned_agent"])
            intake.reply = services.reply_owed(
                conversation=conversation, question=question, verdict=verdict, human_request_on=turn.human_request_on
            )
    if created and turn.limits_on and verdict.action == "allow" and not conversation.assigned_agent_id:
        intake.budget = limits.budget_refusal(**_counted(turn))
    return intake


def _counted(turn: Turn) -> dict:
    return {"widget": turn.conversation.widget, "visitor_id": turn.visitor_id, "address": turn.address}


async def _answer_frames(
    turn: Turn, question: Message, reply: Message, *, budget: limits.Refusal | None, since: float
) -> AsyncIterator[dict]:
    # Over the daily token budget the visitor is told, and still answered: from the articles, without the LLM.
    if budget is not None:
        yield budget.frame()
    use_llm, first_token = budget is None, True
    # It ends with the answer or with an apology and a human; closed early (the visitor left and Channels cancels
    # the consumer's handler), it hands the reply to recovery.
    events = recovery.answer_events(conversation=turn.conversation, question=question, bot=reply, use_llm=use_llm)
    async with aclosing(events):
        async for event in events:
            if not isinstance(event, Answered):
                if event["type"] == "token" and first_token:
                    first_token = False
                    ANSWER_FIRST_TOKEN_SECONDS.observe(time.perf_counter() - since)
                yield event
                continue
            path = "cache" if event.reply.from_cache else ("llm" if use_llm and llm_configured() else "offline")
            async for frame in _reply_frames(turn, event, path=path, since=since):
                yield frame


async def _reply_frames(
    turn: Turn, answered: Answered, *, path: str, since: float, verdict: InputVerdict | None = None
) -> AsyncIterator[dict]:
    """Count the reply's tokens (before the next question may spend the budget), send it to the visitor, and only
    then show it to watching agents (the channel layer never holds up or loses an answer); then the escalation."""
    reply = answered.reply
    tokens = (reply.prompt_tokens or 0) + (reply.completion_tokens or 0)
    if turn.limits_on and answered.ours and tokens and not reply.from_cache:
        await _tokens_record(turn, reply, tokens)
    yield services.answer_frame(reply)
    ANSWER_SECONDS.labels(path=path).observe(time.perf_counter() - since)
    await conversation_broadcast_async(get_channel_layer(), turn.conversation.pk, services.message_payload(reply))
    chat_metrics.message_count(Message.Role.BOT)
    if path != "guard":  # a guard's reply repeats the question's trips, which were counted with the question
        chat_metrics.guard_trips_count(reply.guard_results)
    logger.info("answered message %s (%s, %s tokens)", reply.pk, reply.model or "no model", tokens)
    escalated = await in_db_thread(services.conversation_escalate_if_due)(
        conversation=turn.conversation, reply=reply, verdict=verdict, ours=answered.ours
    )
    if escalated is not None:
        yield escalated


async def _tokens_record(turn: Turn, reply: Message, tokens: int) -> None:
    """The one place a turn's tokens are added to the widget's, the visitor's and the address's budget counts."""
    try:
        await in_db_thread(limits.tokens_record)(
            widget_id=turn.conversation.widget_id, tokens=tokens, visitor_id=turn.visitor_id, address=turn.address
        )
    except Exception:  # noqa: BLE001 — a store or counter away must never withhold the answer
        logger.exception("could not count answer %s", reply.pk)
