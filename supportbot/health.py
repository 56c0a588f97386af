"""Readiness checks (GET /readyz) and the figures /metrics refreshes when it is scraped.

Liveness (GET /healthz) needs nothing here: answering at all is the proof.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection

from supportbot.llm import llm_configured, pool_status
from supportbot.metrics import QUEUE_DEPTH

logger = logging.getLogger(__name__)


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _redis_client():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    _redis_client().ping()
    return "ok"


def _llm() -> str:
    """At least one LLM endpoint available, or no LLM at all (the offline answerer always answers)."""
    if not llm_configured():
        return "offline answerer"
    if any(row["available"] for row in pool_status()):
        return "ok"
    raise RuntimeError("no LLM endpoint is available")


CHECKS = {"database": _database, "redis": _redis, "llm": _llm}


def readiness() -> tuple[bool, dict[str, str]]:
    """Run every check; (all passed, {part: "ok" or what failed})."""
    results, ready = {}, True
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 — a readiness check reports failures, it does not raise them
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"failed: {exc}"[:300]
            ready = False
    return ready, results


def queue_depth_refresh() -> None:
    """Tasks waiting in Celery's default queue (a Redis list named after the queue), when Redis is the broker."""
    if not settings.REDIS_URL:
        return
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    try:
        QUEUE_DEPTH.labels(queue=queue).set(_redis_client().llen(queue))
    except Exception as exc:  # noqa: BLE001 — a scrape still shows every other metric
        logger.warning("celery queue depth unavailable: %s", exc)
