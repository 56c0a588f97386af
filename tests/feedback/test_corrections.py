"""Corrections and good examples: writing, approving (an FAQ page in the knowledge base), rejecting; the
admin screens; the review queue."""

from __future__ import annotations

import pytest

from feedback.faq import faq_path
from feedback.models import Correction, GoodExample, ImplicitSignal, ReviewItem
from feedback.services import (
    FeedbackError,
    answer_mark_good,
    correction_approve,
    correction_reject,
    correction_write,
)
from kb.models import Document, Source
from tests.chat.factories import AnswerFactory, ConversationFactory, QuestionFactory
from tests.feedback.conftest import kb_answer
from tests.feedback.factories import RatingFactory

pytestmark = [pytest.mark.django_db]
TEXT = "Parcels to Canada arrive in 5 to 8 working days."


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Approval publishes after the commit; inside a test's transaction that is when this block ends."""
    return django_capture_on_commit_callbacks


@pytest.fixture
def agent(django_user_model):
    return django_user_model.objects.create_user("agent", password="secret-password", is_staff=True, is_superuser=True)


@pytest.mark.parametrize(
    ("text", "question", "code"),
    [
        pytest.param("   ", True, "empty_correction", id="empty"),
        pytest.param("x" * 8001, True, "correction_too_long", id="too-long"),
        pytest.param(TEXT, False, "no_question", id="no-question"),
    ],
)
def test_a_correction_needs_text_and_a_question(agent, text, question, code):
    answer = AnswerFactory() if question else AnswerFactory(reply_to=None, conversation=ConversationFactory())
    with pytest.raises(FeedbackError) as error:
        correction_write(message_id=answer.pk, author=agent, text=text)
    assert error.value.code == code


def test_only_an_answer_can_be_corrected(agent):
    question = QuestionFactory()
    with pytest.raises(FeedbackError, match="no bot answer"):
        correction_write(message_id=question.pk, author=agent, text=TEXT)


def test_an_approved_correction_becomes_a_public_faq_page(knowledge, agent, data_dir, client, publish):
    # given
    answer = AnswerFactory(reply_to=QuestionFactory(text="delivery to Canada? mail me at jane@example.com"))
    correction = correction_write(message_id=answer.pk, author=agent, text=TEXT)
    assert correction.status == "draft" and correction.document is None
    # when
    with publish(execute=True):
        approved = correction_approve(correction_id=correction.pk, approver=agent)
        again = correction_approve(correction_id=correction.pk, approver=agent)
    # then
    assert (approved.status, approved.approved_by, again.approved_at) == ("approved", agent, approved.approved_at)
    assert faq_path(correction.pk).parent == data_dir / "corrections"
    document = Correction.objects.get(pk=correction.pk).document
    assert document.title == "FAQ: delivery to Canada? mail me at [EMAIL]"  # the page is public: no PII
    assert document.url == f"/help/faq/{correction.pk}/" and document.chunk_count == 1
    page = client.get(f"/help/faq/{correction.pk}/")
    assert page.status_code == 200 and TEXT in page.content.decode()
    assert "jane@example.com" not in page.content.decode()
    assert client.get(f"/help/faq/{correction.pk + 1}/").status_code == 404


def test_rejecting_or_superseding_a_correction_removes_its_page(knowledge, agent, data_dir, client, publish):
    # given
    answer = AnswerFactory()
    first = correction_write(message_id=answer.pk, author=agent, text=TEXT)
    with publish(execute=True):
        correction_approve(correction_id=first.pk, approver=agent)
    # when: a better correction of the same answer is approved
    second = correction_write(message_id=answer.pk, author=agent, text=TEXT + " Tracking is included.")
    with publish(execute=True):
        correction_approve(correction_id=second.pk, approver=agent)
    # then
    first.refresh_from_db()
    assert first.status == "rejected" and first.document is None and not faq_path(first.pk).exists()
    assert client.get(f"/help/faq/{first.pk}/").status_code == 404
    assert client.get(f"/help/faq/{second.pk}/").status_code == 200
    # when
    correction_reject(correction_id=second.pk)
    # then
    assert not Document.objects.filter(url__startswith="/help/faq/").exists()
    assert not Source.objects.filter(location__contains="corrections").exists()
    assert list(Correction.objects.values_list("status", flat=True)) == ["rejected", "rejected"]


def test_marking_a_good_example_twice_keeps_one(agent):
    answer = AnswerFactory()
    first = answer_mark_good(message_id=answer.pk, user=agent)
    second = answer_mark_good(message_id=answer.pk, user=agent)
    assert first.pk == second.pk and GoodExample.objects.count() == 1
    with pytest.raises(FeedbackError):
        answer_mark_good(message_id=AnswerFactory(text="").pk, user=agent)


def test_the_review_queue_lists_down_rated_and_escalated_answers_newest_first():
    # given
    down = RatingFactory(value="down", reason="outdated").message
    RatingFactory(value="up")
    escalated = AnswerFactory(conversation=ConversationFactory(status="escalated"))
    ImplicitSignal.objects.create(message=escalated, kind="escalated")
    AnswerFactory()
    # when
    queue = list(ReviewItem.objects.review_queue())
    # then
    assert [item.pk for item in queue] == [escalated.pk, down.pk]
    assert (queue[1].question, queue[1].rating, queue[1].reason) == (down.reply_to.text, "down", "outdated")
    assert (queue[0].rating, queue[0].escalated, queue[0].conversation_status) == (None, True, "escalated")


def test_staff_write_and_approve_corrections_in_the_admin(knowledge, agent, data_dir, client, publish):
    # given
    answer = kb_answer("how long does shipping to Canada take", "Shipping is free [1].")
    RatingFactory(message=answer, value="down")
    client.force_login(agent)
    # when: from the review queue, to the correction form
    queue = client.get("/admin/feedback/reviewitem/")
    added = client.post("/admin/feedback/correction/add/", {"message": answer.pk, "text": TEXT})
    empty = client.post("/admin/feedback/correction/add/", {"message": answer.pk, "text": "  "})
    correction = Correction.objects.get()
    with publish(execute=True):
        approved = client.post(
            "/admin/feedback/correction/", {"action": "approve", "_selected_action": [correction.pk]}
        )
    # then
    assert queue.status_code == 200 and f"/admin/feedback/correction/add/?message={answer.pk}" in queue.content.decode()
    assert added.status_code == 302 and correction.author == agent and correction.text == TEXT
    assert empty.status_code == 200 and Correction.objects.count() == 1
    assert approved.status_code == 302
    correction.refresh_from_db()
    assert correction.status == "approved" and correction.document is not None
    for page in ("correction", "rating", "implicitsignal", "goodexample", "exportjob", "confidencecalibration"):
        assert client.get(f"/admin/feedback/{page}/").status_code == 200, page
    assert client.get(f"/admin/feedback/correction/{correction.pk}/change/").status_code == 200
