"""Prometheus metrics, defined in one place so every module counts into the same names.

Each process (ASGI server, Celery worker) keeps its own registry and serves it at /metrics; Prometheus scrapes
every process and sums. Label values are bounded (endpoint names from settings, fixed kinds), never visitor data.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter("supportbot_http_requests_total", "HTTP requests served", ["method", "status"])
WEBSOCKET_CONNECTIONS = Counter("supportbot_websocket_connections_total", "Websocket connections", ["route", "outcome"])
WEBSOCKETS_OPEN = Gauge("supportbot_websockets_open", "Websockets open now", ["route"])
CHAT_MESSAGES = Counter("supportbot_chat_messages_total", "Chat messages stored", ["role"])
ANSWER_SECONDS = Histogram(
    "supportbot_answer_seconds", "Time from a stored question to its stored answer", ["path"], buckets=_LATENCY_BUCKETS
)
ANSWER_FIRST_TOKEN_SECONDS = Histogram(
    "supportbot_answer_first_token_seconds",
    "Time from a stored question to its first released text",
    buckets=_LATENCY_BUCKETS,
)
LLM_REQUESTS = Counter("supportbot_llm_requests_total", "LLM requests", ["endpoint"])
LLM_ERRORS = Counter("supportbot_llm_errors_total", "LLM request failures", ["endpoint", "kind"])
LLM_FIRST_TOKEN_SECONDS = Histogram(
    "supportbot_llm_first_token_seconds", "LLM time to first token", ["endpoint"], buckets=_LATENCY_BUCKETS
)
LLM_TOKENS = Counter("supportbot_llm_tokens_total", "LLM tokens", ["endpoint", "kind"])
LLM_COST = Counter("supportbot_llm_cost_usd_total", "LLM cost in USD (from LLM_PRICES)", ["endpoint"])
LLM_ENDPOINT_AVAILABLE = Gauge(
    "supportbot_llm_endpoint_available", "1 unless the endpoint is cooling down", ["endpoint"]
)
GUARD_TRIPS = Counter("supportbot_guard_trips_total", "Guard interventions", ["guard", "action"])
CACHE_LOOKUPS = Counter("supportbot_semantic_cache_lookups_total", "Semantic cache lookups", ["outcome"])
RATE_LIMITED = Counter("supportbot_rate_limited_total", "Requests refused by a rate limit or budget", ["scope"])
# Limits the cache could not check (Redis down): messages let through, the token budget answered offline.
LIMITS_UNCHECKED = Counter(
    "supportbot_limits_unchecked_total", "Limit checks the cache could not answer", ["limit", "outcome"]
)
QUEUE_DEPTH = Gauge("supportbot_celery_queue_depth", "Tasks waiting in the Celery queue", ["queue"])
