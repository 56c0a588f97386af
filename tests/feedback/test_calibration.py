"""Confidence thresholds fitted to ratings: a reliability table, a dry run, and label_for using the result."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feedback.models import ConfidenceCalibration
from supportbot.answering.confidence import label_for
from tests.chat.factories import AnswerFactory
from tests.feedback.factories import RatingFactory

pytestmark = [pytest.mark.django_db]
UP = [0.3, 0.55, 0.6, 0.62, 0.65, 0.7, 0.72, 0.75, 0.8, 0.85, 0.9, 0.92, 0.95]
DOWN = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.58, 0.78]


@pytest.fixture
def rated(settings):
    settings.CHAT_CONFIDENCE_HIGH, settings.CHAT_CONFIDENCE_LOW = 0.70, 0.45
    for scores, value in ((UP, "up"), (DOWN, "down")):
        for score in scores:
            RatingFactory(message=AnswerFactory(confidence=score), value=value)


def test_a_dry_run_prints_the_reliability_table_and_the_thresholds_and_stores_nothing(rated):
    # when
    out = StringIO()
    call_command("calibrate_confidence", "--dry-run", stdout=out)
    # then
    report = out.getvalue()
    assert "24 rated answers" in report
    assert "0.5-0.6       3   33.3% up" in report and "0.9-1.0       3  100.0% up" in report
    assert "Before: high ≥ 0.700, low < 0.450" in report and "After: high ≥ 0.800, low < 0.600" in report
    assert "Dry run" in report
    assert not ConfidenceCalibration.objects.exists()
    assert (label_for(0.5), label_for(0.75)) == ("medium", "high")


def test_stored_thresholds_override_the_settings_for_new_answers(rated):
    # when
    call_command("calibrate_confidence", stdout=StringIO())
    # then
    calibration = ConfidenceCalibration.objects.get()
    assert (calibration.high, calibration.low, calibration.samples) == (0.8, 0.6, 24)
    assert [row["count"] for row in calibration.report["after"]] == [5, 7, 12]
    assert (label_for(0.5), label_for(0.65), label_for(0.75), label_for(0.8)) == ("low", "medium", "medium", "high")


def test_too_few_ratings_are_refused(settings):
    RatingFactory(message=AnswerFactory(confidence=0.9), value="up")
    with pytest.raises(CommandError, match="not enough ratings"):
        call_command("calibrate_confidence")
