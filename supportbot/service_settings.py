"""The shapes of Django's DATABASES, CHANNEL_LAYERS, CACHES and Content-Security-Policy settings, built from
values supportbot/settings.py reads from the environment (every environment variable is read there, and only
there)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from supportbot.embedded_postgres import embedded_database

# Templates load scripts and styles from static files only (no inline <script>, <style>, on*= or style=), so a
# script or handler injected into a page never runs. connect-src 'self' also covers the console's ws:/wss: socket
# to the same host (CSP Level 3; tests/test_csp_browser.py checks it in chromium). Pages are never framed. The
# Django admin needs no exception (same test).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}


def database_settings(
    *, url: str, data_dir: Path, ef_search: int, pool_max_size: int, pool_timeout_seconds: float
) -> dict:
    """DATABASES: `url`'s Postgres, or (no url) the embedded server, started or joined here.

    Connections come from a pool (psycopg_pool, Django's "pool" option) instead of living as long as a thread:
    under ASGI every HTTP request runs in a thread of its own, so persistent per-thread connections piled up until
    Postgres refused new clients (200 widgets asking for session tokens at once did it). The pool bounds a
    process's connections and makes taking one cheap. With a pool, CONN_HEALTH_CHECKS checks each connection
    before handing it out, so a connection the server dropped (a Postgres restart) is never used. ef_search is
    set per connection so every query (and the single-round-trip hybrid search) uses it without a SET first.
    """
    default = dj_database_url.parse(url) if url else embedded_database(data_dir)
    default.update({"CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True})
    default.setdefault("OPTIONS", {}).update(
        {
            "options": f"-c hnsw.ef_search={ef_search} -c hnsw.iterative_scan=relaxed_order",
            "pool": {"min_size": 2, "max_size": pool_max_size, "timeout": pool_timeout_seconds},
        }
    )
    return {"default": default}


def channel_layers(redis_url: str) -> dict:
    if redis_url:
        # channels-redis, waiting out a Redis restart instead of closing every websocket (supportbot/channel_layer.py).
        layer = {"BACKEND": "supportbot.channel_layer.ReconnectingRedisChannelLayer", "CONFIG": {"hosts": [redis_url]}}
        return {"default": layer}
    return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def caches(redis_url: str, *, limits_max_entries: int) -> dict:
    """The default cache (sign-in failures, shared through Redis when there is one) and the limits' counters.

    The counters have a cache of their own, so nothing else evicts them: on Redis with short timeouts (a dead Redis
    costs a second, not a hang), else process memory that only drops expired counters until it holds
    `limits_max_entries` live ones (supportbot/chat/counter_cache.py). The database cache was not chosen: its
    incr is not atomic.
    """
    if redis_url:
        redis = "django.core.cache.backends.redis.RedisCache"
        return {
            "default": {"BACKEND": redis, "LOCATION": redis_url},
            "limits": {
                "BACKEND": redis,
                "LOCATION": redis_url,
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            },
        }
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "limits": {
            "BACKEND": "supportbot.chat.counter_cache.CounterCache",
            "LOCATION": "supportbot-limits",
            "OPTIONS": {"MAX_ENTRIES": limits_max_entries},
        },
    }
