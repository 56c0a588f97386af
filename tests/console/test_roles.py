"""Roles: agents answer visitors and review answers; only admins publish into the public knowledge base
(approving or rejecting corrections, new articles) and take exports of visitors' words. Every refusal is a 403
that changes nothing and serves nothing, in the console and in the Django admin alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from feedback.exports import export_job_run
from feedback.faq import faq_path
from feedback.models import Correction, ExportJob, GoodExample
from kb.models import Document, IngestionJob
from tests.chat.factories import AnswerFactory
from tests.feedback.factories import CorrectionFactory


@pytest.fixture
def draft(widget):
    answer = AnswerFactory(reply_to__text="Can I change my delivery address?", text="No.")
    return Correction.objects.create(message=answer, text="Yes, until the parcel ships: open the order.")


@pytest.fixture
def export_file(db, data_dir):
    job = export_job_run(job_id=ExportJob.objects.create(format="csv").pk)
    assert job.status == "succeeded", job.error
    return job


def test_an_agent_cannot_approve_a_correction(agent_client, draft, data_dir, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(reverse("console:correction-approve", args=[draft.pk]))
    # then: refused, still a draft, nothing published
    assert response.status_code == 403
    draft.refresh_from_db()
    assert (draft.status, draft.approved_by, draft.document_id) == ("draft", None, None)
    assert not Document.objects.exists() and not faq_path(draft.pk).exists()


def test_an_admin_approves_a_correction_into_the_knowledge_base(
    support_admin_client, draft, data_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = support_admin_client.post(reverse("console:correction-approve", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.approved_by.username) == ("approved", "ada")
    assert Document.objects.get(pk=draft.document_id).title == "FAQ: Can I change my delivery address?"


@pytest.mark.parametrize("status", ["draft", "approved"])
def test_an_agent_cannot_reject_a_correction(agent_client, widget, status):
    # given
    correction = CorrectionFactory(status=status)
    # when
    response = agent_client.post(reverse("console:correction-reject", args=[correction.pk]))
    # then
    assert response.status_code == 403
    correction.refresh_from_db()
    assert correction.status == status


def test_an_admin_rejects_a_correction(support_admin_client, draft):
    response = support_admin_client.post(reverse("console:correction-reject", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "rejected"


def test_agents_keep_drafting_corrections_and_marking_good_answers(agent_client, draft):
    # when
    url = reverse("console:review-item", args=[draft.message_id])
    drafted = agent_client.post(url, {"text": "Open the order and choose Edit before it ships."})
    marked = agent_client.post(reverse("console:mark-good", args=[draft.message_id]))
    # then
    assert drafted.status_code == marked.status_code == 302
    assert Correction.objects.filter(author__username="sam", status="draft").exists()
    assert GoodExample.objects.filter(message_id=draft.message_id).exists()
    page = agent_client.get(url).content.decode()
    assert "A support admin approves it" in page


def test_the_publish_buttons_show_to_admins_only(agent_client, support_admin_client, draft):
    # given
    url = reverse("console:review-item", args=[draft.message_id])
    approve = reverse("console:correction-approve", args=[draft.pk])
    reject = reverse("console:correction-reject", args=[draft.pk])
    # when
    agents_page = agent_client.get(url).content.decode()
    admins_page = support_admin_client.get(url).content.decode()
    # then
    assert approve not in agents_page and reject not in agents_page
    assert approve in admins_page and reject in admins_page


def test_an_agent_cannot_start_an_export(agent_client, widget, data_dir):
    response = agent_client.post(reverse("console:exports"), {"format": "csv"})
    assert response.status_code == 403
    assert not ExportJob.objects.exists()


def test_an_agent_cannot_download_an_export(agent_client, export_file):
    # when
    response = agent_client.get(reverse("feedback:export-download", args=[export_file.pk]))
    # then: no file served
    assert response.status_code == 403
    assert not getattr(response, "streaming", False) and b"answer_id" not in response.content


def test_an_admin_downloads_an_export(support_admin_client, export_file):
    response = support_admin_client.get(reverse("feedback:export-download", args=[export_file.pk]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert b"answer_id" in b"".join(response.streaming_content)


@pytest.mark.parametrize(
    ("who", "status"),
    [pytest.param(None, 302, id="anonymous-to-sign-in"), pytest.param("customer", 403, id="not-staff")],
)
def test_nobody_else_downloads_an_export(client, request, export_file, who, status):
    if who:
        client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("feedback:export-download", args=[export_file.pk]))
    assert response.status_code == status and not getattr(response, "streaming", False)


def test_an_agent_cannot_publish_a_new_article(agent_client, data_dir):
    # when
    form = {"title": "Do you ship to Canada?", "body": "Yes, in 5 to 8 working days."}
    response = agent_client.post(reverse("console:entry-create"), form)
    # then: no job, no file
    assert response.status_code == 403
    assert not IngestionJob.objects.exists()
    assert not any(Path(data_dir).rglob("*.md"))


def test_an_admin_publishes_a_new_article(support_admin_client, data_dir, run_jobs_inline):
    form = {"title": "Do you ship to Canada?", "body": "Yes, in 5 to 8 working days."}
    response = support_admin_client.post(reverse("console:entry-create"), form)
    assert response.status_code == 302
    assert IngestionJob.objects.count() == 1


@pytest.fixture
def agent_with_model_permissions(agent):
    """An agent given every Django permission on feedback's models: the role check must not rest on those."""
    agent.user_permissions.add(*Permission.objects.filter(content_type__app_label="feedback"))
    return agent


def test_in_the_django_admin_an_agent_cannot_approve_or_export(client, agent_with_model_permissions, draft, data_dir):
    # given
    client.force_login(agent_with_model_permissions)
    # when
    changelist = client.get("/admin/feedback/correction/").content.decode()
    client.post("/admin/feedback/correction/", {"action": "approve", "_selected_action": [draft.pk]})
    added = client.post("/admin/feedback/exportjob/add/", {"format": "csv"})
    # then: the action is not offered (nor carried out when posted anyway), the add page refused
    assert 'value="approve"' not in changelist and 'value="reject"' not in changelist
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert added.status_code == 403 and not ExportJob.objects.exists()


def test_in_the_django_admin_an_admin_approves(admin_client, draft, data_dir, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/feedback/correction/", {"action": "approve", "_selected_action": [draft.pk]}
        )
    assert 'value="approve"' in admin_client.get("/admin/feedback/correction/").content.decode()
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "approved"
