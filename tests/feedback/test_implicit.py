"""Implicit signals, derived from stored conversations: escalated, rephrased, left — once each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from feedback.implicit import implicit_signals_collect
from feedback.models import ImplicitSignal
from feedback.tasks import implicit_signals_task
from supportbot.chat.models import Conversation, Message
from tests.chat.conftest import ask, open_chat
from tests.chat.factories import AnswerFactory, ConversationFactory, QuestionFactory

pytestmark = [pytest.mark.django_db]


def _signals() -> list[tuple[int, str]]:
    return sorted(ImplicitSignal.objects.values_list("message_id", "kind"))


def _age(conversation: Conversation, minutes: int) -> None:
    Message.objects.filter(conversation=conversation).update(created_at=timezone.now() - timedelta(minutes=minutes))


def _turn(conversation: Conversation, question: str) -> Message:
    return AnswerFactory(reply_to=QuestionFactory(conversation=conversation, text=question))


@pytest.mark.django_db(transaction=True)
async def test_escalating_after_an_answer_marks_that_answer(widget, knowledge, no_llm):
    # given
    chat, session = await open_chat()
    _, first = await ask(chat, "how do I get my money back")
    _, second = await ask(chat, "what does error E4403 mean")
    # when: the visitor presses "Talk to a human"
    await chat.send_json_to({"type": "escalate"})
    assert (await chat.receive_json_from(timeout=5))["type"] == "escalated"
    await sync_to_async(implicit_signals_collect)()
    # then
    signal = await ImplicitSignal.objects.aget(kind="escalated")
    assert signal.message_id == second["message_id"] and signal.detail == {"reason": "visitor_button"}
    assert await ImplicitSignal.objects.filter(message_id=first["message_id"]).acount() == 0
    await chat.disconnect()
    await sync_to_async(connections.close_all)()


def test_asking_for_a_human_in_words_marks_the_answer_before():
    # given
    answer = _turn(ConversationFactory(escalation_reason="visitor_request", status="escalated"), "refund?")
    QuestionFactory(conversation=answer.conversation, text="let me talk to a human please")
    Message.objects.create(conversation=answer.conversation, role="system", text="An agent has been notified.")
    # when
    implicit_signals_collect()
    # then
    assert _signals() == [(answer.pk, "escalated")]


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        pytest.param("how do I get a refund", "how do I get a refund??", id="same-words"),
        pytest.param("how can I reset my password", "how to reset my password", id="word-overlap"),
        pytest.param("how do I delete my account", "how can I remove my account permanently", id="embedding"),
    ],
)
def test_asking_the_same_question_again_marks_the_answer_as_rephrased(question, follow_up):
    # given
    conversation = ConversationFactory()
    answer = _turn(conversation, question)
    QuestionFactory(conversation=conversation, text=follow_up)
    # when
    implicit_signals_collect()
    # then
    assert _signals() == [(answer.pk, "rephrased")]
    assert set(ImplicitSignal.objects.get().detail) == {"similarity", "word_overlap"}


def test_a_different_follow_up_is_not_a_rephrase():
    conversation = ConversationFactory()
    _turn(conversation, "how do I get a refund")
    QuestionFactory(conversation=conversation, text="thanks! and which countries do you ship to?")
    implicit_signals_collect()
    assert _signals() == []


def test_leaving_after_an_answer_is_recorded_once_the_conversation_is_idle(settings):
    # given
    settings.FEEDBACK_LEFT_AFTER_MINUTES = 30
    idle, recent, answered = ConversationFactory(), ConversationFactory(), ConversationFactory()
    left = _turn(idle, "how do I get a refund")
    _turn(recent, "how do I get a refund")
    followed = _turn(answered, "how do I get a refund")
    QuestionFactory(conversation=answered, text="which countries do you ship to?")
    _age(idle, 31)
    _age(answered, 31)
    # when
    implicit_signals_collect()
    # then: only the answer nobody replied to in an idle conversation; the last answer of `answered` is
    # still waiting for its reply
    assert _signals() == [(left.pk, "left")]
    assert not ImplicitSignal.objects.filter(message=followed).exists()


def test_collecting_again_adds_nothing_and_since_limits_the_conversations():
    # given
    old, new = ConversationFactory(), ConversationFactory()
    for conversation in (old, new):
        _turn(conversation, "how do I get a refund")
        QuestionFactory(conversation=conversation, text="how do I get a refund?")
    _age(old, 3 * 24 * 60)
    # when
    implicit_signals_collect(since=timezone.now() - timedelta(days=1))
    # then
    assert [kind for _, kind in _signals()] == ["rephrased"]
    # when
    first = implicit_signals_collect()
    again = implicit_signals_collect()
    implicit_signals_task.delay()
    # then
    assert first == again == {"escalated": 0, "rephrased": 2, "left": 0}
    assert ImplicitSignal.objects.count() == 2
