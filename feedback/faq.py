"""Approved corrections become knowledge-base documents: one FAQ page per correction.

Each is a Markdown file under DATA_DIR/corrections/ ingested with the normal ingestion job, so it is chunked,
embedded, searched and cited like any other source, and served at /help/faq/<id>/. The visitor's question is
scrubbed of personal data first: the page is public.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from django.conf import settings

from feedback.models import Correction
from kb import services as kb_services
from kb.models import Document, Source
from supportbot.pii import pii_redact

logger = logging.getLogger(__name__)
MAX_TITLE_QUESTION_CHARS = 200


def faq_path(correction_id: int) -> Path:
    return settings.DATA_DIR / "corrections" / f"faq-{correction_id}.md"


def faq_markdown(correction: Correction) -> str:
    """The FAQ page: front matter (title, public url), the question as its heading, the correction as body."""
    message = correction.message
    question = message.condensed_question or (message.reply_to.text if message.reply_to else "")
    question, _ = pii_redact(" ".join(question.split())[:MAX_TITLE_QUESTION_CHARS])
    title = f"FAQ: {question}"
    front = yaml.safe_dump({"title": title, "url": correction.faq_url}, allow_unicode=True, sort_keys=False)
    return f"---\n{front}---\n\n# {title}\n\n{correction.text.strip()}\n"


def faq_publish(*, correction_id: int) -> Correction:
    """Write and ingest the FAQ page of an approved correction, and link the document to it. Idempotent."""
    correction = Correction.objects.select_related("message__reply_to").get(pk=correction_id)
    if correction.status != Correction.Status.APPROVED:
        return correction  # rejected (or un-approved) since the task was queued
    path = faq_path(correction.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(faq_markdown(correction), encoding="utf-8")
    job = kb_services.job_create(targets=[str(path)])
    job = kb_services.job_run(job_id=job.pk)
    document = Document.objects.filter(uri=str(path.resolve())).first()
    if document is None:
        logger.error("correction %s: ingesting its FAQ page failed: %s", correction.pk, job.errors)
        return correction
    Correction.objects.filter(pk=correction.pk).update(document=document)
    correction.document = document
    return correction


def faq_unpublish(*, correction: Correction) -> None:
    """Remove a correction's FAQ page: the document, its remembered source and the file."""
    path = faq_path(correction.pk).resolve()
    for document in Document.objects.filter(uri=str(path)):
        kb_services.document_delete(document_id=document.pk)
    Source.objects.filter(location=str(path)).delete()
    path.unlink(missing_ok=True)
