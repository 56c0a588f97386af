"""The pool's live state and routing: which endpoint to try first, and which to leave alone for a while.

Order: endpoints in the preferred region (LLM_REGION) first, then by priority (lower first); among equals a
weighted random choice, where an endpoint's share is its configured weight scaled by how fast its first
token has been lately (a moving average), so a slow endpoint gets less traffic without being starved of it.

Each endpoint has a circuit breaker: LLM_BREAKER_FAILURES failures in a row (or one HTTP 429) open it for
LLM_COOLDOWN_SECONDS (longer if the endpoint's Retry-After asks for more); then one trial request is let
through (half-open); its success closes the breaker, its failure opens it again.

The state is per process, like the Prometheus registry it feeds; a lock guards it because answers are
produced on more than one event loop thread.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from supportbot import metrics
from supportbot.llm.endpoints import Endpoint, endpoints_configured
from supportbot.llm.usage import usage_cost

# Weight of the newest time-to-first-token in its moving average: recent enough to follow a slowdown in a
# few requests, smooth enough that one slow answer does not swing the routing.
EMA_ALPHA = 0.3


@dataclass
class EndpointHealth:
    failures_in_a_row: int = 0
    open_until: float = 0.0  # time.monotonic(); 0 while the breaker is closed
    trial_in_flight: bool = False
    ttft_ema: float | None = None
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    last_error: str = ""

    def state(self, now: float) -> str:
        if not self.open_until:
            return "closed"
        return "open" if now < self.open_until else "half_open"


_lock = threading.Lock()
_health: dict[Endpoint, EndpointHealth] = {}
_rng = random.Random()


def _get(endpoint: Endpoint) -> EndpointHealth:
    # Callers hold _lock.
    return _health.setdefault(endpoint, EndpointHealth())


def endpoints_ordered(
    endpoints: list[Endpoint], *, region: str = "", rng: random.Random | None = None
) -> list[Endpoint]:
    """The order to try `endpoints` in for one request (cooling endpoints included: attempt_start skips them)."""
    rank = _rank(region)
    groups = itertools.groupby(sorted(endpoints, key=rank), key=rank)
    return [endpoint for _, group in groups for endpoint in _weighted_shuffle(list(group), rng or _rng)]


def _rank(region: str) -> Callable[[Endpoint], tuple[bool, int]]:
    return lambda endpoint: (bool(region) and endpoint.region != region, endpoint.priority)


def _weighted_shuffle(group: list[Endpoint], rng: random.Random) -> list[Endpoint]:
    """Weighted random order (Efraimidis–Spirakis keys); an endpoint not measured yet counts as the fastest."""
    with _lock:
        emas = [_get(endpoint).ttft_ema for endpoint in group]
    fastest = min((ema for ema in emas if ema), default=1.0)
    shares = [endpoint.weight * fastest / (ema or fastest) for endpoint, ema in zip(group, emas, strict=True)]
    keys = [rng.random() ** (1.0 / share) for share in shares]
    return [endpoint for _, endpoint in sorted(zip(keys, group, strict=True), key=lambda pair: -pair[0])]


def attempt_start(endpoint: Endpoint, *, force: bool = False) -> bool:
    """Claim an attempt on `endpoint`; False while it cools down (or its one half-open trial is running)."""
    with _lock:
        health = _get(endpoint)
        state = health.state(time.monotonic())
        if not force and (state == "open" or (state == "half_open" and health.trial_in_flight)):
            return False
        health.trial_in_flight = state == "half_open"
        health.requests += 1
    metrics.LLM_REQUESTS.labels(endpoint.name).inc()
    return True


def first_token(endpoint: Endpoint, seconds: float) -> None:
    with _lock:
        health = _get(endpoint)
        previous = health.ttft_ema
        health.ttft_ema = seconds if previous is None else EMA_ALPHA * seconds + (1 - EMA_ALPHA) * previous
    metrics.LLM_FIRST_TOKEN_SECONDS.labels(endpoint.name).observe(seconds)


def attempt_succeeded(endpoint: Endpoint, *, prompt_tokens: int | None, completion_tokens: int | None) -> None:
    """The endpoint answered (or was answering well when the caller stopped reading): close its breaker."""
    cost = usage_cost(model=endpoint.model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    with _lock:
        health = _get(endpoint)
        health.failures_in_a_row, health.open_until, health.trial_in_flight = 0, 0.0, False
        health.prompt_tokens += prompt_tokens or 0
        health.completion_tokens += completion_tokens or 0
        health.cost_usd += cost
    metrics.LLM_TOKENS.labels(endpoint.name, "prompt").inc(prompt_tokens or 0)
    metrics.LLM_TOKENS.labels(endpoint.name, "completion").inc(completion_tokens or 0)
    metrics.LLM_COST.labels(endpoint.name).inc(cost)
    metrics.LLM_ENDPOINT_AVAILABLE.labels(endpoint.name).set(1)


def attempt_failed(endpoint: Endpoint, *, kind: str, detail: str, retry_after: float | None = None) -> None:
    """Count the failure; open the breaker after too many in a row, at once on a 429 or a failed trial."""
    now = time.monotonic()
    with _lock:
        health = _get(endpoint)
        health.failures_in_a_row += 1
        health.errors[kind] = health.errors.get(kind, 0) + 1
        health.last_error = f"{kind}: {detail}"
        trips = kind == "rate_limited" or health.trial_in_flight
        if trips or health.failures_in_a_row >= settings.LLM_BREAKER_FAILURES:
            health.open_until = now + max(settings.LLM_COOLDOWN_SECONDS, retry_after or 0.0)
        health.trial_in_flight = False
        available = health.state(now) != "open"
    metrics.LLM_ERRORS.labels(endpoint.name, kind).inc()
    metrics.LLM_ENDPOINT_AVAILABLE.labels(endpoint.name).set(int(available))


def attempt_abandoned(endpoint: Endpoint) -> None:
    """The caller went away before the endpoint showed whether it works: free a half-open trial."""
    with _lock:
        _get(endpoint).trial_in_flight = False


def pool_status() -> list[dict]:
    """The live state of every configured endpoint, for /readyz, `manage.py llm_endpoints` and operators.

    No keys or URLs: this may be shown on a status endpoint.
    """
    now = time.monotonic()
    rows = []
    for endpoint in endpoints_configured():
        with _lock:
            health = _get(endpoint)
            state = health.state(now)
            row = {
                "name": endpoint.name,
                "model": endpoint.model,
                "region": endpoint.region,
                "priority": endpoint.priority,
                "weight": endpoint.weight,
                "state": state,
                "available": state != "open",
                "cooldown_remaining_s": round(max(health.open_until - now, 0.0), 1) if state == "open" else 0.0,
                "failures_in_a_row": health.failures_in_a_row,
                "ttft_ema_ms": None if health.ttft_ema is None else round(health.ttft_ema * 1000, 1),
                "requests": health.requests,
                "errors": dict(health.errors),
                "prompt_tokens": health.prompt_tokens,
                "completion_tokens": health.completion_tokens,
                "cost_usd": round(health.cost_usd, 6),
                "last_error": health.last_error,
            }
        metrics.LLM_ENDPOINT_AVAILABLE.labels(endpoint.name).set(int(row["available"]))
        rows.append(row)
    return rows


def pool_reset() -> None:
    """Forget all live state (tests; an operator's restart does the same)."""
    with _lock:
        _health.clear()
