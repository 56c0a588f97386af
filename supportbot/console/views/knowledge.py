"""Knowledge-base management (admins): ingest files, pages and sitemaps, follow the jobs, browse documents and
their chunks, re-ingest or delete them, and try queries in the search playground."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

import kb
from kb import quarantine
from kb.models import Document, IngestionJob
from supportbot.console import services
from supportbot.console.access import admin_required
from supportbot.console.forms import PlaygroundForm, UploadForm, UrlsForm

JOBS_SHOWN = 15
DOCUMENTS_PER_PAGE = 50


def job_row(job: IngestionJob) -> dict:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.is_finished,
        "targets": [_short_target(t) for t in job.targets],
        "total": job.total,
        "processed": job.processed,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "failed": job.failed,
        "deleted": job.deleted,
        "chunks_written": job.chunks_written,
        "flagged": job.flagged,
        "errors": [{"uri": _short_target(e.get("uri", "")), "error": e.get("error", "")} for e in job.errors],
        "created_at": job.created_at.isoformat(),
    }


def _short_target(target: str) -> str:
    return target if target.startswith(("http://", "https://")) else Path(target).name or target


def _jobs() -> list[dict]:
    return [job_row(job) for job in IngestionJob.objects.order_by("-created_at", "-pk")[:JOBS_SHOWN]]


@require_GET
@admin_required
def kb_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    documents = Document.objects.order_by("title").only(
        "title", "uri", "url", "format", "chunk_count", "updated_at", "flag_status", "flagged_reasons"
    )
    if query:
        documents = documents.filter(title__icontains=query)
    page = Paginator(documents, DOCUMENTS_PER_PAGE).get_page(request.GET.get("page"))
    for document in page:
        document.flag_kinds = sorted({reason["what"] for reason in flag_reasons(document)})
    context = {"upload_form": UploadForm(), "urls_form": UrlsForm(), "jobs": _jobs(), "page": page, "q": query}
    return render(request, "console/kb.html", context)


@require_GET
@admin_required
def jobs_json(request: HttpRequest) -> JsonResponse:
    """Polled every second by the knowledge-base page while a job is unfinished."""
    return JsonResponse({"jobs": _jobs()})


def _started(request: HttpRequest, start: Callable[[], IngestionJob]) -> HttpResponse:
    """Start an ingestion job and go back to the knowledge-base page saying so, or why it could not start."""
    try:
        job = start()
    except services.ConsoleError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Ingestion job %(id)s started.") % {"id": job.pk})
    return redirect("console:kb")


@require_POST
@admin_required
def kb_upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose at least one file."))
        return redirect("console:kb")
    return _started(request, lambda: services.upload_ingest(files=form.cleaned_data["files"]))


@require_POST
@admin_required
def kb_urls(request: HttpRequest) -> HttpResponse:
    form = UrlsForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("urls", [])))
        return redirect("console:kb")
    return _started(request, lambda: services.urls_ingest(urls=form.cleaned_data["urls"]))


@require_GET
@admin_required
def document_page(request: HttpRequest, pk: int) -> HttpResponse:
    document = get_object_or_404(Document, pk=pk)
    context = {
        "document": document,
        "chunks": document.chunks.all(),
        "flagged_positions": quarantine.flagged_chunk_positions(document),
        "flag_reasons": flag_reasons(document),
    }
    return render(request, "console/kb_document.html", context)


# --- Planted-instruction review (kb/quarantine.py): admins only, since a release puts text into public answers ---
@require_POST
@admin_required
def document_release(request: HttpRequest, pk: int) -> HttpResponse:
    return _review(request, pk, quarantine.document_release, _("The document was released: all its chunks answer."))


@require_POST
@admin_required
def document_quarantine_keep(request: HttpRequest, pk: int) -> HttpResponse:
    done = _("The document stays in quarantine: its flagged chunks never answer.")
    return _review(request, pk, quarantine.document_quarantine_keep, done)


def _review(request: HttpRequest, pk: int, review, done: str) -> HttpResponse:
    try:
        review(document_id=pk, reviewer=request.user.get_username())
    except quarantine.QuarantineError as exc:
        messages.error(request, _REVIEW_ERRORS.get(exc.code, exc.detail))
        return redirect("console:kb")
    messages.success(request, done)
    return redirect("console:document", pk=pk)


def flag_reasons(document: Document) -> list[dict]:
    """The scan's findings in the console's words: where (title or chunk), what, and the sentence."""
    reasons = []
    for reason in document.flagged_reasons:
        chunk = reason["chunk"]
        where = _("title") if chunk is None else _("chunk #%(position)s") % {"position": chunk}
        if reason["kind"] == "secrets":
            what = _("asks for secrets (%(what)s)") % {"what": reason["detail"]}
        else:
            what = _("gives the assistant orders")
        reasons.append({"where": where, "what": what, "excerpt": reason["excerpt"]})
    return reasons


_REVIEW_ERRORS = {
    "not_found": gettext_lazy("The document no longer exists."),
    "not_flagged": gettext_lazy("The document is not flagged."),
}
# --- end planted-instruction review ---


@require_POST
@admin_required
def document_reingest(request: HttpRequest, pk: int) -> HttpResponse:
    return _started(request, lambda: services.document_reingest(document_id=pk))


@require_POST
@admin_required
def document_delete(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.document_remove(document_id=pk)
    except services.ConsoleError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("The document was deleted."))
    return redirect("console:kb")


@require_GET
@admin_required
def playground(request: HttpRequest) -> HttpResponse:
    """The same kb.search the chat uses, with each result's vector, keyword and fused scores."""
    form = PlaygroundForm(request.GET or None)
    results = []
    if form.is_valid():
        data = form.cleaned_data
        results = kb.search(data["q"], k=data["k"] or 10, mode=data["mode"] or "hybrid")
    return render(request, "console/playground.html", {"form": form, "results": results})
