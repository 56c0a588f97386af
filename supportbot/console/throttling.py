"""Sign-in throttling for staff: the console's sign-in and the Django admin's, one mechanism for both.

Two counters of failed sign-ins, each over a window that starts at its first failure:

- per username *and* client address (SIGNIN_FAILURES_PER_ACCOUNT, default 5): guessing one account's password
  from one place stops there, while the account's owner, signing in from anywhere else, is not locked out. A
  per-username lock for everyone would let any stranger lock any agent out by typing wrong passwords on purpose.
- per client address (SIGNIN_FAILURES_PER_ADDRESS, default 50, looser): one place spraying many usernames.
  An IPv6 client counts by its /CHAT_RATE_IPV6_PREFIX network, since it may pick any address inside its /64.

The client address is supportbot.client_address.request_address: the peer, or behind a proxy listed in
TRUSTED_PROXIES the address that proxy forwarded. Without TRUSTED_PROXIES behind a proxy every client shares the
proxy's address, so the per-address limit would refuse everyone at once: set it (docs/security.md).

Why this and not django-axes: our own ~100 lines already counted the console's failures in the cache, and
django-axes would add its own models, middleware, backend and a per-username lockout mode to configure away;
wrapping the admin's sign-in form in the same counting was the smaller and clearer change.

The counters live in the "limits" cache (Redis when configured, so every web process shares them; otherwise
process memory that never evicts a live counter to make room). When that cache cannot be reached the attempt is
allowed and logged: the password is still checked, and a cache outage must not lock every agent out.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest

from supportbot.client_address import address_group, request_address

logger = logging.getLogger(__name__)
# The refusal message says "15 minutes" (and is translated so): keep the two together.
WINDOW_SECONDS = 15 * 60


def _counters():
    return caches["limits"]


def _key(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return f"signin-failures:{kind}:{digest}"


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    """(counter key, limit) of each counter an attempt for `username` from `address` is held to."""
    group = address_group(address)
    return [
        (_key("account", username.strip().lower(), group), settings.SIGNIN_FAILURES_PER_ACCOUNT),
        (_key("address", group), settings.SIGNIN_FAILURES_PER_ADDRESS),
    ]


def signin_address(request: HttpRequest | None) -> str:
    """The address sign-in attempts are counted under (see the module docstring)."""
    return request_address(request) if request is not None else "unknown"


def login_blocked(*, username: str, address: str) -> bool:
    """True when either counter for this attempt is at its limit: refuse without checking the password."""
    try:
        counts = _counters().get_many([key for key, _ in _keys(username, address)])
    except Exception:  # noqa: BLE001 — any cache failure: see the module docstring
        logger.warning("sign-in throttling: failure counters unreadable, attempt allowed", exc_info=True)
        return False
    return any(limit and counts.get(key, 0) >= limit for key, limit in _keys(username, address))


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failure on both counters; returns the failures of this username from this address."""
    counts = [_increment(key) for key, _ in _keys(username, address)]
    return counts[0]


def _increment(key: str) -> int:
    counters, window = _counters(), WINDOW_SECONDS
    try:
        counters.add(key, 0, timeout=window)
        try:
            return counters.incr(key)
        except ValueError:  # expired between add and incr
            counters.set(key, 1, timeout=window)
            return 1
    except Exception:  # noqa: BLE001 — any cache failure: see the module docstring
        logger.warning("sign-in throttling: failure not counted", exc_info=True)
        return 0


def login_failures_clear(*, username: str, address: str) -> None:
    """After a successful sign-in: forget this account's failures from this address. The per-address count stays,
    so one valid account cannot be used to reset a password-spraying run from the same place."""
    key, _ = _keys(username, address)[0]
    try:
        _counters().delete(key)
    except Exception:  # noqa: BLE001 — a stale counter only expires later
        logger.warning("sign-in throttling: failures not cleared", exc_info=True)
