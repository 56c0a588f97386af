"""Per-widget guard settings: personal-data policy, allowed topics, banned words; abuse is counted and, repeated,
ends the conversation."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from supportbot.chat.models import Conversation, Message
from supportbot.guards.input_guard import CLOSED_FOR_ABUSE, DECLINE_ABUSE
from tests.chat.conftest import open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


async def _say(chat, text: str) -> dict:
    await chat.send_json_to({"type": "message", "text": text})
    frames = []
    while not frames or frames[-1]["type"] not in ("answer", "error"):
        frames.append(await chat.receive_json_from(timeout=10))
    return frames[-1]


async def test_personal_data_is_kept_when_the_widget_says_keep(widget, knowledge, no_llm):
    # given
    widget.pii_policy = "keep"
    await widget.asave()
    chat, session = await open_chat()
    # when
    await _say(chat, "I'm ada@example.com, how do I get my money back")
    # then
    visitor = await Message.objects.aget(conversation_id=session["conversation_id"], role="visitor")
    assert "ada@example.com" in visitor.text
    await chat.disconnect()


async def test_off_topic_questions_get_a_polite_redirect(widget, knowledge, no_llm):
    # given
    widget.allowed_topics = ["refunds and payments", "shipping and delivery of parcels"]
    await widget.asave()
    chat, _ = await open_chat()
    # when
    off = await _say(chat, "Can you write me a poem about the ocean at night?")
    on = await _say(chat, "how do I get my money back")
    # then
    assert off["text"].startswith("I can only help with questions about refunds and payments")
    assert on["citations"] and "14 days" in on["text"]
    await chat.disconnect()


async def test_banned_words_and_competitors_never_reach_the_visitor(widget, knowledge, llm):
    # given
    widget.banned_words = ["guaranteed"]
    widget.competitor_names = ["Acme Support"]
    await widget.asave()
    llm.reply = "Acme Support is guaranteed worse: the page's origin is not on the widget key's list [1]."
    chat, _ = await open_chat()
    # when
    answer = await _say(chat, "what does E4403 mean")
    # then
    assert "Acme" not in answer["text"] and "guaranteed" not in answer["text"]
    await chat.disconnect()


async def test_abuse_is_declined_counted_and_repeated_abuse_closes_the_conversation(widget, knowledge, no_llm):
    chat, session = await open_chat()
    first = await _say(chat, "you stupid bot, answer me")
    assert first["text"] == DECLINE_ABUSE
    await _say(chat, "fuck this")
    third = await _say(chat, "idiot machine")
    assert third["text"] == CLOSED_FOR_ABUSE
    conversation = await Conversation.objects.aget(pk=session["conversation_id"])
    assert (conversation.abuse_count, conversation.status) == (3, "closed")
    refused = await _say(chat, "hello?")
    assert refused["type"] == "error" and refused["code"] == "conversation_closed"
    await chat.disconnect()
