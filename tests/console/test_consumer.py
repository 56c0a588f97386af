"""The console websocket end to end with a visitor's widget socket: presence, live escalations, takeover,
replies reaching the visitor, the bot silent meanwhile, then hand back and the bot answering again."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from supportbot.chat.models import AgentPresence, Conversation
from supportbot.chat.services import agents_online
from supportbot.console.consumers import ConsoleConsumer
from tests.chat.conftest import ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


async def console_for(user) -> tuple[WebsocketCommunicator, dict]:
    socket = WebsocketCommunicator(ConsoleConsumer.as_asgi(), "/ws/console/")
    socket.scope["user"] = user
    connected, _ = await socket.connect()
    assert connected
    return socket, await socket.receive_json_from(timeout=5)


async def frame_of(socket: WebsocketCommunicator, kind: str, *, role: str = "", timeout: float = 10) -> dict:
    """The next frame of `kind` (for messages: said by `role`), skipping the rest: inbox updates come with every
    change, and system notes with every takeover."""
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        if frame["type"] == kind and (not role or frame["message"]["role"] == role):
            return frame


async def test_an_agent_sees_an_escalation_takes_over_replies_and_hands_back(widget, knowledge, no_llm, agent):
    # given: an agent's console is open, so the visitor is told a human is available
    console, hello = await console_for(agent)
    assert hello == {"type": "hello", "user_id": agent.pk, "waiting": 0}
    chat, session = await open_chat()
    assert session["agents_online"] is True
    conversation_id = session["conversation_id"]
    # when: the visitor asks a question, then for a human
    await ask(chat, "how do I get my money back")
    await chat.send_json_to({"type": "message", "text": "Can I talk to a human please?"})
    # then: the console hears of it at once, with the reason and a summary
    escalated = await frame_of(console, "escalated")
    assert escalated["reason"] == "visitor_request" and escalated["waiting"] == 1
    row = escalated["row"]
    assert row["id"] == conversation_id and row["status"] == "escalated"
    assert row["summary"]["first_question"] == "how do I get my money back"
    assert row["summary"]["recent"][-1] == {"role": "visitor", "text": "Can I talk to a human please?"}
    # when: the agent opens the conversation and takes over
    await console.send_json_to({"type": "watch", "conversation_id": conversation_id})
    transcript = await frame_of(console, "transcript")
    assert [m["role"] for m in transcript["messages"]][:2] == ["visitor", "bot"]
    await console.send_json_to({"type": "take_over", "conversation_id": conversation_id})
    assert (await frame_of(console, "done"))["action"] == "take_over"
    # then: the visitor is told
    assert (await frame_of(chat, "notice"))["text"] == "Sam from support has joined the chat."
    # when: the agent replies
    await console.send_json_to({"type": "reply", "conversation_id": conversation_id, "text": "Hi, I'm here."})
    # then: it reaches the visitor live, and the console shows it in the transcript
    assert await frame_of(chat, "agent_message") == {"type": "agent_message", "text": "Hi, I'm here.", "agent": "Sam"}
    said = await frame_of(console, "message", role="agent")
    assert said["message"]["role"] == "agent" and said["message"]["agent"] == "Sam"
    # when: the visitor writes while the agent holds the conversation
    await chat.send_json_to({"type": "message", "text": "thanks, one more thing"})
    assert (await chat.receive_json_from(timeout=5))["type"] == "received"
    # then: the bot stays silent, and the agent sees the message
    assert await chat.receive_nothing(timeout=0.5)
    assert (await frame_of(console, "message", role="visitor"))["message"]["text"] == "thanks, one more thing"
    # when: the agent hands back
    await console.send_json_to({"type": "hand_back", "conversation_id": conversation_id})
    assert (await frame_of(chat, "notice"))["text"].startswith("You're back with the assistant")
    # then: the bot answers the next question
    _, answer = await ask(chat, "how do I get my money back")
    assert answer["type"] == "answer" and answer["citations"]
    status = await Conversation.objects.filter(pk=conversation_id).values_list("status", flat=True).aget()
    assert status == "open"
    await chat.disconnect()
    await console.disconnect()


async def test_presence_lasts_while_the_console_is_connected(agent):
    console, _ = await console_for(agent)
    assert await database_sync_to_async(agents_online)() is True
    await console.send_json_to({"type": "heartbeat"})
    assert await console.receive_json_from(timeout=5) == {"type": "heartbeat"}
    await console.disconnect()
    assert await database_sync_to_async(agents_online)() is False
    assert not await AgentPresence.objects.aexists()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param({"type": "dance"}, "unknown_type", id="unknown-type"),
        pytest.param({"type": "take_over", "conversation_id": "nope"}, "unknown_conversation", id="bad-id"),
        pytest.param({"type": "watch", "conversation_id": "nope"}, "unknown_conversation", id="bad-watch"),
        pytest.param({"type": "reply", "conversation_id": None, "text": 5}, "malformed_frame", id="bad-reply"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays(agent, frame, code):
    console, _ = await console_for(agent)
    await console.send_json_to(frame)
    error = await console.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == code
    await console.send_json_to({"type": "heartbeat"})
    assert (await console.receive_json_from(timeout=5))["type"] == "heartbeat"
    await console.disconnect()


async def test_an_agent_must_take_over_before_replying(widget, no_llm, agent):
    chat, session = await open_chat()
    console, _ = await console_for(agent)
    await console.send_json_to({"type": "reply", "conversation_id": session["conversation_id"], "text": "hello"})
    error = await frame_of(console, "error")
    assert error["code"] == "not_taken_over"
    await chat.disconnect()
    await console.disconnect()
