"""One question through the visitor's turn, outside a websocket (the `ask` command, the answer evaluations).

It runs the turn of supportbot/chat/turn.py with limits off (a staff tool is neither rate limited nor spends the
widget's token budget) and words asking for a human taken as a question: nobody is waiting for one.
"""

from __future__ import annotations

from supportbot.chat import services
from supportbot.chat.dbthreads import in_db_thread
from supportbot.chat.models import Message
from supportbot.chat.turn import turn_run


async def question_ask(
    *, text: str, widget_key: str = "demo", visitor_id: str = "command-line", conversation_id: str = ""
) -> dict:
    """Ask `text` on the visitor's conversation `conversation_id` (when it is theirs and open) or a new one; the
    bot's reply as a dict. Raises ChatError when there is none: an agent holds the conversation, or it failed."""
    widget = await in_db_thread(services.widget_for_key)(widget_key)
    if widget is None:
        raise services.ChatError("unknown_widget", f"no widget has the key {widget_key!r}")
    conversation = await in_db_thread(services.conversation_open)(
        widget=widget, visitor_id=visitor_id, conversation_id=conversation_id
    )
    frames = turn_run(
        conversation=conversation, text=text, visitor_id=visitor_id, limits_on=False, human_request_on=False
    )
    by_type = {frame["type"]: frame async for frame in frames if frame["type"] != "token"}
    if "answer" not in by_type:
        raise _no_answer(by_type, held=bool(conversation.assigned_agent_id))
    return await in_db_thread(_result)(by_type["received"]["message_id"], by_type["answer"], "escalated" in by_type)


def _no_answer(by_type: dict, *, held: bool) -> services.ChatError:
    if held:
        return services.ChatError("held_by_agent", "an agent holds this conversation, so the bot does not answer")
    error = by_type.get("error", {"code": "no_answer", "detail": "the bot did not answer"})
    return services.ChatError(error["code"], error["detail"])


def _result(question_id: int, answer: dict, escalated: bool) -> dict:
    question = Message.objects.get(pk=question_id)
    bot = Message.objects.get(pk=answer["message_id"])
    guarded = bot.model == "guard"  # the input guard's reply repeats the question's failures: it adds nothing
    return {
        "answer": bot.text,
        "citations": answer["citations"],
        "confidence": bot.confidence,
        "confidence_label": bot.confidence_label,
        "escalate": bot.escalation_offered or escalated,
        # Input guard events are on the question; the answer's own are on the reply.
        "guards": [*question.guard_results, *([] if guarded else bot.guard_results)],
        "timings": {key: bot.timings.get(key) for key in ("retrieve_ms", "generate_ms", "total_ms")},
        "model": bot.model,
        "message_id": bot.pk,
    }
