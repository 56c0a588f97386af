"""Limits that a client cannot get round: server-issued visitor ids, limited session tokens, IPv6 networks counted
as one address, a per-visitor and per-address share of the token budget, and a budget that fails closed.

Through the real endpoint, consumer and Postgres; the LLM is the local fake server, which records every request.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.core import signing
from django.db import connections
from django.test import AsyncClient
from prometheus_client import REGISTRY

from supportbot.answering.pipeline import OFFLINE_MODEL
from supportbot.chat import tokens
from supportbot.chat.models import Conversation, Message, Widget
from supportbot.client_address import address_group
from tests.chat.conftest import ORIGIN, ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]
PROXY = "127.0.0.1"  # the test client's peer: a trusted proxy, so X-Forwarded-For names the client


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def generous(generous):
    """The shared one, with the test client's peer as a trusted proxy."""
    generous.TRUSTED_PROXIES = [PROXY]
    return generous


async def session_post(*, address: str, visitor: object = None, key: str = "test-widget"):
    """POST /api/widget/session as the widget does, from `address` (behind the trusted proxy)."""
    body = {"key": key} | ({"visitor": visitor} if visitor is not None else {})
    headers = {"Origin": ORIGIN, "X-Forwarded-For": address}
    return await AsyncClient().post("/api/widget/session", body, content_type="application/json", headers=headers)


async def new_visitor(address: str) -> tuple[str, str]:
    """A visitor the server issued, and its token."""
    body = (await session_post(address=address)).json()
    return body["visitor_id"], body["token"]


async def connect_as(visitor: str, token: str, *, address: str, conversation: str = ""):
    return await open_chat(visitor=visitor, token=token, address=address, conversation=conversation)


async def answer_after(chat) -> dict:
    """The answer frame of a question whose "received" (and any notice) was already read; then silence."""
    frame = await chat.receive_json_from(timeout=10)
    while frame["type"] == "token":
        frame = await chat.receive_json_from(timeout=10)
    await settle(chat)
    return frame


async def settle(chat) -> None:
    """Take the frames that may follow an answer (an escalation after an unsure one)."""
    while not await chat.receive_nothing(timeout=0.3):
        await chat.receive_json_from()


def unchecked_count(limit: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("supportbot_limits_unchecked_total", {"limit": limit, "outcome": outcome}) or 0.0


# --- Visitor ids ------------------------------------------------------------------------------------------------
async def test_a_visitor_keeps_their_id_and_conversation_across_reloads(widget, no_llm, generous):
    # given: a first visit, with no id yet, and a question asked
    visitor, token = await new_visitor("192.0.2.1")
    chat, session = await connect_as(visitor, token, address="192.0.2.1")
    await ask(chat, "how do I reset my password", client_id="c-1")
    await chat.disconnect()
    # when: the page is reloaded; the widget sends the id it stored
    again = (await session_post(address="192.0.2.1", visitor=visitor)).json()
    chat, resumed = await connect_as(
        again["visitor_id"], again["token"], address="192.0.2.1", conversation=session["conversation_id"]
    )
    # then: the same visitor, the same conversation with its question
    assert again["visitor_id"] == visitor
    assert resumed["conversation_id"] == session["conversation_id"]
    assert "how do I reset my password" in [m["text"] for m in resumed["messages"]]
    await chat.disconnect()


def _signed_for_another_widget() -> str:
    return tokens.visitor_id_issue(widget_key="other-widget")


def _tampered() -> str:
    random, signature = tokens.visitor_id_issue(widget_key="test-widget").split(".")
    return f"{random[:-1]}{'A' if random[-1] != 'A' else 'B'}.{signature}"


def _signed_with_another_secret() -> str:
    return signing.Signer(key="not-the-server-secret", salt="supportbot.chat.visitor-id:test-widget", sep=".").sign(
        "abcdefghijklmnop"
    )


@pytest.mark.parametrize(
    "make_claimed",
    [
        pytest.param(lambda: "0123456789abcdef01234567", id="unsigned-legacy"),
        pytest.param(_signed_for_another_widget, id="signed-for-another-widget"),
        pytest.param(_tampered, id="tampered"),
        pytest.param(_signed_with_another_secret, id="forged"),
        pytest.param(lambda: "x" * 500, id="oversized"),
        pytest.param(lambda: 12345, id="not-text"),
    ],
)
async def test_a_visitor_id_the_server_did_not_issue_for_this_widget_is_replaced(make_claimed, widget, generous):
    # given
    claimed = make_claimed()
    # when
    response = await session_post(address="192.0.2.1", visitor=claimed)
    # then: a fresh id of the server's, and the token is bound to it, not to the claimed one
    fresh = response.json()["visitor_id"]
    assert response.status_code == 200 and fresh != claimed
    assert tokens.visitor_id_verified(fresh, widget_key="test-widget")
    with pytest.raises(tokens.TokenError):
        tokens.session_token_check(
            response.json()["token"], widget_key="test-widget", origin=ORIGIN, visitor_id=str(claimed)
        )


async def test_a_legacy_visitor_starts_afresh_and_cannot_reach_the_old_conversation(widget, no_llm, generous):
    # given: a conversation kept under an unsigned id from before ids were signed
    old = await Conversation.objects.acreate(widget=widget, visitor_id="0123456789abcdef01234567")
    await Message.objects.acreate(conversation=old, role=Message.Role.VISITOR, text="my order number is 1234")
    # when: the widget still has that id and that conversation in its storage
    body = (await session_post(address="192.0.2.1", visitor="0123456789abcdef01234567")).json()
    chat, session = await connect_as(body["visitor_id"], body["token"], address="192.0.2.1", conversation=str(old.pk))
    # then: a new visitor with a new, empty conversation; nothing of the old one is shown
    assert body["visitor_id"] != "0123456789abcdef01234567"
    assert session["conversation_id"] != str(old.pk) and session["messages"] == []
    await chat.disconnect()


# --- Rotating ids from one address ------------------------------------------------------------------------------
async def test_rotating_visitor_ids_runs_into_the_session_token_limit(widget, generous):
    # given: three session tokens a minute from one address
    generous.CHAT_RATE_IP_SESSIONS_PER_MINUTE = 3
    minted = [(await session_post(address="198.51.100.7")).json()["visitor_id"] for _ in range(3)]
    # when: a fourth fresh id from the same address
    refused = await session_post(address="198.51.100.7")
    # then: 429 with Retry-After, readable by the page, a JSON error the widget waits out, and no token
    assert len(set(minted)) == 3
    body = refused.json()
    assert refused.status_code == 429 and body["error"] == "rate_limited" and body["scope"] == "ip_sessions"
    assert 1 <= body["retry_after"] <= 60 and refused["Retry-After"] == str(body["retry_after"])
    assert (
        refused["Access-Control-Allow-Origin"] == ORIGIN and "Retry-After" in refused["Access-Control-Expose-Headers"]
    )
    assert "token" not in body and "visitor_id" not in body
    # and another address is not held back
    assert (await session_post(address="198.51.100.8")).status_code == 200


async def test_the_whole_widget_has_a_session_token_limit_too(widget, generous):
    # given
    generous.CHAT_RATE_WIDGET_SESSIONS_PER_MINUTE = 2
    for n in (1, 2):
        assert (await session_post(address=f"198.51.100.{n}")).status_code == 200
    # when
    refused = await session_post(address="198.51.100.3")
    # then
    assert refused.status_code == 429 and refused.json()["scope"] == "widget_sessions"


@pytest.mark.parametrize(
    ("what", "setting", "scope"),
    [
        pytest.param("messages", "CHAT_RATE_IP_MESSAGES_PER_MINUTE", "ip_messages", id="messages"),
        pytest.param("conversations", "CHAT_RATE_IP_CONVERSATIONS_PER_HOUR", "ip_conversations", id="conversations"),
    ],
)
async def test_rotating_visitor_ids_runs_into_the_address_limits(what, setting, scope, widget, no_llm, generous):
    # given: one message a minute and one conversation an hour per visitor, two per address, all inside one
    # fixed minute window (a window that ends mid-test would start the counts again)
    if time.time() % 60 > 45:
        await asyncio.sleep(61 - time.time() % 60)
    generous.CHAT_RATE_VISITOR_MESSAGES_PER_MINUTE = generous.CHAT_RATE_VISITOR_CONVERSATIONS_PER_HOUR = 1
    setattr(generous, setting, 2)
    chats = []
    for n in range(2):
        chat, _ = await connect_as(*await new_visitor("203.0.113.9"), address="203.0.113.9")
        await ask(chat, f"question {n} about invoices", client_id=f"c-{n}")
        await settle(chat)
        chats.append(chat)
    # when: a third fresh visitor id from the same address
    visitor, token = await new_visitor("203.0.113.9")
    chat, frame = await connect_as(visitor, token, address="203.0.113.9")
    if what == "messages":
        await chat.send_json_to({"type": "message", "text": "and my receipts?", "client_id": "c-3"})
        frame = await chat.receive_json_from(timeout=5)
    # then: the address's limit holds, whatever the visitor id
    assert frame["type"] == "error" and frame["code"] == "rate_limited" and frame["scope"] == scope
    assert await Message.objects.filter(role=Message.Role.VISITOR).acount() == 2
    for open_one in [*chats, chat]:
        await open_one.disconnect()


# --- IPv6: one network, one address ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prefix", "address", "group"),
    [
        pytest.param(64, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64", id="ipv6-by-64"),
        pytest.param(48, "2001:db8:1:2::1", "2001:db8:1::/48", id="ipv6-by-configured-48"),
        pytest.param(128, "2001:db8:1:2::1", "2001:db8:1:2::1/128", id="ipv6-each-address"),
        pytest.param(64, "::ffff:192.0.2.7", "192.0.2.7", id="ipv4-mapped-is-ipv4"),
        pytest.param(64, "192.0.2.7", "192.0.2.7", id="ipv4-by-address"),
        pytest.param(64, "unknown", "unknown", id="no-address"),
    ],
)
def test_the_address_a_limit_counts(prefix, address, group, settings):
    settings.CHAT_RATE_IPV6_PREFIX = prefix
    assert address_group(address) == group


@pytest.mark.parametrize(
    ("neighbour", "shares_the_limit"),
    [
        pytest.param("2001:db8:1:2:ffff:ffff:ffff:9", True, id="same-64"),
        pytest.param("2001:db8:1:3::1", False, id="next-64"),
    ],
)
async def test_ipv6_neighbours_in_one_64_share_the_message_limit(neighbour, shares_the_limit, widget, no_llm, generous):
    # given: one message a minute per address; a visitor at one address of a /64 used it
    generous.CHAT_RATE_IP_MESSAGES_PER_MINUTE = 1
    first, _ = await open_chat(visitor="visitor-0001", address="2001:db8:1:2::1")
    await ask(first, "how do I reset my password", client_id="c-1")
    await settle(first)
    # when: another visitor at another address
    other, _ = await open_chat(visitor="visitor-0002", address=neighbour)
    await other.send_json_to({"type": "message", "text": "how do I change my email", "client_id": "c-2"})
    frame = await other.receive_json_from(timeout=5)
    # then: refused only when it is in the same /64
    if shares_the_limit:
        assert frame["type"] == "error" and frame["scope"] == "ip_messages"
    else:
        assert frame["type"] == "received"
        await settle(other)
    for chat in (first, other):
        await chat.disconnect()


async def test_ipv6_neighbours_in_one_64_share_the_session_token_limit(widget, generous):
    # given: two session tokens a minute per address
    generous.CHAT_RATE_IP_SESSIONS_PER_MINUTE = 2
    for host in ("1", "2"):
        assert (await session_post(address=f"2001:db8:7:7::{host}")).status_code == 200
    # when / then: a third address of the same /64 is refused, one of the next /64 is not
    assert (await session_post(address="2001:db8:7:7:abcd::3")).status_code == 429
    assert (await session_post(address="2001:db8:7:8::1")).status_code == 200


# --- The token budget ----------------------------------------------------------------------------------------
SHARES = {
    # (who spends, who is then over their share, who still gets the LLM), each (visitor, address)
    "visitor": (("visitor-0001", "192.0.2.1"), ("visitor-0001", "192.0.2.1"), ("visitor-0002", "192.0.2.2")),
    "ip": (("visitor-0001", "192.0.2.1"), ("visitor-0002", "192.0.2.1"), ("visitor-0003", "192.0.2.3")),
}


@pytest.mark.parametrize("who", [pytest.param(who, id=f"{who}-share") for who in SHARES])
async def test_over_their_share_of_the_budget_a_visitor_is_answered_without_the_llm_while_others_are_not(
    who, widget, knowledge, llm, generous
):
    # given: a budget of 1000 tokens a day, of which one visitor (or one address) may spend 5%: 50, less than
    # one answer (the fake model reports 42 prompt tokens + its words)
    await Widget.objects.filter(pk=widget.pk).aupdate(daily_token_budget=1000)
    setattr(generous, f"CHAT_{'VISITOR' if who == 'visitor' else 'ADDRESS'}_BUDGET_SHARE", 0.05)
    spender, over, other = SHARES[who]
    chats = {}
    for visitor, address in {spender, over, other}:
        chats[(visitor, address)], _ = await open_chat(visitor=visitor, address=address)
    _, spent = await ask(chats[spender], "what does E4403 mean", client_id="c-1")
    await settle(chats[spender])
    assert spent["type"] == "answer" and len(llm.requests) >= 1
    calls = len(llm.requests)
    # when: the one over their share asks
    _, notice = await ask(chats[over], "why is my chat connection refused", client_id="c-2")
    answer = await answer_after(chats[over])
    # then: told, in their own words, and answered from the articles; the model not asked; the message kept
    assert notice["code"] == "rate_limited" and notice["scope"] == f"{who}_tokens"
    assert "today" in notice["detail"] and "Talk to a human" in notice["detail"]
    assert answer["type"] == "answer" and answer["escalation_offered"] is True
    assert (await Message.objects.aget(pk=answer["message_id"])).model == OFFLINE_MODEL
    assert len(llm.requests) == calls
    assert await Message.objects.filter(role="visitor", text="why is my chat connection refused").aexists()
    # and someone else, elsewhere, still gets the model's answer
    _, theirs = await ask(chats[other], "how do I get my payment returned after cancelling", client_id="c-3")
    assert theirs["type"] == "answer" and len(llm.requests) > calls
    assert (await Message.objects.aget(pk=theirs["message_id"])).model != OFFLINE_MODEL
    for chat in chats.values():
        await chat.disconnect()


async def test_with_redis_down_the_budget_fails_closed_and_the_message_is_still_answered(
    widget, knowledge, llm, generous, redis_server
):
    # given: the counters on a real Redis, and an answer from the model while it runs
    import redis

    on_redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_server}
    generous.CACHES = {"default": on_redis, "limits": on_redis}
    chat, session = await open_chat()
    _, first = await ask(chat, "what does E4403 mean", client_id="c-1")
    await settle(chat)
    assert first["type"] == "answer" and len(llm.requests) >= 1
    calls = len(llm.requests)
    before = (unchecked_count("budget", "offline"), unchecked_count("messages", "let_through"))
    # when: Redis stops, and the visitor asks again
    redis.Redis.from_url(redis_server).shutdown(nosave=True)
    _, notice = await ask(chat, "why is my chat connection refused", client_id="c-2")
    answer = await answer_after(chat)
    # then: the message was let through the (uncountable) message limits, stored, and answered without the LLM
    assert notice["scope"] == "budget_unavailable" and "help centre articles" in notice["detail"]
    assert answer["type"] == "answer" and answer["text"]
    assert (await Message.objects.aget(pk=answer["message_id"])).model == OFFLINE_MODEL
    assert len(llm.requests) == calls
    texts = [m.text async for m in Message.objects.filter(conversation_id=session["conversation_id"], role="visitor")]
    assert texts == ["what does E4403 mean", "why is my chat connection refused"]
    assert unchecked_count("budget", "offline") == before[0] + 1
    assert unchecked_count("messages", "let_through") == before[1] + 1
    await chat.disconnect()


# --- The in-memory counters ------------------------------------------------------------------------------------
def test_the_in_memory_counters_drop_expired_windows_before_any_live_counter():
    # given: a full counter cache (without Redis), half of it one-minute windows that have run out
    from supportbot.chat.counter_cache import CounterCache

    counters = CounterCache("limits-eviction-test", {"OPTIONS": {"MAX_ENTRIES": 10}})
    counters.clear()
    for n in range(5):
        counters.set(f"budget-{n}", n, timeout=3600)
    for n in range(5):
        counters.set(f"window-{n}", 1, timeout=3600)
        counters._expire_info[counters.make_and_validate_key(f"window-{n}")] = 0  # its window ended long ago
    # when: one more counter arrives
    counters.set("new", 1, timeout=60)
    # then: every live counter is kept, the dead windows made the room
    assert [counters.get(f"budget-{n}") for n in range(5)] == [0, 1, 2, 3, 4]
    assert counters.get("new") == 1
    assert all(counters.get(f"window-{n}") is None for n in range(5))
