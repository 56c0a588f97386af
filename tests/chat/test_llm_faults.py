"""LLM faults, end to end through the websocket consumer with two local OpenAI-compatible endpoints: a stream
that dies mid-answer fails over and the visitor still gets one complete cited answer; a stream that breaks or
stalls before its first token fails over; with every endpoint down the visitor gets the offline answer and a
human offer. In every case the question and the answer are stored."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from supportbot.chat.models import Message
from supportbot.llm import pool_reset
from supportbot.llm.stream import CONTINUE
from tests.chat.conftest import ask, open_chat
from tests.fake_llm import FakeLLM, cite_first_passage

pytestmark = [pytest.mark.django_db(transaction=True)]
QUESTION = "what does E4403 mean"
REFUND_QUESTION = "how do I get my money back"


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def endpoints(settings):
    """Two endpoints tried in order: "primary" first, "backup" when it fails."""
    primary, backup = FakeLLM().start(), FakeLLM().start()
    settings.LLM_ENDPOINTS = [
        {"name": "primary", "base_url": primary.base_url, "api_key": "k1", "priority": 0},
        {"name": "backup", "base_url": backup.base_url, "api_key": "k2", "priority": 1},
    ]
    settings.LLM_MODEL = "fake-model"
    settings.LLM_TIMEOUT_SECONDS = 8.0
    # Generous for a busy 2-core machine, and still far below the slow endpoints' 5 s and 30 s.
    settings.LLM_FIRST_TOKEN_TIMEOUT_SECONDS = 1.5
    settings.LLM_MAX_RETRIES = 0
    pool_reset()
    yield primary, backup
    pool_reset()
    primary.stop()
    backup.stop()


async def stored_pair(answer: dict) -> tuple[Message, Message]:
    bot = await Message.objects.select_related("reply_to").aget(pk=answer["message_id"])
    return bot.reply_to, bot


@pytest.mark.parametrize(
    "mode", ["die", "break"], ids=["connection-dropped-mid-answer", "body-ended-mid-answer-without-done"]
)
async def test_a_stream_that_dies_mid_answer_fails_over_and_the_visitor_gets_one_complete_answer(
    widget, knowledge, endpoints, settings, mode
):
    # given: the primary endpoint stops after three words (and no first-token limit gets in the way)
    settings.LLM_FIRST_TOKEN_TIMEOUT_SECONDS = 5.0
    primary, backup = endpoints
    primary.mode, primary.fail_after = mode, 3
    chat, _ = await open_chat()
    # when
    tokens, answer = await ask(chat, QUESTION)
    # then: one complete answer, cited, the words already streamed not repeated
    full = cite_first_passage(primary.requests[0]["body"]["messages"])
    assert answer["type"] == "answer" and answer["text"] == full
    assert "".join(frame["text"] for frame in tokens).strip() == full
    assert [c["n"] for c in answer["citations"]] == [1] and answer["escalation_offered"] is False
    # and the backup endpoint was asked to continue the partial answer
    continuation = backup.requests[-1]["body"]["messages"]
    assert continuation[-2]["role"] == "assistant" and full.startswith(continuation[-2]["content"])
    assert len(continuation[-2]["content"].split()) == 3 and continuation[-1]["content"] == CONTINUE
    # and nothing is lost: the question and the complete answer are stored, with the endpoints that served it
    question, bot = await stored_pair(answer)
    assert (question.role, question.text) == ("visitor", QUESTION)
    assert (bot.text, bot.model) == (full, "fake-model")
    assert [(a["endpoint"], a["outcome"]) for a in bot.timings["llm"]] == [
        ("primary", "broken_stream"),
        ("backup", "ok"),
    ]
    assert bot.timings["llm"][0]["chars"] > 0 and bot.timings["llm"][1]["chars"] > 0
    await chat.disconnect()


@pytest.mark.parametrize(
    ("mode", "fail_after", "first_token_delay", "outcome"),
    [
        pytest.param("die", 0, 0.0, "broken_stream", id="connection-dropped-before-first-token"),
        pytest.param("error", None, 0.0, "http_5xx", id="http-500"),
        pytest.param("rate_limited", None, 0.0, "rate_limited", id="http-429"),
        pytest.param("hang", None, 0.0, "timeout", id="no-response-headers"),
        pytest.param("slow_first_token", None, 5.0, "timeout", id="first-token-too-late"),
    ],
)
async def test_a_failure_before_the_first_token_fails_over_in_time(
    widget, knowledge, endpoints, mode, fail_after, first_token_delay, outcome
):
    # given
    primary, backup = endpoints
    primary.mode, primary.fail_after, primary.first_token_delay = mode, fail_after, first_token_delay
    chat, _ = await open_chat()
    # when
    _, answer = await ask(chat, QUESTION)
    # then: the backup's answer
    assert answer["text"] == cite_first_passage(backup.requests[-1]["body"]["messages"])
    assert "[1]" in answer["text"] and answer["escalation_offered"] is False
    question, bot = await stored_pair(answer)
    assert question.text == QUESTION
    assert [(a["endpoint"], a["outcome"], a["chars"]) for a in bot.timings["llm"]] == [
        ("primary", outcome, 0),
        ("backup", "ok", len(answer["text"])),
    ]
    # and the primary was given up on at the first-token limit (1.5 s), not when it would have answered (5 s, 30 s)
    given_up_after = bot.timings["llm"][0]["ms"]
    assert given_up_after < 4000 and (outcome != "timeout" or given_up_after >= 1450)
    await chat.disconnect()


@pytest.mark.parametrize("backup_mode", ["error", "hang"], ids=["both-http-500", "http-500-and-timeout"])
async def test_with_every_endpoint_down_the_visitor_gets_the_offline_answer_and_a_human_offer(
    widget, knowledge, endpoints, backup_mode
):
    # given
    primary, backup = endpoints
    primary.mode, backup.mode = "error", backup_mode
    chat, session = await open_chat()
    # when
    tokens, answer = await ask(chat, REFUND_QUESTION)
    # then: an answer from the knowledge base, cited, plus the apology and the offer of a human
    assert tokens and answer["type"] == "answer", answer
    assert answer["citations"] and re.fullmatch(
        r"/help/doc/\d+/#getting-your-payment-returned", answer["citations"][0]["url"]
    )
    assert "14 days" in answer["text"] and "[1]" in answer["text"]
    assert "trouble answering" in answer["text"] and "human" in answer["text"]
    assert answer["escalation_offered"] is True and answer["confidence_label"] == "low"
    # and nothing is lost
    question, bot = await stored_pair(answer)
    assert (question.text, str(question.conversation_id)) == (REFUND_QUESTION, session["conversation_id"])
    assert bot.text == answer["text"] and bot.model == "offline-extractive"
    assert {
        "validator": "llm",
        "outcome": "error",
        "action": "fallback",
        "detail": bot.guard_results[-1]["detail"],
    } in (bot.guard_results)
    assert [a["endpoint"] for a in bot.timings["llm"]] == ["primary", "backup"]
    assert all(a["outcome"] != "ok" for a in bot.timings["llm"])
    # and once an endpoint is back, answers come from the model again (and the fallback was not cached)
    backup.mode = "ok"
    _, later = await ask(chat, REFUND_QUESTION)
    assert later["escalation_offered"] is False and "trouble" not in later["text"]
    assert (await Message.objects.aget(pk=later["message_id"])).from_cache is False
    await chat.disconnect()
