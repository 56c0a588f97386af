"""The visitor websocket protocol, end to end through the real ASGI application."""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections

from feedback.models import Rating
from supportbot.chat.models import Conversation, Message
from tests.chat.conftest import ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


async def test_connecting_starts_a_conversation(widget, knowledge, no_llm):
    # when
    chat, session = await open_chat()
    # then
    assert session["type"] == "session"
    assert session["status"] == "open" and session["messages"] == [] and session["agents_online"] is False
    assert session["widget"]["title"] == "Help"
    conversation = await Conversation.objects.aget(pk=session["conversation_id"])
    assert conversation.visitor_id == "visitor-0001"
    await chat.disconnect()


async def test_a_question_streams_tokens_then_a_cited_answer(widget, knowledge, llm):
    # given
    llm.reply = (
        "E4403 means the page that loaded the widget is not on the widget key's list of allowed origins [1]. "
        "So the chat connection is refused [1]."
    )
    chat, _ = await open_chat()
    # when
    tokens, answer = await ask(chat, "what does E4403 mean")
    # then: streamed in several frames (a sentence's plain, sourced words go ahead of its check; the rest after)
    assert len(tokens) >= 2 and all(t["message_id"] == answer["message_id"] for t in tokens)
    assert "".join(t["text"] for t in tokens).strip() == answer["text"]
    assert answer["type"] == "answer"
    assert answer["citations"][0]["n"] == 1
    assert re.fullmatch(r"/help/doc/\d+/#e4403", answer["citations"][0]["url"])
    assert answer["citations"][0]["title"] == "Error codes" and answer["citations"][0]["snippet"]
    assert "[1]" in answer["text"] and "allowed origins" in answer["text"]
    assert 0 <= answer["confidence"] <= 1 and answer["confidence_label"] in {"high", "medium", "low"}
    assert set(answer) == {
        "type",
        "message_id",
        "text",
        "citations",
        "confidence",
        "confidence_label",
        "escalation_offered",
    }
    await chat.disconnect()


async def test_resuming_brings_back_the_history(widget, knowledge, no_llm):
    # given
    chat, session = await open_chat()
    _, answer = await ask(chat, "how do I get my money back")
    await chat.disconnect()
    # when
    again, resumed = await open_chat(conversation=session["conversation_id"])
    # then
    assert resumed["conversation_id"] == session["conversation_id"]
    assert [m["role"] for m in resumed["messages"]] == ["visitor", "bot"]
    assert resumed["messages"][1]["text"] == answer["text"]
    assert resumed["messages"][1]["citations"] == answer["citations"]
    await again.disconnect()


async def test_another_visitor_cannot_resume_someone_elses_conversation(widget, knowledge, no_llm):
    chat, session = await open_chat()
    await ask(chat, "how do I get my money back")
    await chat.disconnect()
    intruder, theirs = await open_chat(visitor="someone-else-01", conversation=session["conversation_id"])
    assert theirs["conversation_id"] != session["conversation_id"] and theirs["messages"] == []
    await intruder.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param("{not json", "malformed_frame", id="not-json"),
        pytest.param("[1, 2]", "malformed_frame", id="not-an-object"),
        pytest.param(json.dumps({"type": "dance"}), "unknown_type", id="unknown-type"),
        pytest.param(json.dumps({"text": "no type"}), "unknown_type", id="no-type"),
        pytest.param(json.dumps({"type": "message", "text": 42}), "malformed_frame", id="text-not-a-string"),
        pytest.param(json.dumps({"type": "message", "text": "   "}), "empty_message", id="empty-text"),
        pytest.param(json.dumps({"type": "message", "text": "x" * 5000}), "message_too_long", id="too-long"),
        pytest.param(json.dumps({"type": "message", "text": "y" * 40000}), "frame_too_large", id="oversized-frame"),
        pytest.param(json.dumps({"type": "feedback", "message_id": "7"}), "malformed_frame", id="bad-feedback"),
        pytest.param(
            json.dumps({"type": "feedback", "message_id": 999999, "rating": "up"}), "unknown_message", id="no-answer"
        ),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_conversation_goes_on(widget, knowledge, no_llm, frame, code):
    # given
    chat, _ = await open_chat()
    # when
    await chat.send_to(text_data=frame)
    error = await chat.receive_json_from(timeout=5)
    # then
    assert error["type"] == "error" and error["code"] == code and error["detail"]
    _, answer = await ask(chat, "how do I get my money back")
    assert answer["type"] == "answer"
    await chat.disconnect()


async def test_a_binary_frame_is_refused_politely(widget, knowledge, no_llm):
    chat, _ = await open_chat()
    await chat.send_to(bytes_data=b"\x00\x01")
    assert (await chat.receive_json_from())["code"] == "malformed_frame"
    await chat.disconnect()


async def test_too_long_messages_store_nothing(widget, no_llm):
    chat, session = await open_chat()
    await chat.send_json_to({"type": "message", "text": "x" * 5000})
    assert (await chat.receive_json_from())["code"] == "message_too_long"
    assert await Message.objects.filter(conversation_id=session["conversation_id"]).acount() == 0
    await chat.disconnect()


async def test_an_unknown_widget_key_is_refused(widget):
    chat, error = await open_chat(key="no-such-key")
    assert error == {"type": "error", "code": "unknown_widget", "detail": "no widget has this key"}
    assert (await chat.receive_output())["type"] == "websocket.close"


async def test_a_page_on_another_origin_is_refused(widget):
    # given: the host is allowed at the edge, but this widget only allows http://testserver
    chat, error = await open_chat(origin="http://localhost")
    # then
    assert error["code"] == "origin_not_allowed"
    closing = await chat.receive_output()
    assert closing == {"type": "websocket.close", "code": 4403}


async def test_an_origin_outside_allowed_hosts_is_left_to_the_widget_and_refused_by_it(widget):
    # ALLOWED_HOSTS names Supportbot's hosts, not its customers': the chat route has no edge origin check
    # (supportbot/origins.py), so the widget's allowed origins decide. This widget allows only http://testserver.
    from channels.testing import WebsocketCommunicator

    from supportbot.asgi import application

    headers = [(b"origin", b"https://evil.example"), (b"host", b"testserver")]
    chat = WebsocketCommunicator(application, "/ws/chat/?key=test-widget&visitor=visitor-0001", headers=headers)
    await chat.connect()
    assert (await chat.receive_json_from(timeout=5))["code"] == "origin_not_allowed"
    assert await chat.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_feedback_is_recorded_once_and_updated_on_a_change_of_mind(widget, knowledge, no_llm):
    # given
    chat, _ = await open_chat()
    _, answer = await ask(chat, "how do I get my money back")
    down = {"type": "feedback", "message_id": answer["message_id"], "rating": "down", "reason": "incomplete"}
    # when: the same frame twice (a retry), then a change of mind
    for frame in (down, down, {**down, "rating": "up", "reason": None}):
        await chat.send_json_to(frame)
        saved = await chat.receive_json_from()
        assert saved["type"] == "feedback_saved"
    # then
    ratings = [r async for r in Rating.objects.filter(message_id=answer["message_id"])]
    assert [(r.value, r.reason) for r in ratings] == [("up", "")]
    await chat.disconnect()


async def test_the_escalate_button_hands_over_and_tells_agents(widget, knowledge, no_llm):
    # given: an agent console listening on the agents group
    layer = get_channel_layer()
    console = await layer.new_channel()
    await layer.group_add("agents", console)
    chat, session = await open_chat()
    # when
    await chat.send_json_to({"type": "escalate"})
    escalated = await chat.receive_json_from()
    # then
    assert escalated["type"] == "escalated" and escalated["reason"] == "visitor_button"
    assert escalated["agents_online"] is False and "email" in escalated["detail"]
    event = await layer.receive(console)
    assert event == {
        "type": "conversation.escalated",
        "conversation_id": session["conversation_id"],
        "reason": "visitor_button",
    }
    conversation = await Conversation.objects.aget(pk=session["conversation_id"])
    assert conversation.status == "escalated"
    await chat.disconnect()


@pytest.mark.parametrize("words", ["Can I talk to a human please?", "speak to a real person", "human please"])
async def test_asking_for_a_human_in_words_escalates(widget, knowledge, no_llm, words):
    chat, _ = await open_chat()
    await chat.send_json_to({"type": "message", "text": words})
    assert (await chat.receive_json_from())["type"] == "received"
    escalated = await chat.receive_json_from()
    assert escalated["type"] == "escalated" and escalated["reason"] == "visitor_request"
    await chat.disconnect()


async def test_leaving_an_email_gives_a_ticket_reference(widget, no_llm):
    chat, session = await open_chat()
    await chat.send_json_to({"type": "escalate"})
    await chat.receive_json_from()
    await chat.send_json_to({"type": "contact", "email": "not-an-email"})
    assert (await chat.receive_json_from())["code"] == "invalid_email"
    await chat.send_json_to({"type": "contact", "email": "ada@example.com"})
    ticket = await chat.receive_json_from()
    assert ticket["type"] == "ticket" and ticket["reference"].startswith("SB-")
    conversation = await Conversation.objects.aget(pk=session["conversation_id"])
    assert (conversation.contact_email, conversation.ticket_reference) == ("ada@example.com", ticket["reference"])
    await chat.disconnect()


async def test_agent_messages_reach_the_visitor(widget, no_llm):
    chat, session = await open_chat()
    layer = get_channel_layer()
    await layer.group_send(
        f"conversation.{session['conversation_id']}", {"type": "agent.message", "text": "Hi, I'm Sam.", "agent": "Sam"}
    )
    assert await chat.receive_json_from() == {"type": "agent_message", "text": "Hi, I'm Sam.", "agent": "Sam"}
    await chat.disconnect()


async def test_a_retried_message_frame_is_stored_once(widget, knowledge, no_llm):
    chat, session = await open_chat()
    _, first = await ask(chat, "how do I get my money back", client_id="c-1")
    await chat.send_json_to({"type": "message", "text": "how do I get my money back", "client_id": "c-1"})
    received = await chat.receive_json_from()
    assert received["type"] == "received"
    assert await chat.receive_nothing(timeout=0.3)
    visitor_messages = Message.objects.filter(conversation_id=session["conversation_id"], role="visitor")
    assert await visitor_messages.acount() == 1
    await chat.disconnect()
