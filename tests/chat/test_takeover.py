"""Human takeover as the visitor sees it: an agent joins, replies live, the bot stays silent, then hands back."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections

from supportbot.chat import takeover
from supportbot.chat.models import AgentPresence, Message
from supportbot.chat.services import ChatError, agents_online
from tests.chat.conftest import ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def agent(db):
    return get_user_model().objects.create_user("sam", password="pw-sam-12345", first_name="Sam", is_staff=True)


async def test_an_agent_takes_over_replies_and_hands_back(widget, knowledge, no_llm, agent):
    # given
    chat, session = await open_chat()
    conversation_id = session["conversation_id"]
    # when: the agent takes over
    await database_sync_to_async(takeover.conversation_take_over)(conversation_id=conversation_id, agent=agent)
    # then: the visitor is told, and the agent's reply arrives live
    assert (await chat.receive_json_from())["text"] == "Sam from support has joined the chat."
    await database_sync_to_async(takeover.agent_reply)(conversation_id=conversation_id, agent=agent, text="Hi!")
    assert await chat.receive_json_from() == {"type": "agent_message", "text": "Hi!", "agent": "Sam"}
    # when: the visitor writes while the agent holds the conversation
    await chat.send_json_to({"type": "message", "text": "how do I get my money back"})
    assert (await chat.receive_json_from())["type"] == "received"
    # then: the bot stays silent
    assert await chat.receive_nothing(timeout=0.5)
    # when: the agent hands back
    await database_sync_to_async(takeover.conversation_hand_back)(conversation_id=conversation_id, agent=agent)
    assert (await chat.receive_json_from())["type"] == "notice"
    # then: the bot answers again
    _, answer = await ask(chat, "how do I get my money back")
    assert answer["type"] == "answer" and answer["citations"]
    roles = [m.role async for m in Message.objects.filter(conversation_id=conversation_id).order_by("pk")]
    assert roles == ["system", "agent", "visitor", "system", "visitor", "bot"]
    await chat.disconnect()


async def test_only_the_agent_holding_a_conversation_may_reply(widget, no_llm, agent):
    chat, session = await open_chat()
    other = await database_sync_to_async(get_user_model().objects.create_user)("kim", password="pw-kim-12345")
    await database_sync_to_async(takeover.conversation_take_over)(
        conversation_id=session["conversation_id"], agent=agent
    )
    with pytest.raises(ChatError, match="another agent"):
        await database_sync_to_async(takeover.agent_reply)(
            conversation_id=session["conversation_id"], agent=other, text="me too"
        )
    with pytest.raises(ChatError, match="another agent"):
        await database_sync_to_async(takeover.conversation_take_over)(
            conversation_id=session["conversation_id"], agent=other
        )
    await chat.disconnect()


def test_agent_presence_decides_whether_a_human_is_offered(agent):
    assert agents_online() is False
    takeover.agent_presence_touch(user=agent, channel_name="console-1")
    assert agents_online() is True
    takeover.agent_presence_leave(channel_name="console-1")
    assert not AgentPresence.objects.exists() and agents_online() is False
