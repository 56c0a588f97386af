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
    question, _ = await database_sync_to_async(services.visitor_message_store)(conversation=conversation, text=text)
    answer: dict = {}
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
        "guards": bot.guard_results,
        "timings": {key: bot.timings.get(key) for key in ("retrieve_ms", "generate_ms", "total_ms")},
        "model": bot.model,
        "message_id": bot.pk,
    }
