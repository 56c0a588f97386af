"""The numbers behind the analytics charts, over a period of whole days (UTC): conversations per day, how many
were resolved without a human, escalations and their reasons, thumbs-up ratio (feedback's analytics), confidence
distribution, CSAT and confirmed vs assumed resolutions (supportbot/console/resolutions.py), answer latency
p50/p95, guard trips by validator, semantic-cache hits, LLM tokens and their cost.

Every series covers every day of the period (zeros included), so a chart always has something to draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Sum
from django.db.models.functions import Cast, Floor, Least, TruncDate

from feedback.csat import csat_summary
from feedback.rating_trends import rating_trends
from supportbot.chat.models import Conversation, Message
from supportbot.console.resolutions import human_involved, resolution_counts
from supportbot.llm import llm_configured, usage_cost

DEFAULT_DAYS = 14
MAX_DAYS = 366
CONFIDENCE_BINS = 10
TRIPPED = ("fail", "fixed", "error")


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive

    @classmethod
    def parse(cls, *, since: str = "", until: str = "", today: date | None = None) -> Period:
        """From the page's date fields; missing or unreadable dates fall back to the last DEFAULT_DAYS days."""
        today = today or datetime.now(UTC).date()
        last = _date(until) or today
        first = _date(since) or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            first, last = last, first
        return cls(max(first, last - timedelta(days=MAX_DAYS - 1)), last)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value and value.strip() else None
    except ValueError:
        return None


def console_charts(period: Period) -> dict:
    """Everything the analytics page draws, as JSON-ready values."""
    answers = Message.objects.filter(role=Message.Role.BOT, created_at__gte=period.start, created_at__lt=period.end)
    answers = answers.exclude(text="")
    feedback = rating_trends(since=period.start, until=period.end)
    return {
        "days": [day.isoformat() for day in period.days],
        "conversations": _conversations(period),
        "reasons": _escalation_reasons(period),
        "thumbs": _thumbs(period, feedback),
        # CSAT next to thumbs, and resolutions confirmed by the visitor vs assumed (issue #15)
        "csat": csat_summary(since=period.start, until=period.end),
        "resolutions": resolution_counts(conversations=_started(period)),
        "confidence": _confidence_histogram(answers),
        "latency": _latency(period),
        "guards": _guard_trips(period),
        "cache": _cache_hits(period, answers),
        "tokens": _tokens(period, answers),
    }


def _per_day(period: Period, rows, *fields: str) -> dict[str, list]:
    by_day = {row["day"]: row for row in rows}
    return {name: [by_day.get(day, {}).get(name) or 0 for day in period.days] for name in fields}


def _started(period: Period):
    asked = Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.VISITOR)
    return Conversation.objects.filter(created_at__gte=period.start, created_at__lt=period.end).filter(Exists(asked))


def _conversations(period: Period) -> dict:
    """Conversations in which the visitor said something, by the day they started; deflected = no human."""
    rows = (
        _started(period)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Count("pk"), escalated=Count("pk", filter=human_involved()))
        .order_by("day")
    )
    series = _per_day(period, rows, "total", "escalated")
    totals = [sum(series["total"]), sum(series["escalated"])]
    return {
        **series,
        "deflection_rate": [_share(t - e, t) for t, e in zip(series["total"], series["escalated"], strict=True)],
        "escalation_rate": [_share(e, t) for t, e in zip(series["total"], series["escalated"], strict=True)],
        "totals": {
            "conversations": totals[0],
            "escalated": totals[1],
            "deflection_rate": _share(totals[0] - totals[1], totals[0]),
        },
    }


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _escalation_reasons(period: Period) -> dict:
    rows = (
        _started(period)
        .filter(human_involved())
        .values("escalation_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "escalation_reason")
    )
    return {"labels": [row["escalation_reason"] or "agent_takeover" for row in rows], "counts": [r["n"] for r in rows]}


def _thumbs(period: Period, feedback: dict) -> dict:
    by_day = {row["day"]: row for row in feedback["by_day"]}
    days = [day.isoformat() for day in period.days]
    return {
        "up": [by_day.get(day, {}).get("up", 0) for day in days],
        "down": [by_day.get(day, {}).get("down", 0) for day in days],
        "up_ratio": [by_day.get(day, {}).get("up_ratio") for day in days],
        "totals": feedback["totals"],
    }


def _confidence_histogram(answers) -> dict:
    bins = Least(Cast(Floor(F("confidence") * CONFIDENCE_BINS), IntegerField()), CONFIDENCE_BINS - 1)
    rows = answers.filter(confidence__isnull=False).annotate(bin=bins).values("bin").annotate(n=Count("pk"))
    counts = [0] * CONFIDENCE_BINS
    for row in rows:
        counts[max(0, row["bin"])] += row["n"]
    width = 1 / CONFIDENCE_BINS
    labels = [f"{n * width:.1f}–{(n + 1) * width:.1f}" for n in range(CONFIDENCE_BINS)]
    return {"labels": labels, "counts": counts}


_LATENCY_SQL = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY (timings->>'total_ms')::float8),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY (timings->>'total_ms')::float8)
  FROM chat_message
 WHERE role = 'bot' AND timings ? 'total_ms' AND jsonb_typeof(timings->'total_ms') = 'number'
   AND created_at >= %s AND created_at < %s
 GROUP BY 1"""


def _latency(period: Period) -> dict:
    """Answer latency (Message.timings total_ms), median and 95th percentile per day, in milliseconds."""
    with connection.cursor() as cursor:
        cursor.execute(_LATENCY_SQL, [period.start, period.end])
        rows = [{"day": day, "p50": round(p50, 1), "p95": round(p95, 1)} for day, p50, p95 in cursor.fetchall()]
    by_day = {row["day"]: row for row in rows}
    return {name: [by_day.get(day, {}).get(name) for day in period.days] for name in ("p50", "p95")}


_GUARDS_SQL = """
SELECT event->>'validator', count(*)
  FROM chat_message AS m
 CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(m.guard_results) = 'array'
                                              THEN m.guard_results ELSE '[]'::jsonb END) AS event
 WHERE m.created_at >= %s AND m.created_at < %s AND event ? 'validator' AND event->>'outcome' = ANY(%s)
 GROUP BY 1 ORDER BY 2 DESC, 1"""


def _guard_trips(period: Period) -> dict:
    """Guard events that did something (failed, fixed, errored), by validator, on visitors' and bot messages."""
    with connection.cursor() as cursor:
        cursor.execute(_GUARDS_SQL, [period.start, period.end, list(TRIPPED)])
        rows = cursor.fetchall()
    return {"labels": [name for name, _ in rows], "counts": [n for _, n in rows]}


def _cache_hits(period: Period, answers) -> dict:
    rows = (
        answers.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Count("pk"), hits=Count("pk", filter=Q(from_cache=True)))
    )
    series = _per_day(period, rows, "total", "hits")
    rate = [_share(h, t) for t, h in zip(series["total"], series["hits"], strict=True)]
    return {**series, "hit_rate": rate, "total_hit_rate": _share(sum(series["hits"]), sum(series["total"]))}


def _tokens(period: Period, answers) -> dict:
    """Tokens per day, and their cost from LLM_PRICES (USD per million tokens; unlisted models cost 0)."""
    rows = (
        answers.filter(Q(prompt_tokens__isnull=False) | Q(completion_tokens__isnull=False))
        .annotate(day=TruncDate("created_at"))
        .values("day", "model")
        .annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    )
    index = {day: n for n, day in enumerate(period.days)}
    prompt, completion, cost = ([0] * len(index) for _ in range(3))
    for row in rows:
        n = index[row["day"]]
        prompt[n] += row["prompt"] or 0
        completion[n] += row["completion"] or 0
        cost[n] += usage_cost(model=row["model"], prompt_tokens=row["prompt"], completion_tokens=row["completion"])
    return {
        "llm": llm_configured() or any(prompt) or any(completion),
        "prompt": prompt,
        "completion": completion,
        "cost": [round(c, 6) for c in cost],
        "total_cost": round(sum(cost), 6),
    }
