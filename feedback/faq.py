"""Approved corrections become knowledge-base documents: one FAQ page per correction.

Each is a Markdown file under DATA_DIR/corrections/, written by kb.services.article_write (the one writer of
knowledge-base articles) and ingested with the normal ingestion job, so it is chunked, embedded, searched and
cited like any other source, and served at /help/faq/<id>/. The visitor's question is scrubbed of personal data
first: the page is public.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from feedback.models import Correction
from kb import services as kb_services
from kb.models import Document, Source
from supportbot.pii import pii_redact

logger = logging.getLogger(__name__)
MAX_TITLE_QUESTION_CHARS = 200


def faq_path(correction_id: int) -> Path:
    return settings.DATA_DIR / "corrections" / f"faq-{correction_id}.md"


def faq_title(correction: Correction) -> str:
    """The FAQ page's title (and heading): the question it answers, scrubbed of personal data."""
    message = correction.message
    question = message.condensed_question or (message.reply_to.text if message.reply_to else "")
    question, _ = pii_redact(" ".join(question.split())[:MAX_TITLE_QUESTION_CHARS])
    return f"FAQ: {question}"


def faq_publish(*, correction_id: int) -> Correction:
    """Write and ingest the FAQ page of an approved correction, and link the document to it. Idempotent."""
    correction = Correction.objects.select_related("message__reply_to").get(pk=correction_id)
    if correction.status != Correction.Status.APPROVED:
        return correction  # rejected (or un-approved) since the task was queued
    document, errors = kb_services.article_publish(
        path=faq_path(correction.pk), title=faq_title(correction), url=correction.faq_url, body=correction.text
    )
    if document is None:
        logger.error("correction %s: ingesting its FAQ page failed: %s", correction.pk, errors)
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
