"""Rate limits and the daily token budget, through the real consumer, Postgres and (for sharing) a real Redis.

"Nothing lost" means, per limit:
- a message over a per-minute limit is refused before it is stored; the error frame names its client_id (the
  widget puts the text back into the input) and says when to send again; sent again then, it is stored once;
- a new conversation over an hourly limit is refused at connect (error frame, close 4429) before anything is
  created; the visitor's existing conversation can still be resumed;
- a widget over its daily token budget still stores the visitor's message and answers it from the help centre
  without the LLM, offering a human.
"""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from prometheus_client import REGISTRY

from supportbot.answering.pipeline import HUMAN_OFFER, OFFLINE_MODEL
from supportbot.chat import limits
from supportbot.chat.models import Conversation, Message, Widget
from supportbot.client_address import client_address
from tests.chat.conftest import ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


async def ask_and_settle(chat, text: str, **extra) -> dict:
    """Ask, and take every frame that follows the answer (an escalation after unsure answers, say)."""
    _, answer = await ask(chat, text, **extra)
    while not await chat.receive_nothing(timeout=0.3):
        await chat.receive_json_from()
    return answer


def refused_count(scope: str) -> float:
    return REGISTRY.get_sample_value("supportbot_rate_limited_total", {"scope": scope}) or 0.0


async def stored_visitor_texts() -> list[str]:
    return [m.text async for m in Message.objects.filter(role=Message.Role.VISITOR).order_by("pk")]


# Three messages, each from (visitor, address): the third is over a limit of 2 only for the scope in question.
SENDERS = {
    "visitor_messages": [("visitor-0001", "192.0.2.1")] * 3,
    "ip_messages": [("visitor-0001", "192.0.2.1"), ("visitor-0002", "192.0.2.1"), ("visitor-0003", "192.0.2.1")],
    "widget_messages": [("visitor-0001", "192.0.2.1"), ("visitor-0002", "192.0.2.2"), ("visitor-0003", "192.0.2.3")],
}


@pytest.mark.parametrize("scope", [pytest.param(s, id=s) for s in SENDERS])
async def test_a_message_over_a_per_minute_limit_is_refused_before_it_is_stored(scope, widget, no_llm, generous):
    # given: a limit of 2 messages a minute for this scope only
    setattr(generous, f"CHAT_RATE_{scope.upper()}_PER_MINUTE", 2)
    before = refused_count(scope)
    chats = {}
    for visitor, address in SENDERS[scope]:
        if visitor not in chats:
            chats[visitor], _ = await open_chat(visitor=visitor, address=address)
    (first, _), (second, _), (third, _) = SENDERS[scope]
    await ask_and_settle(chats[first], "how do I reset my password", client_id="c-1")
    await ask_and_settle(chats[second], "how do I change my email", client_id="c-2")
    # when
    await chats[third].send_json_to({"type": "message", "text": "and my invoices?", "client_id": "c-3"})
    frame = await chats[third].receive_json_from(timeout=5)
    # then: a clear frame naming the refused message, nothing stored, the refusal counted
    assert frame["type"] == "error" and frame["code"] == "rate_limited" and frame["scope"] == scope
    assert frame["client_id"] == "c-3" and 1 <= frame["retry_after"] <= 60
    assert "wait" in frame["detail"] and str(frame["retry_after"]) in frame["detail"]
    assert await stored_visitor_texts() == ["how do I reset my password", "how do I change my email"]
    assert refused_count(scope) == before + 1
    assert await chats[third].receive_nothing(timeout=0.3)
    for chat in chats.values():
        await chat.disconnect()


async def test_a_refused_message_sent_again_after_the_wait_is_stored_once(widget, no_llm, generous, monkeypatch):
    # given: the visitor's third message in a minute was refused
    generous.CHAT_RATE_VISITOR_MESSAGES_PER_MINUTE = 2
    chat, _ = await open_chat()
    for n in (1, 2):
        await ask_and_settle(chat, f"question number {n} about billing", client_id=f"c-{n}")
    await chat.send_json_to({"type": "message", "text": "question number 3", "client_id": "c-3"})
    refused = await chat.receive_json_from(timeout=5)
    assert refused["code"] == "rate_limited"
    # when: the widget sends it again once retry_after has passed
    later = time.time() + refused["retry_after"]
    monkeypatch.setattr(limits.time, "time", lambda: later)
    answer = await ask_and_settle(chat, "question number 3", client_id="c-3")
    # then
    assert answer["type"] == "answer"
    assert await stored_visitor_texts() == [f"question number {n} about billing" for n in (1, 2)] + [
        "question number 3"
    ]
    await chat.disconnect()


# Two new conversations, each from (visitor, address): the second is over a limit of 1 only for the scope.
OPENERS = {
    "visitor_conversations": [("visitor-0001", "192.0.2.1")] * 2,
    "ip_conversations": [("visitor-0001", "192.0.2.1"), ("visitor-0002", "192.0.2.1")],
    "widget_conversations": [("visitor-0001", "192.0.2.1"), ("visitor-0002", "192.0.2.2")],
}


@pytest.mark.parametrize("scope", [pytest.param(s, id=s) for s in OPENERS])
async def test_a_new_conversation_over_an_hourly_limit_is_refused_at_connect(scope, widget, no_llm, generous):
    # given: one new conversation an hour for this scope only, and it is taken
    setattr(generous, f"CHAT_RATE_{scope.upper()}_PER_HOUR", 1)
    before = refused_count(scope)
    (first_visitor, first_address), (visitor, address) = OPENERS[scope]
    first, session = await open_chat(visitor=first_visitor, address=first_address)
    await first.disconnect()
    # when
    chat, frame = await open_chat(visitor=visitor, address=address)
    # then: a clear frame and a close code; no conversation was created
    assert frame["type"] == "error" and frame["code"] == "rate_limited" and frame["scope"] == scope
    assert 1 <= frame["retry_after"] <= 3600 and "try again" in frame["detail"]
    assert await chat.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}
    assert await Conversation.objects.acount() == 1
    assert refused_count(scope) == before + 1
    # and coming back to the existing conversation is never limited
    again, resumed = await open_chat(
        visitor=first_visitor, address=first_address, conversation=session["conversation_id"]
    )
    assert resumed["type"] == "session" and resumed["conversation_id"] == session["conversation_id"]
    await again.disconnect()


@pytest.mark.parametrize(
    ("default", "own", "allowed"),
    [
        pytest.param(1, 3, 3, id="widget-allows-more"),
        pytest.param(3, 1, 1, id="widget-allows-less"),
        pytest.param(1, 0, 4, id="widget-unlimited"),
        pytest.param(2, None, 2, id="blank-uses-default"),
    ],
)
async def test_a_widgets_own_limit_overrides_the_default(default, own, allowed, widget, no_llm, generous):
    # given
    generous.CHAT_RATE_VISITOR_MESSAGES_PER_MINUTE = default
    await Widget.objects.filter(pk=widget.pk).aupdate(visitor_messages_per_minute=own)
    chat, _ = await open_chat()
    # when: four messages
    outcomes = []
    for n in range(4):
        await chat.send_json_to({"type": "message", "text": f"question {n} about plans", "client_id": f"c-{n}"})
        frame = await chat.receive_json_from(timeout=5)
        outcomes.append(frame["type"] if frame["type"] == "received" else frame["code"])
        while frame["type"] == "received" and frame["type"] != "answer":
            frame = await chat.receive_json_from(timeout=10)
        while not await chat.receive_nothing(timeout=0.3):  # an escalation after unsure answers
            await chat.receive_json_from()
    # then
    assert outcomes == ["received"] * allowed + ["rate_limited"] * (4 - allowed)
    assert await Message.objects.filter(role=Message.Role.VISITOR).acount() == allowed
    await chat.disconnect()


async def test_over_the_daily_token_budget_the_message_is_kept_and_answered_without_the_llm(
    widget, knowledge, llm, generous
):
    # given: a budget smaller than one answer's tokens (the fake model reports 42 prompt tokens + its words)
    await Widget.objects.filter(pk=widget.pk).aupdate(daily_token_budget=50)
    llm.reply = "E4403 means the page that loaded the widget is not on the widget key's allowed origins [1]."
    chat, _ = await open_chat()
    _, first = await ask(chat, "what does E4403 mean")
    assert first["type"] == "answer" and "allowed origins" in first["text"]
    assert await sync_to_async(limits.tokens_used_today)(widget.pk) >= 50
    calls = len(llm.requests)
    before = refused_count("widget_tokens")
    # when
    await chat.send_json_to({"type": "message", "text": "why is my chat connection refused", "client_id": "c-2"})
    # then: stored, told why, answered from the articles with a human offered, and the model not asked
    assert (await chat.receive_json_from(timeout=5))["type"] == "received"
    notice = await chat.receive_json_from(timeout=5)
    assert notice["code"] == "rate_limited" and notice["scope"] == "widget_tokens"
    assert "budget" in notice["detail"] and 1 <= notice["retry_after"] <= 86400
    frame = await chat.receive_json_from(timeout=10)
    while frame["type"] == "token":
        frame = await chat.receive_json_from(timeout=10)
    assert frame["type"] == "answer" and frame["escalation_offered"] is True
    assert str(HUMAN_OFFER) in frame["text"]
    bot = await Message.objects.aget(pk=frame["message_id"])
    assert bot.model == OFFLINE_MODEL
    assert len(llm.requests) == calls
    assert await stored_visitor_texts() == ["what does E4403 mean", "why is my chat connection refused"]
    assert refused_count("widget_tokens") == before + 1
    await chat.disconnect()


async def test_the_token_count_is_seeded_from_stored_answers_when_the_cache_has_none(widget, knowledge, llm):
    # given: an answer stored, then the counters lost (a restart with the in-memory cache)
    from django.core.cache import caches

    chat, _ = await open_chat()
    _, answer = await ask(chat, "what does E4403 mean")
    await chat.disconnect()
    bot = await Message.objects.aget(pk=answer["message_id"])
    await sync_to_async(caches["limits"].clear)()
    # when
    used = await sync_to_async(limits.tokens_used_today)(widget.pk)
    # then
    assert used == bot.prompt_tokens + bot.completion_tokens > 0


@pytest.fixture
def redis_cache(settings, redis_server):
    """Django's caches on a real Redis, as with REDIS_URL in production."""
    on_redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_server}
    settings.CACHES = {"default": on_redis, "limits": on_redis}
    return redis_server


async def test_limits_are_shared_by_two_consumers_through_redis(widget, no_llm, generous, redis_cache):
    # given: the same visitor in two tabs (two consumer instances), two messages a minute
    import redis

    generous.CHAT_RATE_VISITOR_MESSAGES_PER_MINUTE = 2
    tab_a, session = await open_chat()
    tab_b, _ = await open_chat(conversation=session["conversation_id"])
    # when
    await ask_and_settle(tab_a, "first question about exports", client_id="c-1")
    await ask_and_settle(tab_b, "second question about exports", client_id="c-2")
    await tab_a.send_json_to({"type": "message", "text": "third question", "client_id": "c-3"})
    # then: the count both consumers share lives in Redis
    assert (await tab_a.receive_json_from(timeout=5))["code"] == "rate_limited"
    keys = redis.Redis.from_url(redis_cache).keys("*sb-rate:visitor_messages:*")
    assert len(keys) == 1
    assert await Message.objects.filter(role=Message.Role.VISITOR).acount() == 2
    await tab_a.disconnect()
    await tab_b.disconnect()


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        pytest.param([], "203.0.113.5", "198.51.100.7", "203.0.113.5", id="no-proxy-trusted-header-ignored"),
        pytest.param(["10.0.0.0/8"], "10.0.0.2", "198.51.100.7", "198.51.100.7", id="trusted-proxy"),
        pytest.param(["10.0.0.0/8"], "10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7", id="forged-left"),
        pytest.param(["10.0.0.0/8"], "203.0.113.5", "198.51.100.7", "203.0.113.5", id="untrusted-peer"),
    ],
)
def test_the_client_address_believes_forwarded_for_only_from_trusted_proxies(
    trusted, peer, forwarded, expected, settings
):
    settings.TRUSTED_PROXIES = trusted
    scope = {"client": [peer, 5000], "headers": [(b"x-forwarded-for", forwarded.encode())]}
    assert client_address(scope) == expected


@pytest.fixture
def dead_redis_url():
    """A Redis URL on a loopback port that refuses connections: bound (so nothing else takes it), never listening.
    The real redis client gets a real "connection refused"."""
    import socket

    import redis

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{held.getsockname()[1]}/0"
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        yield url


async def test_with_the_cache_down_limits_let_the_visitor_through_and_nothing_is_lost(
    widget, knowledge, llm, settings, dead_redis_url
):
    # given: the cache that holds the counters (Redis in production, with the timeouts settings.py gives it) does
    # not answer
    dead = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": dead_redis_url,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    settings.CACHES = {"default": dead, "limits": dead}
    settings.CHAT_RATE_VISITOR_MESSAGES_PER_MINUTE = 1
    chat, session = await open_chat()
    # when: two messages, over the limit of one a minute had it been counted
    turns = []
    for n, text in enumerate(("what does E4403 mean", "why is my chat connection refused")):
        _, notice = await ask(chat, text, client_id=f"c-outage-{n}")
        turns.append((notice, await ask_and_settle_answer(chat)))
    # then: both stored and answered, not refused; the budget could not be checked, so it said so and answered
    # without the LLM
    assert [notice["scope"] for notice, _ in turns] == ["budget_unavailable"] * 2
    assert [answer["type"] for _, answer in turns] == ["answer"] * 2 and all(answer["text"] for _, answer in turns)
    assert await Message.objects.filter(conversation_id=session["conversation_id"], role="visitor").acount() == 2
    assert {m.model async for m in Message.objects.filter(role="bot")} == {OFFLINE_MODEL}
    assert llm.requests == []
    await chat.disconnect()


async def ask_and_settle_answer(chat) -> dict:
    """The answer frame after a notice, and any frames after it (an escalation offer)."""
    frame = await chat.receive_json_from(timeout=10)
    while frame["type"] == "token":
        frame = await chat.receive_json_from(timeout=10)
    while not await chat.receive_nothing(timeout=0.3):
        await chat.receive_json_from()
    return frame
