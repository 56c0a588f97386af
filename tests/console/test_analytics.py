"""Analytics from conversations held through the chat itself (the visitor's websocket and the answering
pipeline), and the content gaps grouped from the badly answered questions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connections
from django.urls import reverse

from supportbot.console.charts import Period, console_charts
from supportbot.console.gaps import content_gaps, gaps_group
from tests.chat.conftest import ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]
QUESTION = "how do I get my money back"


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


async def conversations_through_the_chat() -> None:
    """Three visitors: one answered and pleased; one asking for a human; one the bot can't help, twice in a row
    (so the chat escalates it)."""
    first, _ = await open_chat(visitor="visitor-happy")
    _, answer = await ask(first, QUESTION)
    await first.send_json_to({"type": "feedback", "message_id": answer["message_id"], "rating": "up"})
    assert (await first.receive_json_from(timeout=5))["type"] == "feedback_saved"
    _, again = await ask(first, QUESTION)  # the same question again: from the semantic cache
    await first.disconnect()
    second, _ = await open_chat(visitor="visitor-human")
    await ask(second, "my email is jane@example.com, can I talk to a human?")
    await second.disconnect()
    third, _ = await open_chat(visitor="visitor-lost")
    _, unsure = await ask(third, "What is the capital city of Mongolia?")
    await third.send_json_to({"type": "feedback", "message_id": unsure["message_id"], "rating": "down"})
    assert (await third.receive_json_from(timeout=5))["type"] == "feedback_saved"
    await ask(third, "Which city is the capital of Mongolia?")
    await third.disconnect()


async def test_the_charts_count_what_happened_in_the_chat(widget, knowledge, no_llm):
    # given
    await conversations_through_the_chat()
    # when
    charts = await database_sync_to_async(console_charts)(Period.parse())
    # then
    today = charts["days"].index(datetime.now(UTC).date().isoformat())
    assert charts["conversations"]["total"][today] == 3
    assert charts["conversations"]["escalated"][today] == 2
    assert charts["conversations"]["totals"]["deflection_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert sorted(zip(charts["reasons"]["labels"], charts["reasons"]["counts"], strict=True)) == [
        ("low_confidence", 1),
        ("visitor_request", 1),
    ]
    assert (charts["thumbs"]["up"][today], charts["thumbs"]["down"][today]) == (1, 1)
    assert sum(charts["confidence"]["counts"]) == 4
    assert sum(charts["confidence"]["counts"][:2]) == 2  # the two questions about Mongolia, below 0.2
    assert charts["latency"]["p50"][today] > 0 and charts["latency"]["p95"][today] >= charts["latency"]["p50"][today]
    assert charts["cache"]["hits"][today] == 1 and charts["cache"]["total"][today] == 4
    assert charts["guards"] == {"labels": ["supportbot/personal_data"], "counts": [1]}  # the email, redacted
    assert charts["tokens"]["llm"] is False and sum(charts["tokens"]["prompt"]) == 0


async def test_tokens_and_their_cost_come_from_the_llm_usage(widget, knowledge, llm, settings):
    # given: a price for the model the fake server reports
    settings.LLM_PRICES = {"fake-model": (1000.0, 2000.0)}
    chat, _ = await open_chat()
    _, answer = await ask(chat, QUESTION)
    await chat.disconnect()
    # when
    charts = await database_sync_to_async(console_charts)(Period.parse())
    # then
    tokens = charts["tokens"]
    assert tokens["llm"] is True and sum(tokens["prompt"]) >= 42 and sum(tokens["completion"]) > 0
    expected = (sum(tokens["prompt"]) * 1000.0 + sum(tokens["completion"]) * 2000.0) / 1_000_000
    assert tokens["total_cost"] == pytest.approx(expected)


async def test_content_gaps_group_similar_unanswered_questions(widget, knowledge, no_llm):
    # given
    await conversations_through_the_chat()
    # when
    gaps = await database_sync_to_async(content_gaps)(Period.parse())
    # then: the two ways of asking about Mongolia are one gap, counted twice, one click from a correction
    mongolia = next(gap for gap in gaps if "Mongolia" in gap["question"])
    assert mongolia["count"] == 2
    assert len(mongolia["examples"]) == 2
    assert mongolia["reasons"]["low_confidence"] == 2 and mongolia["reasons"]["down_rated"] == 1
    assert all("jane@example.com" not in gap["question"] for gap in gaps)


def test_greedy_grouping_joins_the_closest_leader_at_the_threshold():
    rows = [(1, "a", ["low_confidence"]), (2, "b", ["escalated"]), (3, "c", []), (4, "d", ["down_rated"])]
    vectors = np.array([[1, 0], [0.8, 0.6], [0, 1], [0.6, 0.8]], dtype=np.float32)
    groups = gaps_group(rows, vectors)
    assert [(g.question, g.count) for g in groups] == [("a", 2), ("c", 2)]
    assert groups[0].reasons == {"low_confidence": 1, "escalated": 1}


def test_the_period_defaults_to_the_last_two_weeks_and_orders_its_ends():
    period = Period.parse(today=date(2026, 3, 14))
    assert (period.first, period.last) == (date(2026, 3, 1), date(2026, 3, 14))
    swapped = Period.parse(since="2026-03-10", until="2026-03-01")
    assert (swapped.first, swapped.last) == (date(2026, 3, 1), date(2026, 3, 10))
    assert len(Period.parse(since="2000-01-01", until="2026-01-01").days) == 366


def test_the_analytics_page_draws_from_the_data(agent_client):
    response = agent_client.get(reverse("console:analytics"), {"since": "2026-01-01", "until": "2026-01-07"})
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="charts-data"' in content and "vendor/chart.umd.js" in content
    assert response.context["charts"]["days"][0] == "2026-01-01"
