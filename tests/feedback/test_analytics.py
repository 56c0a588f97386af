"""Feedback analytics: thumbs-up ratio per day, documents behind down-rated answers, top down-rated questions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from feedback.models import Rating
from tests.chat.factories import AnswerFactory, QuestionFactory
from tests.feedback.factories import RatingFactory

pytestmark = [pytest.mark.django_db]
REFUNDS = {"n": 1, "title": "Refunds", "url": "/help/refunds/#partial-periods", "chunk_id": 1}
SHIPPING = {"n": 2, "title": "Shipping", "url": "/help/shipping/#abroad", "chunk_id": 2}


@pytest.fixture
def ratings():
    yesterday = timezone.now() - timedelta(days=1)
    for question, value, citations in [
        ("can I get a refund after a month", "down", [REFUNDS, SHIPPING]),
        ("can I get a refund after a month", "down", [REFUNDS]),
        ("refund to jane@example.com please", "down", [REFUNDS]),
        ("how long is shipping", "up", [SHIPPING]),
        ("how long is shipping", "up", [SHIPPING]),
    ]:
        answer = AnswerFactory(reply_to=QuestionFactory(text=question), citations=citations)
        RatingFactory(message=answer, value=value)
    Rating.objects.filter(value="up").update(updated_at=yesterday)


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("lead", password="x", is_staff=True))
    return client


def test_analytics_by_day_by_document_and_by_question(ratings, staff_client):
    # when
    response = staff_client.get("/feedback/analytics.json")
    # then
    assert response.status_code == 200
    data = response.json()
    today, yesterday = timezone.now().date(), timezone.now().date() - timedelta(days=1)
    assert data["totals"] == {"up": 2, "down": 3, "up_ratio": 0.4}
    assert data["by_day"] == [
        {"day": yesterday.isoformat(), "up": 2, "down": 0, "up_ratio": 1.0},
        {"day": today.isoformat(), "up": 0, "down": 3, "up_ratio": 0.0},
    ]
    assert [(d["url"], d["up"], d["down"]) for d in data["by_document"]] == [
        ("/help/refunds/", 0, 3),
        ("/help/shipping/", 2, 1),
    ]
    assert data["top_down_questions"] == [
        {"question": "can I get a refund after a month", "down": 2},
        {"question": "refund to [EMAIL] please", "down": 1},
    ]
    assert set(data["signals"]) <= {"escalated", "rephrased", "left"}


def test_analytics_of_a_period(ratings, staff_client):
    today = timezone.now().date().isoformat()
    data = staff_client.get(f"/feedback/analytics.json?since={today}&until={today}").json()
    assert data["totals"] == {"up": 0, "down": 3, "up_ratio": 0.0}


@pytest.mark.parametrize("user", [None, "visitor"], ids=["anonymous", "not-staff"])
def test_analytics_are_for_staff_only(client, django_user_model, user):
    if user:
        client.force_login(django_user_model.objects.create_user(user, password="x"))
    response = client.get("/feedback/analytics.json")
    assert response.status_code == 403 and response.json()["code"] == "staff_only"


def test_a_bad_date_is_a_clear_error(staff_client):
    response = staff_client.get("/feedback/analytics.json?since=last-week")
    assert response.status_code == 400 and "since must be a date" in response.json()["detail"]
