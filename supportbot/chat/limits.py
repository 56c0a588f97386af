"""Rate limits and the daily token budget, counted in Django's cache alias "limits" (Redis when REDIS_URL is set,
so every process shares the counts).

Messages per minute and new conversations per hour are each limited per visitor, per client address and per
widget. Counters are fixed windows: one cache key per identity and window, incremented atomically and expiring
with the window. A refused attempt gives its counts back, so a visitor who is refused does not use up the
address's or the widget's allowance. Defaults come from settings; a widget's own value (blank = default, 0 = no
limit) overrides them.

Session tokens (POST /api/widget/session) are limited per address and per widget: every new visitor id costs a
token request, so a client rotating ids to dodge the per-visitor limits runs into the per-address one. Per-address
limits count an IPv4 client by its address and an IPv6 client by its /CHAT_RATE_IPV6_PREFIX network (/64), which
one subscriber usually holds whole.

The token budget counts the prompt + completion tokens of a widget's bot answers per UTC day, and of each visitor
and each address group, which may spend only a share of it (CHAT_VISITOR_BUDGET_SHARE, CHAT_ADDRESS_BUDGET_SHARE).
When the cache has no count yet (a restart, a new day on a fresh process) the widget's and the visitor's are
seeded from the stored messages; an address's starts again from zero (addresses are not stored).

The counters live in their own cache (CACHES["limits"]: Redis, or process memory that never evicts a live
counter). When it cannot be reached the message and conversation limits fail open (a visitor's message is never
lost to a cache outage) and the budget fails closed (answers come without the LLM): both are logged and counted
in supportbot_limits_unchecked_total.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.db.models import Sum

from supportbot.chat.models import Message, Widget
from supportbot.client_address import address_group
from supportbot.metrics import LIMITS_UNCHECKED, RATE_LIMITED

logger = logging.getLogger(__name__)
_BUDGET_SECONDS = 2 * 24 * 3600  # a day's count outlives its day a little; the key names the day
_UNCHECKED_RETRY_SECONDS = 60  # the budget could not be read: answers without the LLM, look again in a minute
LIMITS_CACHE = "limits"


@dataclass(frozen=True)
class Rule:
    who: str  # "visitor", "ip" or "widget"
    what: str  # "messages", "conversations" or "sessions"
    window: int  # seconds
    field: str  # settings.CHAT_RATE_<FIELD>, and the Widget field that overrides it when the widget has one

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
# Session-token requests carry no visitor worth counting (a new one is issued to anybody); server settings only.
RULES["sessions"] = [Rule(who, "sessions", 60, f"{who}_sessions_per_minute") for who in ("ip", "widget")]
SESSION_LIMIT_SETTINGS = {rule.field: f"CHAT_RATE_{rule.field.upper()}" for rule in RULES["sessions"]}

_DETAILS = {
    "visitor_messages": "You are sending messages faster than we can answer. Please wait {wait} and send it again.",
    "ip_messages": "Too many messages are coming from your network. Please wait {wait} and send it again.",
    "widget_messages": "This chat is very busy right now. Please wait {wait} and send your message again.",
    "visitor_conversations": "You have started many conversations in the last hour. Please try again in {wait}.",
    "ip_conversations": "Many conversations were started from your network this hour. Please try again in {wait}.",
    "widget_conversations": "This chat has reached its limit of new conversations for now. Please try again in {wait}.",
    "ip_sessions": "Many chats were opened from your network in the last minute. Please try again in {wait}.",
    "widget_sessions": "This chat is very busy right now. Please try again in {wait}.",
    "widget_tokens": (
        "The assistant has used up its answering budget for today, so answers now come straight from the help "
        "centre articles. A human can help: use “Talk to a human”."
    ),
    "visitor_tokens": (
        "You have asked a lot of questions today, so your answers now come straight from the help centre articles. "
        "A human can help: use “Talk to a human”."
    ),
    "ip_tokens": (
        "Many questions came from your network today, so answers now come straight from the help centre articles. "
        "A human can help: use “Talk to a human”."
    ),
    "budget_unavailable": (
        "For a moment, answers come straight from the help centre articles. A human can help: use “Talk to a human”."
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
    own = getattr(widget, field) if field in LIMIT_SETTINGS else None
    return own if own is not None else getattr(settings, LIMIT_SETTINGS.get(field) or SESSION_LIMIT_SETTINGS[field])


def _counters() -> BaseCache:
    # Looked up on every use: tests (and settings changes) replace the cache configuration.
    return caches[LIMITS_CACHE]


def _unchecked(limit: str, outcome: str) -> None:
    # Any cache backend's connection error lands here; /readyz reports Redis. Logged with the traceback once per
    # check, which is loud during an outage by design.
    logger.warning("rate limits: the cache is unavailable, %s %s", limit, outcome.replace("_", " "), exc_info=True)
    LIMITS_UNCHECKED.labels(limit=limit, outcome=outcome).inc()


def hits_take(what: str, *, widget: Widget, visitor_id: str, address: str, now: float | None = None) -> Refusal | None:
    """Count one message, new conversation or session token against every limit that applies; a Refusal when one
    is exceeded (then nothing stays counted). Fails open: a limit that cannot count lets the visitor through, as
    losing their message to a cache outage would be worse than an unthrottled minute."""
    try:
        return _hits_take(what, widget=widget, visitor_id=visitor_id, address=address, now=now)
    except Exception:  # noqa: BLE001 — any cache backend's connection error
        _unchecked(what, "let_through")
        return None


def _hits_take(what: str, *, widget: Widget, visitor_id: str, address: str, now: float | None) -> Refusal | None:
    now = time.time() if now is None else now
    identities = {"visitor": visitor_id, "ip": address_group(address), "widget": widget.key}
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


def session_take(*, widget: Widget, address: str) -> Refusal | None:
    """Count one session-token request (POST /api/widget/session) from this address for this widget."""
    return hits_take("sessions", widget=widget, visitor_id="", address=address)


def _counter_key(rule: Rule, identity: str, window_start: int) -> str:
    return f"sb-rate:{rule.scope}:{_digest(identity)}:{window_start}"


def _digest(identity: str) -> str:
    # Hashed: visitor ids and addresses are the client's words; keys must stay short and safe for any backend.
    return hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()


def _increment(key: str, *, timeout: int, delta: int = 1) -> int:
    # The key names its window and outlives it, so it cannot expire between add and incr while still in use.
    counters = _counters()
    counters.add(key, 0, timeout=timeout)
    try:
        return counters.incr(key, delta)
    except ValueError:
        counters.set(key, delta, timeout=timeout)
        return delta


def _give_back(key: str) -> None:
    with contextlib.suppress(ValueError):  # already expired: nothing left to give back
        _counters().decr(key)


# --- The daily token budget ---------------------------------------------------------------------------------
def _utc_today(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _budget_key(widget_id: int, day: datetime, who: str = "", identity: str = "") -> str:
    if not who:
        return f"sb-tokens:{widget_id}:{day:%Y%m%d}"
    return f"sb-tokens:{widget_id}:{who}:{_digest(identity)}:{day:%Y%m%d}"


def _tokens_stored(widget_id: int, day: datetime, *, visitor_id: str = "") -> int:
    answers = Message.objects.filter(
        conversation__widget_id=widget_id, role=Message.Role.BOT, created_at__gte=day, created_at__lt=day + timedelta(1)
    )
    if visitor_id:
        answers = answers.filter(conversation__visitor_id=visitor_id)
    sums = answers.aggregate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    return (sums["prompt"] or 0) + (sums["completion"] or 0)


@dataclass(frozen=True)
class _BudgetCount:
    scope: str  # the Refusal's scope when it is spent
    key: str
    share: float  # of the widget's budget
    seed: Callable[[], int]  # the count when the cache has none


def _budget_counts(widget_id: int, *, visitor_id: str, address: str, day: datetime) -> list[_BudgetCount]:
    """The widget's count, then the visitor's and the address group's when they have a share of their own."""
    counts = [_BudgetCount("widget_tokens", _budget_key(widget_id, day), 1.0, lambda: _tokens_stored(widget_id, day))]
    if visitor_id and settings.CHAT_VISITOR_BUDGET_SHARE < 1:
        key = _budget_key(widget_id, day, "visitor", visitor_id)
        seed = functools.partial(_tokens_stored, widget_id, day, visitor_id=visitor_id)
        counts.append(_BudgetCount("visitor_tokens", key, settings.CHAT_VISITOR_BUDGET_SHARE, seed))
    if address and settings.CHAT_ADDRESS_BUDGET_SHARE < 1:
        key = _budget_key(widget_id, day, "ip", address_group(address))
        counts.append(_BudgetCount("ip_tokens", key, settings.CHAT_ADDRESS_BUDGET_SHARE, lambda: 0))
    return counts


def _count_read(count: _BudgetCount) -> int:
    counters = _counters()
    used = counters.get(count.key)
    if used is None:
        counters.add(count.key, count.seed(), timeout=_BUDGET_SECONDS)
        used = counters.get(count.key, 0)
    return used


def tokens_used_today(widget_id: int) -> int:
    """Tokens the widget's answers used today."""
    return _count_read(_budget_counts(widget_id, visitor_id="", address="", day=_utc_today())[0])


def tokens_record(*, widget_id: int, tokens: int, visitor_id: str, address: str) -> None:
    """Add a stored answer's tokens to today's counts of its widget, visitor and address group."""
    if not tokens:
        return
    try:
        for count in _budget_counts(widget_id, visitor_id=visitor_id, address=address, day=_utc_today()):
            try:
                _counters().incr(count.key, tokens)
            except ValueError:  # no count yet: the stored messages (this answer included) are the count
                _counters().add(count.key, count.seed() or tokens, timeout=_BUDGET_SECONDS)
    except Exception:  # noqa: BLE001 — the budget is checked closed, so an uncounted answer cannot run it over
        _unchecked("tokens", "not_counted")


def budget_refusal(widget: Widget, *, visitor_id: str, address: str) -> Refusal | None:
    """A Refusal when the widget has used its daily token budget, or this visitor or address group its share of
    it: the answer then comes without the LLM, until midnight UTC. Fails closed: when the counts cannot be read
    (the cache is down) the answer comes without the LLM too, since an unchecked budget is an unlimited one."""
    budget = limit_for(widget, "daily_token_budget")
    if not budget:
        return None
    now = datetime.now(UTC)
    try:
        counts = _budget_counts(widget.pk, visitor_id=visitor_id, address=address, day=_utc_today(now))
        spent = next((c for c in counts if _count_read(c) >= max(1, int(budget * c.share))), None)
    except Exception:  # noqa: BLE001 — any cache backend's connection error
        _unchecked("budget", "offline")
        return Refusal("budget_unavailable", retry_after=_UNCHECKED_RETRY_SECONDS)
    if spent is None:
        return None
    RATE_LIMITED.labels(scope=spent.scope).inc()
    return Refusal(spent.scope, retry_after=max(1, int((_utc_today(now) + timedelta(1) - now).total_seconds())))
