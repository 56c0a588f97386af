"""Feedback review in the console, on feedback's services: the queue, corrections approved into the knowledge
base, good examples, and dataset exports (admins) downloaded through feedback's view."""

from __future__ import annotations

from django.urls import reverse

from feedback.models import Correction, ExportJob, GoodExample
from kb.models import Document
from tests.chat.factories import AnswerFactory
from tests.feedback.factories import RatingFactory


def test_the_queue_lists_down_rated_answers(agent_client, widget):
    # given
    rating = RatingFactory(value="down", reason="wrong", message__reply_to__text="Where is my parcel?")
    RatingFactory(value="up", message__reply_to__text="What are your opening hours?")
    # when
    response = agent_client.get(reverse("console:review"))
    # then
    assert [item.pk for item in response.context["page"]] == [rating.message_id]
    assert "Where is my parcel?" in response.content.decode()
    assert reverse("console:exports") not in response.content.decode()  # exports are for admins


def test_a_correction_is_written_approved_and_published_into_the_knowledge_base(
    agent_client, support_admin_client, widget, data_dir, django_capture_on_commit_callbacks
):
    # given
    answer = AnswerFactory(reply_to__text="Can I change my delivery address?", text="No.")
    url = reverse("console:review-item", args=[answer.pk])
    # when: the agent writes a correction
    response = agent_client.post(url, {"text": "Yes, until the parcel ships: open the order and choose Edit."})
    # then: a draft
    assert response.status_code == 302
    correction = Correction.objects.get()
    assert (correction.status, correction.author.username) == ("draft", "sam")
    # when: an admin approves it (publishing is for admins: tests/console/test_roles.py)
    with django_capture_on_commit_callbacks(execute=True):
        support_admin_client.post(reverse("console:correction-approve", args=[correction.pk]))
    # then: published as an FAQ page of the knowledge base
    correction.refresh_from_db()
    assert correction.status == "approved" and correction.document_id
    assert Document.objects.get(pk=correction.document_id).title == "FAQ: Can I change my delivery address?"
    assert "FAQ page" in agent_client.get(url).content.decode()


def test_an_empty_correction_is_refused(agent_client, widget):
    answer = AnswerFactory()
    response = agent_client.post(reverse("console:review-item", args=[answer.pk]), {"text": "   "})
    assert response.status_code == 200 and not Correction.objects.exists()


def test_a_correction_can_be_rejected(support_admin_client, widget):
    answer = AnswerFactory()
    correction = Correction.objects.create(message=answer, text="Better answer.")
    support_admin_client.post(reverse("console:correction-reject", args=[correction.pk]))
    correction.refresh_from_db()
    assert correction.status == "rejected"


def test_good_examples_are_marked_once(agent_client, widget):
    answer = AnswerFactory()
    for _ in range(2):
        response = agent_client.post(reverse("console:mark-good", args=[answer.pk]))
        assert response.status_code == 302
    assert GoodExample.objects.get().marked_by.username == "sam"


def test_admins_export_each_dataset_format_and_download_it(
    support_admin_client, widget, data_dir, run_jobs_inline, django_capture_on_commit_callbacks
):
    # given
    RatingFactory(value="up", message__citations=[{"n": 1, "title": "Refunds", "url": "/help/refunds/#x"}])
    assert "data-format" in support_admin_client.get(reverse("console:review")).content.decode()
    for fmt in ("openai-chat", "preference", "eval", "csv"):
        # when
        with django_capture_on_commit_callbacks(execute=True):
            response = support_admin_client.post(reverse("console:exports"), {"format": fmt})
        # then
        assert response.status_code == 302
        job = ExportJob.objects.get(format=fmt)
        assert job.status == "succeeded", job.error
    page = support_admin_client.get(reverse("console:exports")).content.decode()
    download = reverse("feedback:export-download", args=[ExportJob.objects.get(format="csv").pk])
    assert download in page
    assert b"answer_id" in b"".join(support_admin_client.get(download).streaming_content)
