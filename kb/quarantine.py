"""Quarantine of planted instructions: the scan's findings on a document, its chunks kept out of retrieval, and the
admin's review (release, or keep quarantined).

document_scan runs inside the transaction that stores a document's chunks (kb/services.py), so no reader ever
sees a flagged chunk outside quarantine. A release holds for the content it was given for: when the document
changes and the scan still finds something, it is quarantined again and waits for a new review.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kb.injection_scan import TITLE, Finding, document_findings
from kb.models import Chunk, Document, FlagStatus, KnowledgeBaseState

# Statuses whose flagged chunks stay out of answers.
HELD = (FlagStatus.QUARANTINED, FlagStatus.KEPT)


class QuarantineError(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


def document_scan(*, document: Document) -> list[Finding]:
    """Scan a stored document's chunks; record the findings and quarantine the chunks that carry them."""
    chunks = document.chunks.order_by("position").values_list("position", "heading_path", "text")
    findings = document_findings(title=document.title, chunks=chunks)
    reviewed = bool(findings) and document.flag_reviewed_hash == document.content_hash
    if not findings:
        status = FlagStatus.CLEAN
    elif reviewed and document.flag_status in (FlagStatus.RELEASED, FlagStatus.KEPT):
        status = document.flag_status
    else:
        status = FlagStatus.QUARANTINED
    document.flag_status, document.flagged_reasons = status, [f.as_dict() for f in findings]
    if not reviewed:
        document.flag_reviewed_by, document.flag_reviewed_at, document.flag_reviewed_hash = "", None, ""
    document.save(update_fields=[*_FLAG_FIELDS, "updated_at"])
    _chunks_hold(document, held=status in HELD)
    return findings


def document_release(*, document_id: int, reviewer: str) -> Document:
    """An admin read the findings and trusts the document: its chunks answer again."""
    return _review(document_id, status=FlagStatus.RELEASED, reviewer=reviewer)


def document_quarantine_keep(*, document_id: int, reviewer: str) -> Document:
    """An admin confirmed the findings: the flagged chunks stay out of answers (also after a release)."""
    return _review(document_id, status=FlagStatus.KEPT, reviewer=reviewer)


def document_held(*, uri: str) -> bool:
    """Whether the document at `uri` has chunks in quarantine (for the ingestion job's count)."""
    return Document.objects.filter(uri=uri, flag_status__in=HELD).exists()


_FLAG_FIELDS = ["flag_status", "flagged_reasons", "flag_reviewed_by", "flag_reviewed_at", "flag_reviewed_hash"]


@transaction.atomic
def _review(document_id: int, *, status: str, reviewer: str) -> Document:
    document = Document.objects.select_for_update().filter(pk=document_id).first()
    if document is None:
        raise QuarantineError("not_found", "The document no longer exists.")
    if document.flag_status == FlagStatus.CLEAN:
        raise QuarantineError("not_flagged", "The document is not flagged.")
    document.flag_status, document.flag_reviewed_by = status, reviewer[:150]
    document.flag_reviewed_at, document.flag_reviewed_hash = timezone.now(), document.content_hash
    document.save(update_fields=[*_FLAG_FIELDS, "updated_at"])
    _chunks_hold(document, held=status in HELD)
    # What may be retrieved changed: answers cached on the old knowledge base must not be served.
    KnowledgeBaseState.objects.update(version=F("version") + 1, updated_at=timezone.now())
    return document


def _chunks_hold(document: Document, *, held: bool) -> None:
    document.chunks.filter(quarantined=True).update(quarantined=False)
    if not held:
        return
    positions = {reason["chunk"] for reason in document.flagged_reasons}
    chunks = document.chunks.all() if TITLE in positions else document.chunks.filter(position__in=positions)
    chunks.update(quarantined=True)


def flagged_chunk_positions(document: Document) -> set[int]:
    """Positions of the chunks a finding is about (every chunk when the title is)."""
    positions = {reason["chunk"] for reason in document.flagged_reasons}
    if TITLE in positions:
        return set(Chunk.objects.filter(document=document).values_list("position", flat=True))
    return positions
