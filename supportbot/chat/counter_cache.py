"""The in-memory cache that holds rate-limit and token-budget counters when there is no Redis.

Django's LocMemCache, when full, drops a third of its entries, least recently used first, whether they have
expired or not: a visitor's budget counter untouched for an hour could go while thousands of dead one-minute
windows stay, and a dropped counter is a limit reset. This one first drops what has expired (every counter key
names its window and expires after it), and only when the live counters alone fill it falls back to LocMemCache's
eviction; its size (CHAT_LIMITS_CACHE_MAX_ENTRIES) is set so that this does not happen.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.locmem import LocMemCache

logger = logging.getLogger(__name__)


class CounterCache(LocMemCache):
    def _cull(self) -> None:
        # Called with the cache's lock held, only when it is full: a scan of every key is rare.
        now = time.time()
        expired = [key for key, expiry in self._expire_info.items() if expiry is not None and expiry <= now]
        for key in expired:
            self._delete(key)
        if len(self._cache) >= self._max_entries:
            logger.warning("rate limits: %s live counters fill the cache; the least recently used go", len(self._cache))
            super()._cull()
