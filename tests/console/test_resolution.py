"""Resolutions on the analytics page: confirmed (the visitor said so: CSAT 4–5, else thumbs up) vs assumed (left
after an answer without asking again), not resolved, with a human, and still open, on a known set of conversations;
CSAT shown next to thumbs; and the page states how each is counted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from feedback.csat import csat_record
from supportbot.chat.models import Conversation, Message
from supportbot.console.charts import Period, console_charts
from tests.chat.factories import AnswerFactory, ConversationFactory, QuestionFactory
from tests.feedback.factories import RatingFactory

pytestmark = pytest.mark.django_db


def _answered(*, idle_minutes: int = 0, offered: bool = False, **fields) -> tuple[Conversation, Message]:
    """A conversation in which the bot answered the visitor's question, its last message `idle_minutes` old."""
    conversation = ConversationFactory(**fields)
    answer = AnswerFactory(reply_to=QuestionFactory(conversation=conversation), escalation_offered=offered)
    if idle_minutes:
        then = timezone.now() - timedelta(minutes=idle_minutes)
        Message.objects.filter(conversation=conversation).update(created_at=then)
    return conversation, answer


def _csat(conversation: Conversation, score: int, comment: str = "") -> None:
    csat_record(conversation=conversation, visitor_id=conversation.visitor_id, score=score, comment=comment)


@pytest.fixture
def known_conversations() -> None:
    """Nine conversations, one or two of each outcome."""
    # confirmed: a CSAT of 5; a thumbs up without CSAT
    _csat(_answered()[0], 5, "Spot on")
    RatingFactory(message=_answered()[1], value="up")
    # not resolved: a CSAT of 2 outweighs a thumbs up; a thumbs down last; idle after the bot offered a human
    conversation, answer = _answered()
    RatingFactory(message=answer, value="up")
    _csat(conversation, 2, "Took too long")
    RatingFactory(message=_answered()[1], value="down")
    _answered(idle_minutes=45, offered=True)
    # assumed: left after an answer (idle past FEEDBACK_LEFT_AFTER_MINUTES); closed after an answer
    _answered(idle_minutes=45)
    _answered(status=Conversation.Status.CLOSED)
    # with a human: escalated, however pleased the visitor was
    _csat(_answered(status=Conversation.Status.ESCALATED, escalation_reason="visitor_request")[0], 5)
    # still open: answered a minute ago, no verdict yet
    _answered(idle_minutes=1)


def test_each_conversation_is_counted_once_in_its_outcome_and_the_rates_follow(known_conversations, settings):
    # given
    settings.FEEDBACK_LEFT_AFTER_MINUTES = 30
    # when
    resolutions = console_charts(Period.parse())["resolutions"]
    # then
    counts = {name: resolutions[name] for name in ("confirmed", "assumed", "unresolved", "human", "open")}
    assert counts == {"confirmed": 2, "assumed": 2, "unresolved": 3, "human": 1, "open": 1}
    assert resolutions["conversations"] == 9 and resolutions["counted"] == 8
    assert resolutions["resolution_rate"] == 0.5
    assert (resolutions["confirmed_rate"], resolutions["assumed_rate"]) == (0.25, 0.25)


def test_a_longer_idle_time_leaves_the_idle_conversations_open(known_conversations, settings):
    # given: a visitor counts as gone only after an hour
    settings.FEEDBACK_LEFT_AFTER_MINUTES = 60
    # when
    resolutions = console_charts(Period.parse())["resolutions"]
    # then: the two idle for 45 minutes (one assumed, one not resolved) are not finished yet
    assert (resolutions["assumed"], resolutions["unresolved"], resolutions["open"]) == (1, 2, 3)


def test_csat_is_summed_up_next_to_thumbs(known_conversations):
    # when
    charts = console_charts(Period.parse())
    # then: three CSAT ratings (5, 2, 5) and three thumbs (two up, one down)
    assert charts["csat"]["by_score"] == [0, 1, 0, 0, 2]
    assert charts["csat"]["score"] == pytest.approx(2 / 3, abs=1e-3) and charts["csat"]["average"] == 4.0
    assert (charts["thumbs"]["totals"]["up"], charts["thumbs"]["totals"]["down"]) == (2, 1)


def test_a_period_without_conversations_has_no_rates():
    resolutions = console_charts(Period.parse())["resolutions"]
    assert resolutions["counted"] == 0 and resolutions["resolution_rate"] is None


def test_the_analytics_page_shows_the_numbers_and_states_how_they_are_counted(known_conversations, agent_client):
    # when
    page = agent_client.get(reverse("console:analytics")).content.decode()
    # then
    assert 'id="resolution-rate">50%<' in page
    assert '<tr data-outcome="confirmed"><th>Confirmed</th><td>2</td>' in page
    assert '<tr data-outcome="assumed"><th>Assumed</th><td>2</td>' in page
    assert "a CSAT rating of 4 or 5, or, without a CSAT rating, a thumbs up" in page
    assert "the visitor left without asking again (closed, or idle for 30 minutes)" in page
    assert "the way Intercom counts Fin&#x27;s resolutions" in page or "the way Intercom counts Fin's" in page
    assert 'id="csat-score">67%<' in page and "Took too long" in page and "Spot on" in page
    assert "Thumbs in the same period: 2 up, 1 down." in page


def test_the_statement_is_in_korean_for_a_korean_agent(known_conversations, agent_client):
    # when
    agent_client.cookies["django_language"] = "ko"
    page = agent_client.get(reverse("console:analytics")).content.decode()
    # then
    assert "해결 방식" in page and "확인된 해결" in page
