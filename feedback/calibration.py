"""Confidence thresholds fitted to visitors' ratings.

An answer rated up counts as correct, one rated down as incorrect. The low threshold is the score that best
separates the two ("not low" should mean "rated up": the threshold with the highest balanced accuracy, ties
broken by F1); the high threshold is the lowest score above it from which at least HIGH_PRECISION of the
answers were rated up. The newest stored thresholds override the settings (`calibrated_thresholds`, read by
supportbot.answering.confidence.label_for on every answer, so it is cached per process for a few seconds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import OuterRef, Subquery

from feedback.models import ConfidenceCalibration, Rating
from supportbot.chat.models import Message

MIN_RATINGS = 20
HIGH_PRECISION = 0.95
MIN_HIGH_SUPPORT = 5
BINS = 10
CACHE_SECONDS = 30.0

_cache: dict[str, tuple[float, tuple[float, float] | None]] = {}


class CalibrationError(ValueError):
    pass


def calibrated_thresholds() -> tuple[float, float] | None:
    """(high, low) of the newest calibration, or None. Read on every answer: the row is cached for 30 s."""
    now = time.monotonic()
    cached = _cache.get("thresholds")
    if cached is None or cached[0] <= now:
        row = ConfidenceCalibration.objects.order_by("-created_at", "-pk").values_list("high", "low").first()
        cached = (now + CACHE_SECONDS, row)
        _cache["thresholds"] = cached
    return cached[1]


def thresholds_current() -> tuple[float, float]:
    """(high, low) in force: the newest calibration, else the settings."""
    return calibrated_thresholds() or (settings.CHAT_CONFIDENCE_HIGH, settings.CHAT_CONFIDENCE_LOW)


def thresholds_cache_clear() -> None:
    _cache.clear()


@dataclass
class Calibration:
    samples: int
    high: float
    low: float
    previous: tuple[float, float]
    reliability: list[dict] = field(default_factory=list)
    before: list[dict] = field(default_factory=list)
    after: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> dict:
        return {
            "samples": self.samples,
            "high": self.high,
            "low": self.low,
            "previous": {"high": self.previous[0], "low": self.previous[1]},
            "reliability": self.reliability,
            "before": self.before,
            "after": self.after,
            "notes": self.notes,
        }


def rated_scores() -> list[tuple[float, bool]]:
    """(confidence, rated up) for every rated answer with a score; the latest rating of an answer counts."""
    latest = Rating.objects.filter(message=OuterRef("pk")).order_by("-updated_at", "-pk").values("value")[:1]
    answers = Message.objects.filter(role=Message.Role.BOT, confidence__isnull=False, ratings__isnull=False)
    rows = answers.distinct().annotate(rating=Subquery(latest)).values_list("confidence", "rating")
    return [(float(score), rating == Rating.Value.UP) for score, rating in rows]


def confidence_calibrate(*, dry_run: bool = False) -> Calibration:
    """Fit the thresholds to the ratings; store them unless `dry_run`."""
    data = rated_scores()
    ups = sum(up for _, up in data)
    if len(data) < MIN_RATINGS or ups in (0, len(data)):
        raise CalibrationError(
            f"not enough ratings to calibrate: {len(data)} rated answers ({ups} up); "
            f"need {MIN_RATINGS} with both up and down"
        )
    previous = thresholds_current()
    low = _fit_low(data)
    high, note = _fit_high(data, low=low, fallback=previous[0])
    calibration = Calibration(len(data), high, low, previous, reliability_table(data))
    calibration.before, calibration.after = labels_table(data, *previous), labels_table(data, high, low)
    calibration.notes += [note] if note else []
    if not dry_run:
        ConfidenceCalibration.objects.create(high=high, low=low, samples=len(data), report=calibration.report())
        thresholds_cache_clear()
    return calibration


def _above(data: list[tuple[float, bool]]) -> list[tuple[float, int, int]]:
    """(threshold, answers rated up with score ≥ it, rated down with score ≥ it) for every distinct score."""
    rows, ups, downs = [], 0, 0
    ordered = sorted(data, key=lambda item: -item[0])
    for index, (score, up) in enumerate(ordered):
        ups, downs = ups + up, downs + (not up)
        if index + 1 == len(ordered) or ordered[index + 1][0] != score:
            rows.append((score, ups, downs))
    return rows[::-1]


def _fit_low(data: list[tuple[float, bool]]) -> float:
    ups = sum(up for _, up in data)
    downs = len(data) - ups
    best: tuple[float, float, float] | None = None
    for threshold, true_pos, false_pos in _above(data):
        balanced = (true_pos / ups + (downs - false_pos) / downs) / 2
        f1 = 2 * true_pos / (2 * true_pos + false_pos + (ups - true_pos))
        if best is None or (balanced, f1) > best[:2]:
            best = (balanced, f1, threshold)
    return round(best[2], 3)


def _fit_high(data: list[tuple[float, bool]], *, low: float, fallback: float) -> tuple[float, str]:
    for threshold, ups, downs in _above(data):
        if threshold >= low and ups + downs >= MIN_HIGH_SUPPORT and ups / (ups + downs) >= HIGH_PRECISION:
            return round(threshold, 3), ""
    high = round(max(fallback, low), 3)
    return high, f"no score reaches {HIGH_PRECISION:.0%} rated up over {MIN_HIGH_SUPPORT} answers; high kept"


def reliability_table(data: list[tuple[float, bool]]) -> list[dict]:
    """Answers per confidence bin and the share of them rated up."""
    table = []
    for index in range(BINS):
        lower, upper = index / BINS, (index + 1) / BINS
        ups = [up for score, up in data if lower <= score < upper or (index == BINS - 1 and score == 1.0)]
        table.append(
            {"bin": f"{lower:.1f}-{upper:.1f}", "count": len(ups), "up_share": _share(ups)},
        )
    return table


def labels_table(data: list[tuple[float, bool]], high: float, low: float) -> list[dict]:
    """Answers per label under thresholds (high, low), and the share of each rated up."""
    labels = {"high": [], "medium": [], "low": []}
    for score, up in data:
        labels["high" if score >= high else "medium" if score >= low else "low"].append(up)
    return [{"label": label, "count": len(ups), "up_share": _share(ups)} for label, ups in labels.items()]


def _share(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None
