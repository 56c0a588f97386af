"""Rate limits and the daily token budget, counted in Django's cache (Redis when REDIS_URL is set, so every
process shares the counts).

Messages per minute and new conversations per hour are each limited per visitor, per client address and per
widget. Counters are fixed windows: one cache key per identity and window, incremented atomically and expiring
with the window. A refused attempt gives its counts back, so a visitor who is refused does not use up the
address's or the widget's allowance. Defaults come from settings; a widget's own value (blank = default, 0 = no
limit) overrides them.

The token budget counts the prompt + completion tokens of a widget's bot answers per UTC day. When the cache
has no count yet (a restart, a new day on a fresh process) it is seeded from the stored messages.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum

from supportbot.chat.models import Message, Widget
from supportbot.metrics import RATE_LIMITED

logger = logging.getLogger(__name__)
_BUDGET_SECONDS = 2 * 24 * 3600  # a day's count outlives its day a little; the key names the day


@dataclass(frozen=True)
class Rule:
    who: str  # "visitor", "ip" or "widget"
    what: str  # "messages" or "conversations"
    window: int  # seconds
    field: str  # the Widget field that overrides settings.CHAT_RATE_<FIELD>

    @property
    def scope(self) -> str:
        return f"{self.who}_{self.what}"


RULES = {
    what: [Rule(who, what, window, f"{who}_{what}_per_{unit}") for who in ("visitor", "ip", "widget")]
    for what, window, unit in (("messages", 60, "minute"), ("conversations", 3600, "hour"))
}
# Each Widget limit field and the setting that holds its default.
LIMIT_SETTINGS = {rule.field: f"CHAT_RATE_{rule.field.upper()}" for rules in RULES.values() for rule in rules} | {
    "daily_token_budget": "CHAT_DAILY_TOKEN_BUDGET"
}

_DETAILS = {
    "visitor_messages": "You are sending messages faster than we can answer. Please wait {wait} and send it again.",
    "ip_messages": "Too many messages are coming from your network. Please wait {wait} and send it again.",
    "widget_messages": "This chat is very busy right now. Please wait {wait} and send your message again.",
    "visitor_conversations": "You have started many conversations in the last hour. Please try again in {wait}.",
    "ip_conversations": "Many conversations were started from your network this hour. Please try again in {wait}.",
    "widget_conversations": "This chat has reached its limit of new conversations for now. Please try again in {wait}.",
    "widget_tokens": (
        "The assistant has used up its answering budget for today, so answers now come straight from the help "
        "centre articles. A human can help: use “Talk to a human”."
    ),
}


@dataclass(frozen=True)
class Refusal:
    scope: str
    retry_after: int

    @property
    def detail(self) -> str:
        return _DETAILS[self.scope].format(wait=_wait_words(self.retry_after))

    def frame(self, **extra) -> dict:
        return {
            "type": "error",
            "code": "rate_limited",
            "scope": self.scope,
            "detail": self.detail,
            "retry_after": self.retry_after,
            **extra,
        }


def _wait_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    return f"{minutes} minutes"


def limit_for(widget: Widget, field: str) -> int:
    """The widget's own limit when set, else the server default; 0 means no limit."""
    own = getattr(widget, field)
    return own if own is not None else getattr(settings, LIMIT_SETTINGS[field])


def client_address(scope: dict) -> str:
    """The peer's address from the ASGI scope; X-Forwarded-For only when the peer is a trusted proxy, then the
    right-most address that is not itself a trusted proxy (the left part of the header is the client's to forge)."""
    client = scope.get("client") or ("", 0)
    peer = str(client[0] or "")
    trusted = _trusted_networks()
    if not trusted or not _in(peer, trusted):
        return peer or "unknown"
    forwarded = ""
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-forwarded-for":
            forwarded = f"{forwarded},{value.decode('latin-1')}" if forwarded else value.decode("latin-1")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _trusted_networks() -> list:
    return [ipaddress.ip_network(item, strict=False) for item in settings.TRUSTED_PROXIES]


def _in(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _fail_open(function):
    """A limit that cannot count (the cache, Redis, is down) lets the visitor through: losing their message to a
    cache outage would be worse than an unthrottled minute. The outage is logged; /readyz reports Redis."""

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:  # noqa: BLE001 — any cache backend's connection error
            logger.warning("rate limits: the cache is unavailable, %s let through", function.__name__, exc_info=True)
            return None

    return guarded


@_fail_open
def hits_take(what: str, *, widget: Widget, visitor_id: str, address: str, now: float | None = None) -> Refusal | None:
    """Count one message or new conversation against every limit that applies; a Refusal when one is exceeded
    (then nothing stays counted)."""
    now = time.time() if now is None else now
    identities = {"visitor": visitor_id, "ip": address, "widget": widget.key}
    taken: list[str] = []
    for rule in RULES[what]:
        limit = limit_for(widget, rule.field)
        if not limit:
            continue
        window_start = int(now // rule.window) * rule.window
        key = _counter_key(rule, f"{widget.pk}|{identities[rule.who]}", window_start)
        taken.append(key)
        if _increment(key, timeout=rule.window + 60) > limit:
            for counted in taken:
                _give_back(counted)
            RATE_LIMITED.labels(scope=rule.scope).inc()
            return Refusal(rule.scope, retry_after=max(1, int(window_start + rule.window - now + 0.999)))
    return None


def _counter_key(rule: Rule, identity: str, window_start: int) -> str:
    # Hashed: visitor ids and addresses are the client's words; keys must stay short and safe for any backend.
    digest = hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()
    return f"sb-rate:{rule.scope}:{digest}:{window_start}"


def _increment(key: str, *, timeout: int, delta: int = 1) -> int:
    # The key names its window and outlives it, so it cannot expire between add and incr while still in use.
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key, delta)
    except ValueError:
        cache.set(key, delta, timeout=timeout)
        return delta


def _give_back(key: str) -> None:
    with contextlib.suppress(ValueError):  # already expired: nothing left to give back
        cache.decr(key)


# --- The daily token budget ---------------------------------------------------------------------------------
def _utc_today(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _budget_key(widget_id: int, day: datetime) -> str:
    return f"sb-tokens:{widget_id}:{day:%Y%m%d}"


def _tokens_stored(widget_id: int, day: datetime) -> int:
    sums = Message.objects.filter(
        conversation__widget_id=widget_id, role=Message.Role.BOT, created_at__gte=day, created_at__lt=day + timedelta(1)
    ).aggregate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    return (sums["prompt"] or 0) + (sums["completion"] or 0)


def tokens_used_today(widget_id: int) -> int:
    day = _utc_today()
    key = _budget_key(widget_id, day)
    used = cache.get(key)
    if used is None:
        cache.add(key, _tokens_stored(widget_id, day), timeout=_BUDGET_SECONDS)
        used = cache.get(key, 0)
    return used


@_fail_open
def tokens_record(*, widget_id: int, tokens: int) -> None:
    """Add a stored answer's tokens to its widget's count for today."""
    if not tokens:
        return
    day = _utc_today()
    key = _budget_key(widget_id, day)
    try:
        cache.incr(key, tokens)
    except ValueError:  # no count yet: the stored messages (this answer included) are the count
        cache.add(key, _tokens_stored(widget_id, day), timeout=_BUDGET_SECONDS)


@_fail_open
def budget_refusal(widget: Widget) -> Refusal | None:
    """A Refusal when the widget has used its daily token budget; it answers without the LLM until midnight UTC."""
    budget = limit_for(widget, "daily_token_budget")
    if not budget or tokens_used_today(widget.pk) < budget:
        return None
    RATE_LIMITED.labels(scope="widget_tokens").inc()
    now = datetime.now(UTC)
    return Refusal("widget_tokens", retry_after=max(1, int((_utc_today(now) + timedelta(1) - now).total_seconds())))
