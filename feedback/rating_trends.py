"""Rating trends: how answers are rated per day, which knowledge-base documents the down-rated answers
cited, and the questions rated down most often. Implicit signals are collected first, so they are fresh."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from django.db.models import Count, Q, QuerySet, TextField, Value
from django.db.models.functions import Coalesce, NullIf, TruncDate

from feedback.implicit import implicit_signals_collect
from feedback.models import ImplicitSignal, Rating
from supportbot.pii import pii_redact

TOP_DOCUMENTS = 20
TOP_QUESTIONS = 10


def rating_trends(*, since: datetime | None = None, until: datetime | None = None) -> dict:
    """Ratings between `since` (inclusive) and `until` (exclusive), by the time they were given."""
    implicit_signals_collect(since=since)
    ratings = Rating.objects.all()
    signals = ImplicitSignal.objects.all()
    if since:
        ratings, signals = ratings.filter(updated_at__gte=since), signals.filter(created_at__gte=since)
    if until:
        ratings, signals = ratings.filter(updated_at__lt=until), signals.filter(created_at__lt=until)
    up, down = _counts(ratings)
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "totals": {"up": up, "down": down, "up_ratio": _ratio(up, down)},
        "by_day": _by_day(ratings),
        "by_document": _by_document(ratings),
        "top_down_questions": _top_down_questions(ratings),
        "signals": dict(signals.values_list("kind").annotate(n=Count("pk")).order_by("kind")),
    }


def _counts(ratings: QuerySet) -> tuple[int, int]:
    counts = ratings.aggregate(up=Count("pk", filter=Q(value="up")), down=Count("pk", filter=Q(value="down")))
    return counts["up"], counts["down"]


def _ratio(up: int, down: int) -> float | None:
    return round(up / (up + down), 4) if up + down else None


def _by_day(ratings: QuerySet) -> list[dict]:
    days = (
        ratings.annotate(day=TruncDate("updated_at"))
        .values("day")
        .annotate(up=Count("pk", filter=Q(value="up")), down=Count("pk", filter=Q(value="down")))
        .order_by("day")
    )
    return [
        {
            "day": row["day"].isoformat(),
            "up": row["up"],
            "down": row["down"],
            "up_ratio": _ratio(row["up"], row["down"]),
        }
        for row in days
    ]


def _by_document(ratings: QuerySet) -> list[dict]:
    """Each document cited by a rated answer, counted once per answer; the most down-rated first."""
    counts: dict[str, Counter] = defaultdict(Counter)
    titles: dict[str, str] = {}
    for value, citations in ratings.values_list("value", "message__citations").iterator(chunk_size=2000):
        cited = {(c.get("url") or "").split("#", 1)[0]: c.get("title", "") for c in citations or []}
        for url, title in cited.items():
            counts[url][value] += 1
            titles.setdefault(url, title)
    rows = [
        {
            "url": url,
            "title": titles[url],
            "up": counter["up"],
            "down": counter["down"],
            "down_share": round(counter["down"] / (counter["up"] + counter["down"]), 4),
        }
        for url, counter in counts.items()
    ]
    rows.sort(key=lambda row: (-row["down"], -row["down_share"], row["url"]))
    return rows[:TOP_DOCUMENTS]


def _top_down_questions(ratings: QuerySet) -> list[dict]:
    question = Coalesce(
        NullIf("message__condensed_question", Value("")), "message__reply_to__text", output_field=TextField()
    )
    rows = (
        ratings.filter(value="down")
        .annotate(question=question)
        .exclude(question__isnull=True)
        .values("question")
        .annotate(down=Count("pk"))
        .order_by("-down", "question")[:TOP_QUESTIONS]
    )
    return [{"question": pii_redact(row["question"])[0], "down": row["down"]} for row in rows]
