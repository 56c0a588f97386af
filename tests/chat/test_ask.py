"""`ask` runs the visitor's turn (supportbot/chat/turn.py) like the websocket does, with a staff tool's limits off:
a conversation an agent holds gets no bot answer, a question on a widget out of messages still gets one."""

from __future__ import annotations

from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from supportbot.chat import takeover
from supportbot.chat.ask import question_ask
from supportbot.chat.models import Conversation, Message
from supportbot.chat.services import ChatError

pytestmark = [pytest.mark.django_db(transaction=True)]
QUESTION = "how do I get my money back"


@pytest.fixture
def held(widget):
    """The command line's conversation on the widget, taken over by an agent."""
    agent = get_user_model().objects.create_user("sam", password="pw-sam-12345", first_name="Sam", is_staff=True)
    conversation = Conversation.objects.create(widget=widget, visitor_id="command-line")
    return takeover.conversation_take_over(conversation_id=conversation.pk, agent=agent)


def test_ask_refuses_a_conversation_an_agent_holds(widget, knowledge, no_llm, held):
    # when
    with pytest.raises(CommandError) as refused:
        call_command("ask", QUESTION, "--widget", widget.key, "--conversation", str(held.pk), stdout=StringIO())
    # then: a clear message, no bot answer; the question is kept for the agent, who sees it in the transcript
    assert str(refused.value) == "an agent holds this conversation, so the bot does not answer"
    assert not held.messages.filter(role=Message.Role.BOT).exists()
    assert list(held.messages.filter(role=Message.Role.VISITOR).values_list("text", flat=True)) == [QUESTION]


def test_question_ask_says_why_it_has_no_answer_when_an_agent_holds_the_conversation(widget, knowledge, no_llm, held):
    # when
    with pytest.raises(ChatError) as refused:
        async_to_sync(question_ask)(text=QUESTION, widget_key=widget.key, conversation_id=str(held.pk))
    # then
    assert refused.value.code == "held_by_agent"
    assert not held.messages.filter(role=Message.Role.BOT).exists()


def test_ask_answers_in_a_conversation_once_the_agent_hands_it_back(widget, knowledge, no_llm, held):
    # given
    takeover.conversation_hand_back(conversation_id=held.pk, agent=held.assigned_agent)
    # when
    result = async_to_sync(question_ask)(text=QUESTION, widget_key=widget.key, conversation_id=str(held.pk))
    # then
    answer = Message.objects.get(pk=result["message_id"])
    assert answer.conversation_id == held.pk and answer.role == Message.Role.BOT and answer.state == "done"
    assert result["citations"] and result["answer"] == answer.text


def test_ask_is_not_rate_limited_like_a_visitor(widget, knowledge, no_llm):
    # given: a widget that takes one message a minute from a visitor
    widget.visitor_messages_per_minute = 1
    widget.save()
    # when: a staff tool asks three times as the same visitor
    results = [async_to_sync(question_ask)(text=QUESTION, widget_key=widget.key, visitor_id="staff") for _ in range(3)]
    # then: every question is answered
    assert all(result["citations"] for result in results)
