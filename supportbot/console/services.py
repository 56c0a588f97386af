"""The console's writes: ingestion started from the console (uploads, web pages, sitemaps, re-ingests, new
knowledge-base entries), document removal, widget and guard settings, dataset exports, and resolving a taken-over
conversation (which drafts a knowledge-base article from it).

Ingestion and exports never run inside the request. After the job row commits it is queued as the Celery task;
without a broker (Celery eager mode) the task runs in a background thread instead, so the request returns at once
and the page can follow the job's progress (supportbot/jobs.py, `in_background`).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename, slugify
from django.utils.translation import gettext as _

from feedback import services as feedback_services
from feedback.drafts import article_draft_create
from feedback.models import ArticleDraft, ExportJob
from kb import services as kb_services
from kb import tasks as kb_tasks
from kb.extraction import FORMAT_BY_SUFFIX
from kb.models import Document, IngestionJob, Source
from supportbot.chat import takeover
from supportbot.chat.models import Conversation, Widget
from supportbot.chat.services import ChatError
from supportbot.errors import DomainError
from supportbot.jobs import JOB_FINISHED, job_enqueue_on_commit

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


class ConsoleError(DomainError, ValueError):
    """A console form's input refused; the page shows `detail`. (Still a ValueError, as callers have caught it.)"""


def uploads_dir() -> Path:
    return settings.DATA_DIR / "uploads"


def entries_dir() -> Path:
    return settings.DATA_DIR / "kb-entries"


def ingestion_crashed(job_id: int, exc: Exception) -> None:
    """An error outside any one document: the job is failed, or the console would wait for it forever."""
    IngestionJob.objects.filter(pk=job_id).exclude(status__in=JOB_FINISHED).update(
        status=IngestionJob.Status.FAILED,
        finished_at=timezone.now(),
        errors=[{"uri": "", "error": f"internal error: {type(exc).__name__}: {exc}"}],
    )


def _job_start(targets: list[str], *, force: bool = False) -> IngestionJob:
    job = kb_services.job_create(targets=targets, force=force)
    job_enqueue_on_commit(kb_tasks.ingestion_job_task, job.pk, in_background=True, on_crash=ingestion_crashed)
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


def export_start(*, data: dict, user) -> ExportJob:
    """A dataset export job (feedback's), run in the background once the row is committed."""
    try:
        return feedback_services.export_start(data=data, user=user, in_background=True)
    except ValueError as exc:
        raise ConsoleError("invalid_format", str(exc)) from exc


# --- Drafts from resolved conversations (issue #15) ---
def conversation_resolve(*, conversation_id, agent) -> ArticleDraft | None:
    """The agent holding a taken-over conversation marks it resolved: it is closed for the visitor, and what the
    agent answered becomes a draft article in the review queue (feedback/drafts.py). Returns the draft, or None
    when there was nothing to draft (the agent never answered)."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise ConsoleError("unknown_conversation", _("No such conversation."))
    # Only an answer a human gave is worth drafting: the conversation must be taken over, and by this agent.
    if conversation.assigned_agent_id != agent.pk:
        raise ConsoleError("not_taken_over", _("Take the conversation over before marking it resolved."))
    try:
        with transaction.atomic():
            draft = article_draft_create(conversation=conversation, agent=agent)
            takeover.conversation_close(conversation_id=conversation.pk, agent=agent)
    except ChatError as exc:
        raise ConsoleError(exc.code, exc.detail) from exc
    return draft
