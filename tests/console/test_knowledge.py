"""Knowledge-base management in the console: uploads and web sources become ingestion jobs that run after the
request (a background thread without a broker), documents are re-ingested or deleted, the playground shows
the scores of kb.search; widgets and their guard settings; articles written from content gaps."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kb import services as kb_services
from kb import tasks as kb_tasks
from kb.models import Document, IngestionJob, Source
from supportbot import jobs
from supportbot.chat.models import Widget
from supportbot.console import services

GUIDE = b"""---
title: Moving your workspace to another region
---

# Moving your workspace to another region

Open Settings, then Data residency, and choose the new region. The move takes about an hour and the
workspace stays readable meanwhile. Zanzibar plans cannot move.
"""


def upload(client, *files: tuple[str, bytes]):
    payload = [SimpleUploadedFile(name, content) for name, content in files]
    return client.post(reverse("console:kb-upload"), {"files": payload})


def test_an_uploaded_file_is_ingested_after_the_request_and_found_by_the_playground(
    support_admin_client, data_dir, run_jobs_inline, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(support_admin_client, ("regions.md", GUIDE), ("notes.txt", b"Plain notes about regions."))
    # then: one job for both files, run once the request's work was committed
    assert response.status_code == 302 and len(callbacks) == 1
    job = IngestionJob.objects.get()
    assert (job.status, job.total, job.processed, job.created) == ("succeeded", 2, 2, 2)
    assert (data_dir / "uploads" / "regions.md").read_bytes() == GUIDE
    jobs = support_admin_client.get(reverse("console:kb-jobs")).json()["jobs"]
    assert jobs[0]["targets"] == ["regions.md", "notes.txt"] and jobs[0]["finished"] is True
    # when: the playground searches
    page = support_admin_client.get(reverse("console:playground"), {"q": "move workspace region", "mode": "hybrid"})
    # then: ranked chunks with vector, keyword and fused scores
    top = page.context["results"][0]
    assert top.title == "Moving your workspace to another region"
    assert top.vector_score > 0 and top.keyword_score > 0 and top.score > 0
    assert "Moving your workspace to another region" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_job_runs_in_a_background_thread(data_dir, settings):
    # given
    settings.CELERY_TASK_ALWAYS_EAGER = True
    path = data_dir / "uploads" / "guide.md"  # where an upload lands: the rest of the data directory is refused
    path.parent.mkdir()
    path.write_bytes(GUIDE)
    job = kb_services.job_create(targets=[str(path)])
    # when: enqueued, it returns at once
    jobs.job_enqueue(kb_tasks.ingestion_job_task, job.pk, in_background=True)
    # then: the row records the progress until the job is done
    deadline = time.monotonic() + 30
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh_from_db()
    assert (job.status, job.processed, job.total) == ("succeeded", 1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_background_job_that_crashes_is_marked_failed(monkeypatch):
    # given: a job whose run breaks outside any one document
    job = kb_services.job_create(targets=["/nowhere"])

    def broken(*, job_id: int, on_progress=None):
        raise RuntimeError("database went away")

    monkeypatch.setattr(kb_services, "job_run", broken)
    # when
    jobs.job_run_in_thread(kb_tasks.ingestion_job_task, job.pk, services.ingestion_crashed)
    # then: the console stops waiting for it
    job.refresh_from_db()
    assert job.status == "failed" and "database went away" in job.errors[0]["error"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("tool.exe", "supported files are", id="unsupported"),
        pytest.param("../../etc/passwd.md", None, id="path-in-name"),
    ],
)
def test_uploads_are_checked(support_admin_client, data_dir, run_jobs_inline, name, message):
    response = upload(support_admin_client, (name, b"# Title\n\nSome text."))
    assert response.status_code == 302
    if message:
        assert not IngestionJob.objects.exists()
        followed = support_admin_client.get(response["Location"])
        assert message in followed.content.decode()
    else:
        assert list((data_dir / "uploads").iterdir()) == [data_dir / "uploads" / "passwd.md"]


def test_web_pages_and_sitemaps_start_a_job(support_admin_client, monkeypatch):
    started = []
    monkeypatch.setattr(jobs, "job_enqueue", lambda task, job_id, **_: started.append(job_id))
    urls = "https://example.com/help/a\nhttps://example.com/sitemap.xml\n"
    response = support_admin_client.post(reverse("console:kb-urls"), {"urls": urls})
    assert response.status_code == 302
    assert IngestionJob.objects.get().targets == ["https://example.com/help/a", "https://example.com/sitemap.xml"]


def test_web_addresses_are_checked(support_admin_client):
    support_admin_client.post(reverse("console:kb-urls"), {"urls": "file:///etc/passwd"})
    assert not IngestionJob.objects.exists()


def test_documents_are_browsed_reingested_and_deleted(
    support_admin_client, data_dir, run_jobs_inline, django_capture_on_commit_callbacks
):
    # given
    with django_capture_on_commit_callbacks(execute=True):
        upload(support_admin_client, ("regions.md", GUIDE))
    document = Document.objects.get()
    # when / then: its chunks are shown
    page = support_admin_client.get(reverse("console:document", args=[document.pk]))
    assert "Zanzibar plans cannot move." in page.content.decode()
    # when / then: re-ingest forces a new run
    with django_capture_on_commit_callbacks(execute=True):
        support_admin_client.post(reverse("console:document-reingest", args=[document.pk]))
    assert IngestionJob.objects.order_by("-pk").first().updated == 1
    # when / then: delete removes the document, its upload and its source
    support_admin_client.post(reverse("console:document-delete", args=[document.pk]))
    assert not Document.objects.exists()
    assert not (data_dir / "uploads" / "regions.md").exists()
    assert not Source.objects.filter(location=document.uri).exists()


def test_a_gap_becomes_a_new_article_with_its_own_page(
    support_admin_client, client, data_dir, run_jobs_inline, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = support_admin_client.post(
            reverse("console:entry-create"),
            {"title": "Can I pay by bank transfer?", "body": "Yes: choose **Invoice** at checkout."},
        )
    # then
    assert response["Location"] == reverse("console:kb")
    document = Document.objects.get()
    assert document.title == "Can I pay by bank transfer?" and document.url.startswith(
        "/help/can-i-pay-by-bank-transfer"
    )
    assert "choose" in client.get(document.url).content.decode()


def test_widgets_and_their_guard_settings_are_edited(support_admin_client, widget):
    # when
    response = support_admin_client.post(
        reverse("console:widget-edit", args=[widget.pk]),
        {
            "name": "Shop",
            "title": "Help",
            "greeting": "Hello!",
            "accent_color": "#112233",
            "allowed_origins": "https://shop.example.com/\nself",
            "pii_policy": "keep",
            "allowed_topics": "orders\nrefunds",
            "banned_words": "darn",
            "competitor_names": "Acme",
        },
    )
    # then
    assert response.status_code == 302
    widget.refresh_from_db()
    assert widget.allowed_origins == ["https://shop.example.com", "self"]
    assert (widget.pii_policy, widget.allowed_topics, widget.competitor_names) == (
        "keep",
        ["orders", "refunds"],
        ["Acme"],
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("allowed_origins", "shop.example.com", id="origin"),
        pytest.param("accent_color", "red", id="colour"),
    ],
)
def test_bad_widget_settings_are_refused(support_admin_client, field, value):
    data = {"name": "Shop", "title": "Help", "greeting": "Hi", "accent_color": "#112233", "pii_policy": "redact"}
    response = support_admin_client.post(reverse("console:widget-new"), {**data, field: value})
    assert response.status_code == 200 and not Widget.objects.exists()
    assert response.context["form"].errors[field]
