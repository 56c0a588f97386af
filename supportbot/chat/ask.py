"""One question through the whole chat pipeline, outside a websocket (the `ask` command, evaluations)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from supportbot.chat import services
from supportbot.chat.answering import answer_stream
from supportbot.chat.models import Message


async def question_ask(*, text: str, widget_key: str = "demo", visitor_id: str = "command-line") -> dict:
    widget = await database_sync_to_async(services.widget_for_key)(widget_key)
    if widget is None:
        raise services.ChatError("unknown_widget", f"no widget has the key {widget_key!r}")
    conversation = await database_sync_to_async(services.conversation_open)(widget=widget, visitor_id=visitor_id)
    # The same input guard as the websocket: a declined message is answered by the guard, not the model.
    question, _, verdict = await database_sync_to_async(services.visitor_message_receive)(
        conversation=conversation, text=text
    )
    if verdict.action != "allow":
        bot, escalate = await database_sync_to_async(services.guard_reply)(
            conversation=conversation, question=question, verdict=verdict
        )
        answer = {"message_id": bot.pk, "citations": [], "escalate": escalate}
    else:
        answer = {}
        async for event in answer_stream(conversation=conversation, question=question):
            if event["type"] == "answer":
                answer = event
    bot = await database_sync_to_async(Message.objects.get)(pk=answer["message_id"])
    return {
        "answer": bot.text,
        "citations": answer["citations"],
        "confidence": bot.confidence,
        "confidence_label": bot.confidence_label,
        "escalate": bot.escalation_offered or answer["escalate"],
        # Input guard events are on the question; a guard's own reply repeats the failures, so it adds nothing.
        "guards": [*question.guard_results, *([] if verdict.action != "allow" else bot.guard_results)],
        "timings": {key: bot.timings.get(key) for key in ("retrieve_ms", "generate_ms", "total_ms")},
        "model": bot.model,
        "message_id": bot.pk,
    }
