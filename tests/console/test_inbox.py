"""The inbox's reads: rows with the last message, confidence and thumbs; filters; the escalation queue's
summary; the transcript with guard events, redactions and ratings per message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from feedback.services import feedback_record
from supportbot.chat import services as chat
from supportbot.chat.models import Conversation, Message
from supportbot.console.inbox import InboxFilters, agent_transcript, escalation_rows, inbox_rows


def visitor_says(widget, text: str, visitor: str = "visitor-0001") -> Conversation:
    conversation = chat.conversation_open(widget=widget, visitor_id=visitor)
    chat.visitor_message_receive(conversation=conversation, text=text)
    return conversation


def bot_answers(conversation: Conversation, text: str, *, confidence: float = 0.8, label: str = "high") -> Message:
    question = conversation.messages.filter(role="visitor").last()
    return Message.objects.create(
        conversation=conversation,
        role="bot",
        text=text,
        reply_to=question,
        confidence=confidence,
        confidence_label=label,
    )


def test_rows_carry_the_last_message_confidence_and_thumbs(widget):
    # given
    conversation = visitor_says(widget, "How do refunds work?")
    answer = bot_answers(conversation, "Within 14 days [1].", confidence=0.82)
    feedback_record(
        message_id=answer.pk, conversation_id=conversation.pk, visitor_id=conversation.visitor_id, rating="down"
    )
    # when
    [row] = inbox_rows(InboxFilters())
    # then
    assert row["id"] == str(conversation.pk)
    assert (row["last_role"], row["last_text"]) == ("bot", "Within 14 days [1].")
    assert (row["confidence"], row["confidence_label"]) == (0.82, "high")
    assert (row["thumbs_up"], row["thumbs_down"]) == (0, 1)
    assert row["url"] == reverse("console:conversation", args=[conversation.pk])


def test_conversations_where_nothing_was_said_stay_out(widget):
    chat.conversation_open(widget=widget, visitor_id="visitor-silent")
    assert inbox_rows(InboxFilters()) == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, {"refund", "invoice"}, id="all"),
        pytest.param({"status": "escalated"}, {"invoice"}, id="status"),
        pytest.param({"rating": "down"}, {"refund"}, id="rated-down"),
        pytest.param({"rating": "none"}, {"invoice"}, id="not-rated"),
        pytest.param({"q": "INVOICE"}, {"invoice"}, id="search"),
        pytest.param({"widget": "other"}, set(), id="widget"),
        pytest.param({"since": "2999-01-01"}, set(), id="since"),
        pytest.param({"until": (timezone.now() - timedelta(days=2)).date().isoformat()}, set(), id="until"),
    ],
)
def test_filters(widget, params, expected):
    # given
    refund = visitor_says(widget, "How do refunds work?", visitor="visitor-refund")
    answer = bot_answers(refund, "Within 14 days.")
    feedback_record(message_id=answer.pk, conversation_id=refund.pk, visitor_id="visitor-refund", rating="down")
    invoice = visitor_says(widget, "Where is my invoice?", visitor="visitor-invoice")
    chat.conversation_escalate(conversation=invoice, reason="visitor_button")
    names = {str(refund.pk): "refund", str(invoice.pk): "invoice"}
    # when
    rows = inbox_rows(InboxFilters.from_query(params))
    # then
    assert {names[row["id"]] for row in rows} == expected


def test_the_escalation_queue_summarises_each_conversation(widget):
    # given
    conversation = visitor_says(widget, "How do refunds work?")
    bot_answers(conversation, "I'm not sure.", confidence=0.2, label="low")
    chat.visitor_message_receive(conversation=conversation, text="I need a person")
    chat.conversation_escalate(conversation=conversation, reason="visitor_request")
    # when
    [row] = escalation_rows()
    # then
    assert row["reason"] == "visitor_request"
    assert row["summary"]["first_question"] == "How do refunds work?"
    assert row["summary"]["recent"] == [
        {"role": "bot", "text": "I'm not sure."},
        {"role": "visitor", "text": "I need a person"},
    ]


def test_the_transcript_shows_redactions_guard_events_and_ratings_but_not_the_personal_data(widget):
    # given: the visitor gives an email address (redacted by the input guard before it is stored)
    conversation = visitor_says(widget, "My email is jane.doe@example.com, where is my order?")
    answer = bot_answers(conversation, "Orders ship in two days.")
    feedback_record(
        message_id=answer.pk, conversation_id=conversation.pk, visitor_id=conversation.visitor_id, rating="up"
    )
    # when
    visitor, bot = agent_transcript(conversation)
    # then
    assert "jane.doe" not in visitor["text"] and "[EMAIL]" in visitor["text"]
    assert visitor["redacted"] == ["EMAIL"]
    assert any(e["action"] == "fixed" for e in visitor["guard_events"])
    assert visitor["guard_checks"] > len(visitor["guard_events"])
    assert bot["ratings"] == [{"value": "up", "reason": "", "comment": ""}]


def test_the_conversation_page_renders_the_transcript(agent_client, widget):
    conversation = visitor_says(widget, "How do refunds work?")
    response = agent_client.get(reverse("console:conversation", args=[conversation.pk]))
    assert response.status_code == 200
    assert "How do refunds work?" in response.content.decode()
