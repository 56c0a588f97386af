"""Failed console sign-ins, counted per username and client address in Django's cache.

After `LIMIT` failures within `WINDOW_SECONDS` (a window that starts at the first failure) further attempts for
that pair are refused without checking the password. The address is REMOTE_ADDR: a forwarded-for header is
whatever the client says it is.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

LIMIT = 5
WINDOW_SECONDS = 15 * 60


def _key(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()
    return f"console-login-failures:{digest}"


def login_blocked(*, username: str, address: str) -> bool:
    return cache.get(_key(username, address), 0) >= LIMIT


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failure; returns the failures in the current window."""
    key = _key(username, address)
    cache.add(key, 0, timeout=WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS)
        return 1


def login_failures_clear(*, username: str, address: str) -> None:
    cache.delete(_key(username, address))
