"""The console's writes: ingestion started from the console (uploads, web pages, sitemaps, re-ingests, new
knowledge-base entries), document removal, widget and guard settings, dataset exports.

Ingestion and exports never run inside the request. After the job row commits it is queued as the Celery task;
without a broker (Celery eager mode) the task runs in a background thread instead, so the request returns at once
and the page can follow the job's progress.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import close_old_connections, connections, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename, slugify
from django.utils.translation import gettext as _

from feedback import tasks as feedback_tasks
from feedback.datasets import ExportFilters
from feedback.exports import export_job_create
from feedback.models import ExportJob
from kb import services as kb_services
from kb import tasks as kb_tasks
from kb.extraction import FORMAT_BY_SUFFIX
from kb.models import Document, IngestionJob, Source
from supportbot.chat.models import Widget

logger = logging.getLogger(__name__)
WIDGET_FIELDS = (
    "name",
    "title",
    "greeting",
    "accent_color",
    "allowed_origins",
    "pii_policy",
    "allowed_topics",
    "banned_words",
    "competitor_names",
    "answer_link_domains",  # links in answers (issue #13, supportbot/guards/links.py)
)
_FINISHED = (IngestionJob.Status.SUCCEEDED, IngestionJob.Status.PARTIAL, IngestionJob.Status.FAILED)


class ConsoleError(ValueError):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def uploads_dir() -> Path:
    return settings.DATA_DIR / "uploads"


def entries_dir() -> Path:
    return settings.DATA_DIR / "kb-entries"


def ingestion_enqueue(job_id: int) -> None:
    """Run an ingestion job in the background (see the module docstring)."""
    _enqueue(kb_tasks.ingestion_job_task, job_id, on_crash=_ingestion_crashed)


def export_enqueue(job_id: int) -> None:
    """Run a dataset export job in the background; its row records the outcome (feedback.exports)."""
    _enqueue(feedback_tasks.export_job_task, job_id)


def _enqueue(task, job_id: int, *, on_crash: Callable[[int, Exception], None] | None = None) -> None:
    """The Celery task with a broker; in eager mode the same task in a thread, so the caller does not wait."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.delay(job_id)
        return
    name = f"{task.name}-{job_id}"
    threading.Thread(target=_run_in_thread, args=(task, job_id, on_crash), name=name, daemon=True).start()


def _run_in_thread(task, job_id: int, on_crash) -> None:
    close_old_connections()
    try:
        task(job_id)
    except Exception as exc:  # noqa: BLE001 — a thread has no one to raise to: log it, mark the job
        logger.exception("background job %s (%s) failed", job_id, task.name)
        if on_crash:
            on_crash(job_id, exc)
    finally:
        connections.close_all()


def _ingestion_crashed(job_id: int, exc: Exception) -> None:
    """An error outside any one document: the job is failed, or the console would wait for it forever."""
    IngestionJob.objects.filter(pk=job_id).exclude(status__in=_FINISHED).update(
        status=IngestionJob.Status.FAILED,
        finished_at=timezone.now(),
        errors=[{"uri": "", "error": f"internal error: {type(exc).__name__}: {exc}"}],
    )


def _job_start(targets: list[str], *, force: bool = False) -> IngestionJob:
    job = kb_services.job_create(targets=targets, force=force)
    transaction.on_commit(lambda: ingestion_enqueue(job.pk))
    return job


def upload_ingest(*, files: list[UploadedFile]) -> IngestionJob:
    """Keep uploaded files under DATA_DIR/uploads/ and ingest them in one job. A file uploaded again under the
    same name replaces the earlier one (and its document is updated, or left alone when unchanged)."""
    if not files:
        raise ConsoleError("no_files", _("Choose at least one file."))
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = [_upload_save(folder, upload) for upload in files]
    return _job_start([str(path) for path in paths])


def _upload_save(folder: Path, upload: UploadedFile) -> Path:
    name = get_valid_filename(Path(upload.name or "").name)
    if Path(name).suffix.lower() not in FORMAT_BY_SUFFIX:
        detail = _("%(name)s: supported files are %(suffixes)s.")
        raise ConsoleError("unsupported_file", detail % {"name": name, "suffixes": ", ".join(sorted(FORMAT_BY_SUFFIX))})
    if upload.size is not None and upload.size > settings.KB_MAX_DOCUMENT_BYTES:
        detail = _("%(name)s: larger than %(limit)s bytes.")
        raise ConsoleError("file_too_large", detail % {"name": name, "limit": settings.KB_MAX_DOCUMENT_BYTES})
    path = folder / name
    with path.open("wb") as out:
        for piece in upload.chunks():
            out.write(piece)
    return path


def urls_ingest(*, urls: list[str]) -> IngestionJob:
    """Web pages and sitemaps (a sitemap expands to its pages inside the job)."""
    urls = [url for url in dict.fromkeys(u.strip() for u in urls) if url]
    if not urls or not all(url.startswith(("http://", "https://")) for url in urls):
        raise ConsoleError("invalid_url", _("Give one or more http(s) addresses."))
    return _job_start(urls)


def document_reingest(*, document_id: int) -> IngestionJob:
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        raise ConsoleError("unknown_document", _("No such document."))
    return _job_start([document.uri], force=True)


def document_remove(*, document_id: int) -> None:
    """Delete a document; one the console created (an upload or an entry) also loses its file and remembered
    source, so `sync` does not bring it back."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        raise ConsoleError("unknown_document", _("No such document."))
    kb_services.document_delete(document_id=document.pk)
    path = Path(document.uri)
    if path.is_absolute() and any(path.is_relative_to(d.resolve()) for d in (uploads_dir(), entries_dir())):
        Source.objects.filter(location=document.uri).delete()
        path.unlink(missing_ok=True)


def kb_entry_write(*, title: str, body: str) -> IngestionJob:
    """A new knowledge-base article (an FAQ written from a content gap): a Markdown file with its public page at
    /help/<slug>/, ingested like any source."""
    title, body = " ".join(title.split()), body.strip()
    if not title or not body:
        raise ConsoleError("empty_entry", _("An article needs a question and an answer."))
    slug = f"{slugify(title)[:60].strip('-') or 'entry'}-{secrets.token_hex(3)}"
    path = kb_services.article_write(path=entries_dir() / f"{slug}.md", title=title, url=f"/help/{slug}/", body=body)
    return _job_start([str(path)])


def widget_save(*, widget: Widget | None, data: dict) -> Widget:
    """Create or update a widget and its guard settings from cleaned form data."""
    widget = widget or Widget()
    for name in WIDGET_FIELDS:
        if name in data:
            setattr(widget, name, data[name])
    widget.full_clean()
    widget.save()
    return widget


def export_start(*, fmt: str, filters: ExportFilters, user) -> ExportJob:
    """A dataset export job (feedback's), run in the background once the row is committed."""
    try:
        job = export_job_create(fmt=fmt, filters=filters, user=user)
    except ValueError as exc:
        raise ConsoleError("invalid_format", str(exc)) from exc
    transaction.on_commit(lambda: export_enqueue(job.pk))
    return job
