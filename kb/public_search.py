"""Knowledge-base search for visitors (GET /api/search): what a visitor could get from the widget, and no more.

It answers a widget (its key, and a page whose origin that widget allows) like the chat does, so the same pages
that may show the chat may search: the demo help centre's search box, or a customer's own. The answer is what a
citation shows: title, section, public link and a short snippet, for at most KB_PUBLIC_SEARCH_MAX_RESULTS chunks,
never a chunk in quarantine (kb.search leaves those out) and never the server path a document was read from.
Requests are counted per client address (IPv6 by its /64) and refused over KB_PUBLIC_SEARCH_PER_MINUTE; when the
counters cannot be reached the search is refused rather than left unmetered. Staff search everything, with
scores, in the console's playground.

An Origin header is the browser's word, not a secret: a script outside a browser can send any. The key and the
origin keep other websites' pages from using the search; the address limit and the result shape are what bound
everyone else.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

import kb
from kb import SearchResult
from kb.search_result import PUBLIC_FIELDS
from supportbot.chat import limits
from supportbot.chat.services import origin_allowed, widget_for_key
from supportbot.client_address import address_group

logger = logging.getLogger(__name__)
SNIPPET_CHARACTERS = 280
_WINDOW_SECONDS = 60


class SearchRefused(Exception):
    def __init__(self, status: int, code: str, detail: str, *, retry_after: int = 0):
        super().__init__(detail)
        self.status, self.code, self.detail, self.retry_after = status, code, detail, retry_after


@dataclass(frozen=True)
class PublicResult:
    title: str
    heading: str
    url: str
    snippet: str

    @classmethod
    def of(cls, result: SearchResult) -> PublicResult:
        # A deliberate projection of the one serialiser of a search result: what a citation shows, and no more.
        shown = result.as_dict(PUBLIC_FIELDS)
        return cls(shown["title"], shown["heading"], shown["url"], _snippet(shown["text"]))


def search_public(*, query: str, k: int, widget_key: str, origin: str, host: str, address: str) -> list[PublicResult]:
    """Up to `k` (capped) results for a widget's page; SearchRefused when the widget, page or rate says no."""
    widget = widget_for_key(widget_key) if widget_key else None
    if widget is None:
        raise SearchRefused(403, "unknown_widget", "send the key of a widget (key=WIDGET_KEY)")
    if not origin_allowed(widget, origin=origin, host=host):
        raise SearchRefused(403, "origin_not_allowed", "this website may not use this widget")
    _rate_take(address)
    k = min(max(k, 1), settings.KB_PUBLIC_SEARCH_MAX_RESULTS)
    return [PublicResult.of(result) for result in kb.search(query, k=k)]


def _rate_take(address: str, now: float | None = None) -> None:
    limit = settings.KB_PUBLIC_SEARCH_PER_MINUTE
    if not limit:
        return
    now = time.time() if now is None else now
    window_start = int(now // _WINDOW_SECONDS) * _WINDOW_SECONDS
    group = hashlib.blake2b(address_group(address).encode(), digest_size=12).hexdigest()
    key = f"sb-rate:ip_searches:{group}:{window_start}"
    try:
        counters = caches[limits.LIMITS_CACHE]
        counters.add(key, 0, timeout=_WINDOW_SECONDS + 60)
        try:
            count = counters.incr(key)
        except ValueError:  # expired between add and incr
            counters.set(key, count := 1, timeout=_WINDOW_SECONDS + 60)
    except Exception as exc:  # noqa: BLE001 — any cache backend's connection error
        # Unlike a chat message, a search is not the visitor's words to lose: refused, so it is never unmetered.
        logger.warning("public search: the rate-limit cache is unavailable, search refused", exc_info=True)
        raise SearchRefused(503, "search_unavailable", "search is unavailable for a moment", retry_after=30) from exc
    if count > limit:
        retry_after = max(1, int(window_start + _WINDOW_SECONDS - now + 0.999))
        raise SearchRefused(429, "rate_limited", "too many searches from your network", retry_after=retry_after)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARACTERS else flat[: SNIPPET_CHARACTERS - 1].rsplit(" ", 1)[0] + "…"
