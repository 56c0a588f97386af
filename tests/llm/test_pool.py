"""The LLM endpoint pool: routing by region, priority, weight and speed; the circuit breaker (errors, 429,
cool-down, half-open trial); per-endpoint metrics and live state; LLM_ENDPOINTS parsing; `manage.py
llm_endpoints`. The real openai SDK streams over HTTP from local OpenAI-compatible servers."""

from __future__ import annotations

import asyncio
import json
import random
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY

from supportbot import settings as supportbot_settings
from supportbot.env import env_llm_endpoints
from supportbot.llm import Endpoint, LLMError, Usage, chat_stream, pool_reset, pool_status
from supportbot.llm.pool import endpoints_ordered, first_token
from tests.fake_llm import FakeLLM

QUESTION = [{"role": "user", "content": "hello"}]


@pytest.fixture
def pool(settings):
    """Start local servers and make them the pool: pool(a={"region": "eu"}, b={...}) → {"a": FakeLLM, ...}."""
    servers: list[FakeLLM] = []

    def make(**endpoints: dict) -> dict[str, FakeLLM]:
        fakes = {}
        settings.LLM_ENDPOINTS = []
        for name, options in endpoints.items():
            fake = FakeLLM().start()
            fake.reply = f"Answer from {name}."
            servers.append(fake)
            fakes[name] = fake
            settings.LLM_ENDPOINTS.append(
                {"name": name, "base_url": fake.base_url, "api_key": f"key-{name}", **options}
            )
        return fakes

    settings.LLM_MODEL = "fake-model"
    settings.LLM_TIMEOUT_SECONDS = 5.0
    settings.LLM_FIRST_TOKEN_TIMEOUT_SECONDS = 3.0
    settings.LLM_MAX_RETRIES = 0  # a single endpoint would otherwise retry on its own
    settings.LLM_REGION = ""
    settings.LLM_BREAKER_FAILURES = 2
    settings.LLM_COOLDOWN_SECONDS = 0.5
    pool_reset()
    yield make
    pool_reset()
    for server in servers:
        server.stop()


async def reply(usage: Usage | None = None) -> str:
    return "".join([piece async for piece in chat_stream(QUESTION, usage=usage or Usage())])


def status(name: str) -> dict:
    return next(row for row in pool_status() if row["name"] == name)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(("region", "served_by"), [("eu", "a"), ("us", "b")], ids=["prefer-eu", "prefer-us"])
async def test_the_preferred_region_is_tried_first(pool, settings, region, served_by):
    # given: priorities that would pick the other region's endpoint
    fakes = pool(a={"region": "eu", "priority": 1}, b={"region": "us", "priority": 0})
    settings.LLM_REGION = region
    # when
    texts = [await reply() for _ in range(3)]
    # then
    assert texts == [f"Answer from {served_by}."] * 3
    other = "b" if served_by == "a" else "a"
    assert len(fakes[other].requests) == 0
    assert fakes[served_by].requests[0]["auth"] == f"Bearer key-{served_by}"


async def test_a_lower_priority_is_tried_first_and_failure_moves_on_to_the_next(pool):
    # given
    fakes = pool(primary={"priority": 0}, backup={"priority": 1})
    assert await reply() == "Answer from primary."
    fakes["primary"].mode = "error"
    usage = Usage()
    # when
    text = await reply(usage)
    # then
    assert text == "Answer from backup."
    assert [(a["endpoint"], a["outcome"]) for a in usage.extra["attempts"]] == [
        ("primary", "http_5xx"),
        ("backup", "ok"),
    ]
    assert (usage.model, usage.prompt_tokens) == ("fake-model", 42)


def test_equal_endpoints_share_requests_by_weight_and_by_recent_first_token_time():
    # given
    pool_reset()
    heavy, light = Endpoint("heavy", "http://h/v1", "m", weight=3), Endpoint("light", "http://l/v1", "m")
    fast, slow = Endpoint("fast", "http://f/v1", "m", priority=1), Endpoint("slow", "http://s/v1", "m", priority=1)
    rng = random.Random(7)
    # when
    firsts = [endpoints_ordered([heavy, light, fast, slow], rng=rng)[0].name for _ in range(4000)]
    # then: weight 3 against 1 comes first about three times in four; priority 1 never does
    assert abs(firsts.count("heavy") / len(firsts) - 0.75) < 0.03
    assert set(firsts) == {"heavy", "light"}
    # given: "slow" has lately been four times slower to its first token than "fast"
    first_token(fast, 0.1)
    first_token(slow, 0.4)
    # when
    firsts = [endpoints_ordered([fast, slow], rng=rng)[0].name for _ in range(4000)]
    # then: shares 1 : 0.25
    assert abs(firsts.count("fast") / len(firsts) - 0.8) < 0.03
    pool_reset()


async def test_time_to_first_token_is_measured_per_endpoint(pool):
    # given
    fakes = pool(quick={"priority": 0}, sluggish={"priority": 1})
    fakes["sluggish"].first_token_delay = 0.3
    await reply()
    fakes["quick"].mode = "error"
    # when
    await reply()
    # then
    quick, sluggish = status("quick"), status("sluggish")
    assert sluggish["ttft_ema_ms"] >= 300 and quick["ttft_ema_ms"] < sluggish["ttft_ema_ms"]
    assert metric("supportbot_llm_first_token_seconds_count", endpoint="sluggish") >= 1


async def test_errors_open_the_breaker_and_the_endpoint_recovers_after_the_cool_down(pool):
    # given: two failures in a row open the breaker for 0.5 s
    fakes = pool(primary={"priority": 0}, backup={"priority": 1})
    fakes["primary"].mode = "error"
    # when
    assert [await reply() for _ in range(2)] == ["Answer from backup."] * 2
    # then
    cooling = status("primary")
    assert cooling["state"] == "open" and cooling["available"] is False
    assert cooling["errors"] == {"http_5xx": 2} and 0 < cooling["cooldown_remaining_s"] <= 0.5
    assert metric("supportbot_llm_endpoint_available", endpoint="primary") == 0
    # when: while it cools down, it is not asked at all
    asked = len(fakes["primary"].requests)
    assert await reply() == "Answer from backup."
    assert len(fakes["primary"].requests) == asked
    # when: it is healthy again and the cool-down is over, one trial request closes the breaker
    fakes["primary"].mode = "ok"
    await asyncio.sleep(0.6)
    assert status("primary")["state"] == "half_open"
    assert await reply() == "Answer from primary."
    # then
    assert status("primary")["state"] == "closed" and status("primary")["failures_in_a_row"] == 0
    assert metric("supportbot_llm_endpoint_available", endpoint="primary") == 1


async def test_a_failed_half_open_trial_opens_the_breaker_again(pool):
    # given
    fakes = pool(primary={"priority": 0}, backup={"priority": 1})
    fakes["primary"].mode = "error"
    await reply()
    await reply()
    await asyncio.sleep(0.6)
    # when: the one trial fails
    assert await reply() == "Answer from backup."
    # then
    assert status("primary")["state"] == "open" and status("primary")["errors"] == {"http_5xx": 3}


async def test_http_429_cools_the_endpoint_at_once_for_its_retry_after(pool, settings):
    # given: a cool-down shorter than the endpoint's Retry-After (1 s)
    settings.LLM_COOLDOWN_SECONDS = 0.1
    fakes = pool(limited={})
    fakes["limited"].mode = "rate_limited"
    # when
    with pytest.raises(LLMError) as failed:
        await reply()
    # then: one 429 is enough, and Retry-After sets how long
    assert failed.value.code == "llm_error"
    limited = status("limited")
    assert limited["state"] == "open" and limited["errors"] == {"rate_limited": 1}
    assert 0.3 < limited["cooldown_remaining_s"] <= 1.0
    assert metric("supportbot_llm_errors_total", endpoint="limited", kind="rate_limited") >= 1


async def test_all_endpoints_failing_raises_llm_error_and_cooling_ones_are_not_asked(pool):
    # given
    fakes = pool(a={}, b={})
    fakes["a"].mode = fakes["b"].mode = "error"
    # when / then
    for _ in range(2):
        with pytest.raises(LLMError) as failed:
            await reply()
        assert failed.value.code == "llm_error" and "a: http_5xx" in failed.value.detail
    asked = len(fakes["a"].requests) + len(fakes["b"].requests)
    with pytest.raises(LLMError) as cooling:
        await reply()
    assert cooling.value.code == "llm_unavailable" and "cooling down" in cooling.value.detail
    assert len(fakes["a"].requests) + len(fakes["b"].requests) == asked


async def test_a_real_continuation_is_kept_and_a_restart_is_not_repeated(pool):
    # given: "a" dies after three words; "b" continues properly
    fakes = pool(a={"priority": 0}, b={"priority": 1})
    fakes["a"].reply = "one two three four five six."
    fakes["a"].mode, fakes["a"].fail_after = "die", 3
    fakes["b"].reply = lambda messages: "four five six." if messages[-2]["role"] == "assistant" else "wrong"
    # when
    text = await reply()
    # then
    assert text == "one two three four five six."
    continuation = fakes["b"].requests[0]["body"]["messages"]
    assert continuation[:-2] == QUESTION and continuation[-2] == {"role": "assistant", "content": "one two three "}
    assert "Continue it from exactly where it stops" in continuation[-1]["content"]
    # given: this time "b" starts over
    fakes["b"].reply = "one two three four five six."
    # when / then
    assert await reply() == "one two three four five six."


async def test_tokens_and_cost_are_counted_per_endpoint(pool, settings):
    # given: 1000 USD per million prompt tokens, 2000 per million completion tokens
    settings.LLM_PRICES = {"fake-model": (1000.0, 2000.0)}
    pool(priced={})
    before = metric("supportbot_llm_cost_usd_total", endpoint="priced")
    # when
    await reply()
    # then: 42 prompt tokens, 3 completion tokens
    row = status("priced")
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"]) == (1, 42, 3)
    assert row["cost_usd"] == pytest.approx(0.042 + 0.006)
    assert metric("supportbot_llm_cost_usd_total", endpoint="priced") - before == pytest.approx(0.048)
    assert metric("supportbot_llm_tokens_total", endpoint="priced", kind="prompt") >= 42
    assert metric("supportbot_llm_requests_total", endpoint="priced") >= 1


async def test_without_llm_endpoints_the_openai_settings_are_the_pool(settings, fake_llm):
    # given
    settings.LLM_ENDPOINTS = []
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.LLM_MODEL = fake_llm.base_url, "k", "fake-model"
    fake_llm.reply = "Single endpoint."
    pool_reset()
    # when
    text = await reply()
    # then
    assert text == "Single endpoint."
    assert [(row["name"], row["state"], row["requests"]) for row in pool_status()] == [("default", "closed", 1)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("[{", "must be valid JSON", id="bad-json"),
        pytest.param('{"name": "a"}', "JSON list", id="not-a-list"),
        pytest.param('[{"base_url": "http://x"}]', "non-empty string name", id="no-name"),
        pytest.param('[{"name": "a", "base_url": "ftp://x"}]', "base_url", id="bad-url"),
        pytest.param('[{"name": "a", "base_url": "http://x", "wieght": 2}]', "unknown keys", id="typo"),
        pytest.param('[{"name": "a", "base_url": "http://x", "weight": 0}]', "weight", id="zero-weight"),
        pytest.param('[{"name": "a", "base_url": "http://x", "priority": "1"}]', "priority", id="bad-priority"),
        pytest.param('[{"name": "a", "base_url": "http://x", "api_key_env": "NOPE_UNSET"}]', "not set", id="no-key"),
        pytest.param(
            '[{"name": "a", "base_url": "http://x"}, {"name": "a", "base_url": "http://y"}]', "unique", id="dupes"
        ),
    ],
)
def test_bad_llm_endpoints_fail_at_start_up_with_a_clear_message(monkeypatch, value, message):
    monkeypatch.setenv("LLM_ENDPOINTS", value)
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_llm_endpoints("LLM_ENDPOINTS", default_model=supportbot_settings.LLM_MODEL)


def test_llm_endpoints_are_read_with_defaults_and_keys_from_other_variables(monkeypatch):
    # given
    monkeypatch.setenv("EU_KEY", "secret-eu")
    monkeypatch.setenv(
        "LLM_ENDPOINTS",
        json.dumps(
            [
                {"name": "eu", "base_url": "https://eu.example/v1", "api_key_env": "EU_KEY", "region": "eu"},
                {"name": "local", "base_url": "http://127.0.0.1:8080/v1", "model": "llama", "weight": 2, "priority": 1},
            ]
        ),
    )
    # when
    endpoints = env_llm_endpoints("LLM_ENDPOINTS", default_model=supportbot_settings.LLM_MODEL)
    # then
    assert endpoints[0] == {
        "name": "eu",
        "base_url": "https://eu.example/v1",
        "api_key": "secret-eu",
        "model": supportbot_settings.LLM_MODEL,
        "region": "eu",
        "weight": 1.0,
        "priority": 0,
    }
    assert (endpoints[1]["model"], endpoints[1]["weight"], endpoints[1]["priority"]) == ("llama", 2.0, 1)


def test_llm_endpoints_command_probes_every_endpoint_and_prints_the_pool(pool):
    # given
    fakes = pool(up={"region": "eu"}, down={"priority": 1})
    fakes["down"].mode = "error"
    out = StringIO()
    # when
    with pytest.raises(CommandError, match="1 of 2 endpoints failed the probe: down"):
        call_command("llm_endpoints", "--probe", stdout=out)
    # then
    text = out.getvalue()
    assert "up: closed (fake-model, region eu, priority 0, weight 1) requests 1" in text
    assert "probe: ok in" in text and "probe: FAILED: http_5xx" in text
    # when: --json, without probing
    out = StringIO()
    call_command("llm_endpoints", "--json", stdout=out)
    # then
    payload = json.loads(out.getvalue())
    assert [row["name"] for row in payload["endpoints"]] == ["up", "down"] and payload["probes"] == []
    assert payload["endpoints"][1]["errors"] == {"http_5xx": 1}
    assert "api_key" not in payload["endpoints"][0]


@pytest.mark.parametrize(("names", "asked_each"), [(["only"], 2), (["a", "b"], 1)], ids=["single", "pool"])
async def test_the_sdk_retries_only_a_single_endpoint(pool, settings, names, asked_each):
    # given: one SDK retry configured
    settings.LLM_MAX_RETRIES = 1
    fakes = pool(**{name: {} for name in names})
    for fake in fakes.values():
        fake.mode = "error"
    # when
    with pytest.raises(LLMError):
        await reply()
    # then: in a pool, failing over beats retrying the endpoint that just failed
    assert [len(fake.requests) for fake in fakes.values()] == [asked_each] * len(names)
