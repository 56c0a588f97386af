"""Writes to the knowledge base: ingestion jobs, documents and their chunks, re-embedding.

A job expands its targets into documents and ingests each on its own: one bad document is an error row in the
job, never the end of the run. A document's chunks are replaced in one transaction, so readers see the old
chunks or the new ones, never none. Unchanged content (same hash, or HTTP 304) is a no-op.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from kb.embeddings import Embedder, active_model, embedder, model_for_languages
from kb.extraction import Extracted, ExtractionError, extract, format_for
from kb.fetching import Fetched, FetchError, fetch, is_web_address
from kb.language import language_detect
from kb.models import Chunk, Document, IngestionJob, KnowledgeBaseState, Source, chunking_signature
from kb.quarantine import document_held, document_scan
from kb.sources import Candidate, TargetError, expand
from kb.targets import local_file_read, target_check

logger = logging.getLogger(__name__)
ProgressCallback = Callable[[IngestionJob], None]

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


def job_create(*, targets: list[str], prune: bool = False, force: bool = False, kind: str = "ingest") -> IngestionJob:
    return IngestionJob.objects.create(kind=kind, targets=list(targets), prune=prune, force=force)


def job_run(*, job_id: int, on_progress: ProgressCallback | None = None) -> IngestionJob:
    """Run an ingestion job to the end, recording progress and per-document errors on its row.

    Safe to run again for the same job. A finished job is left alone. A job still "running" was left half done by
    a worker that died: it resumes after the documents already counted (targets expand in a stable order), and
    each document's store and its count commit together, so every document is counted once and its chunks are
    written once. Two copies of one job must not run at the same time: the Celery task holds the job's lock.
    """
    job = IngestionJob.objects.get(pk=job_id)
    if job.is_finished:
        return job  # a retried task for a finished job does nothing
    already_done = job.processed if job.status == IngestionJob.Status.RUNNING else 0
    if already_done:
        logger.info("resuming ingestion job %s after %s documents", job.pk, already_done)
    job.status, job.started_at = IngestionJob.Status.RUNNING, job.started_at or timezone.now()
    job.save(update_fields=["status", "started_at"])
    plans = _expand_targets(job)
    job.total = sum(len(candidates) for _, candidates in plans)
    job.save(update_fields=["total", "errors", "failed"])
    position = 0
    for source, candidates in plans:
        seen = {c.uri for c in candidates}
        for candidate in candidates:
            position += 1
            if position <= already_done:
                continue
            _ingest_one(job, candidate)
            if on_progress:
                on_progress(job)
        source.last_synced_at = timezone.now()
        source.save(update_fields=["last_synced_at"])
        if job.prune:
            job.deleted += _prune(source, keep=seen)
    if job.created or job.updated or job.deleted:
        keyword_stats_refresh()
    return _finish(job)


def job_fail(*, job_id: int, reason: str) -> None:
    """Mark an unfinished job failed (its task hit the time limit), keeping what it already ingested."""
    job = IngestionJob.objects.get(pk=job_id)
    if not job.is_finished:
        job.errors.append({"uri": "", "error": reason})
        job.status, job.finished_at = IngestionJob.Status.FAILED, timezone.now()
        job.save(update_fields=["errors", "status", "finished_at"])


def jobs_unfinished(*, queued_before: datetime) -> list[int]:
    """Jobs a worker may have lost: running ones, and ones queued before `queued_before` but never started."""
    running = Q(status=IngestionJob.Status.RUNNING)
    stuck = Q(status=IngestionJob.Status.QUEUED, created_at__lt=queued_before)
    return list(IngestionJob.objects.filter(running | stuck).order_by("pk").values_list("pk", flat=True))


def _expand_targets(job: IngestionJob) -> list[tuple[Source, list[Candidate]]]:
    plans = []
    for target in job.targets:
        try:
            plans.append(expand(target, force=job.force))
        except TargetError as exc:
            error = {"uri": target, "error": str(exc)}
            if error not in job.errors:  # a resumed job already counted it
                job.failed += 1
                job.errors.append(error)
    return plans


def _ingest_one(job: IngestionJob, candidate: Candidate) -> None:
    # The document and the job's counters commit together: a worker killed in between leaves neither.
    with transaction.atomic():
        outcome, chunk_total = _ingest_outcome(job, candidate)
        setattr(job, outcome, getattr(job, outcome) + 1)
        job.processed += 1
        job.chunks_written += chunk_total
        job.flagged += outcome in (CREATED, UPDATED) and document_held(uri=candidate.uri)  # kb/quarantine.py
        counts = ["processed", "created", "updated", "unchanged", "failed", "chunks_written", "errors", "flagged"]
        job.save(update_fields=counts)


def _ingest_outcome(job: IngestionJob, candidate: Candidate) -> tuple[str, int]:
    try:
        with transaction.atomic():  # a savepoint: a database error here must not spoil the job's transaction
            return document_ingest(candidate=candidate, force=job.force)
    except SoftTimeLimitExceeded:
        raise  # the task's time limit is not a document's error: the task decides (kb.tasks)
    except (ExtractionError, FetchError) as exc:
        job.errors.append({"uri": candidate.uri, "error": str(exc)})
    except Exception as exc:  # noqa: BLE001 — one broken document must not stop the run
        logger.exception("ingesting %s failed", candidate.uri)
        job.errors.append({"uri": candidate.uri, "error": f"internal error: {type(exc).__name__}: {exc}"})
    return "failed", 0


def _finish(job: IngestionJob) -> IngestionJob:
    if job.failed and not (job.created or job.updated or job.unchanged):
        job.status = IngestionJob.Status.FAILED
    elif job.failed:
        job.status = IngestionJob.Status.PARTIAL
    else:
        job.status = IngestionJob.Status.SUCCEEDED
    job.finished_at = timezone.now()
    job.save()
    return job


def document_ingest(*, candidate: Candidate, force: bool = False) -> tuple[str, int]:
    """Ingest one document. Returns (created | updated | unchanged, chunks written)."""
    existing = Document.objects.filter(uri=candidate.uri).first()
    # Conditional requests only make sense when the stored chunks were cut with today's settings.
    reusable = existing if existing and not force and existing.chunking == chunking_signature() else None
    loaded = _load(candidate, existing=reusable)
    if loaded.not_modified:
        return UNCHANGED, 0
    content_hash = _content_hash(loaded.data)
    if existing and existing.content_hash == content_hash and not force:
        _remember_source(existing, candidate, loaded)
        return UNCHANGED, 0
    fmt = format_for(candidate.uri, loaded.content_type) or "text"
    extracted = extract(loaded.data, name=candidate.uri, format=fmt, url=_public_url(candidate), charset=loaded.charset)
    language = language_detect(extracted.text)
    model = _embedder_for_language(language)
    vectors = model.embed([embedding_text(extracted.title, c.heading_path, c.text) for c in extracted.chunks])
    _store(candidate, loaded, extracted, vectors, content_hash, language=language)
    return (UPDATED if existing else CREATED), len(extracted.chunks)


def _embedder_for_language(language: str) -> Embedder:
    """The embedder for a document in `language`. With KB_EMBEDDING_MODEL=auto, the first document MiniLM cannot
    read moves the whole knowledge base to the multilingual model: what is already stored is re-embedded in this
    document's transaction, so search never mixes the two models' vectors."""
    wanted = model_for_languages({language})
    if wanted != active_model() and wanted != model_for_languages({"en"}):
        from kb.reembedding import documents_reembed  # reembedding builds on this module's helpers

        logger.info("a document in %r: moving the knowledge base to %s", language, wanted)
        documents_reembed(model=wanted)
    return embedder()


def _load(candidate: Candidate, *, existing: Document | None) -> Fetched:
    """The document's bytes; what its uri may be (a web address, a local path) is kb.targets' decision."""
    if candidate.prefetched is not None:
        return candidate.prefetched
    if target_check(candidate.uri, provenance=candidate.provenance) == "web":
        return fetch(
            candidate.uri,
            etag=existing.etag if existing else "",
            last_modified=existing.last_modified if existing else "",
        )
    try:
        return Fetched(url=candidate.uri, data=local_file_read(candidate.uri))
    except OSError as exc:
        raise ExtractionError(f"unreadable: {exc.strerror or exc}") from exc


def _content_hash(data: bytes) -> str:
    # Chunking settings are part of the identity: changing them re-chunks on the next ingest.
    digest = hashlib.sha256(data)
    digest.update(f"|{chunking_signature()}".encode())
    return digest.hexdigest()


def _public_url(candidate: Candidate) -> str:
    return candidate.uri if is_web_address(candidate.uri) else ""


def embedding_text(title: str, heading_path: list[str], text: str) -> str:
    """What gets embedded: the chunk with its document title and section headings as context."""
    headings = heading_path[1:] if heading_path and heading_path[0] == title else heading_path
    context = " > ".join([title, *headings])
    return f"{context}\n\n{text}"


def _remember_source(document: Document, candidate: Candidate, loaded: Fetched) -> None:
    document.source = candidate.source
    document.etag, document.last_modified = loaded.etag, loaded.last_modified
    document.save(update_fields=["source", "etag", "last_modified", "updated_at"])


@transaction.atomic
def _store(
    candidate: Candidate, loaded: Fetched, extracted: Extracted, vectors, content_hash: str, *, language: str
) -> Document:
    document, _ = Document.objects.select_for_update().update_or_create(
        uri=candidate.uri,
        defaults={
            "source": candidate.source,
            "title": extracted.title,
            "url": extracted.url,
            "format": extracted.format,
            "content_hash": content_hash,
            "chunking": chunking_signature(),
            "language": language,
            "text": extracted.text,
            "byte_size": len(loaded.data),
            "etag": loaded.etag,
            "last_modified": loaded.last_modified,
            "chunk_count": len(extracted.chunks),
        },
    )
    document.chunks.all().delete()
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            position=draft.position,
            text=draft.text,
            heading_path=draft.heading_path,
            anchor=draft.anchor,
            token_count=draft.token_count,
            embedding=vector,
        )
        for draft, vector in zip(extracted.chunks, vectors, strict=True)
    )
    document_scan(document=document)  # planted instructions: flag it, quarantine those chunks (kb/quarantine.py)
    _index_keywords(document.pk)
    kb_version_bump()
    return document


def _index_keywords(document_id: int) -> None:
    """Full-text vectors: title and headings weigh more (A) than the body (B).

    kb_tsvector (migration 0004) adds character bigrams of Korean, Japanese and Chinese text to what the
    configured parser finds; retrieval cuts questions the same way.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE kb_chunk AS c
               SET search_vector =
                   setweight(kb_tsvector(%(cfg)s::regconfig,
                                         d.title || ' ' || array_to_string(c.heading_path, ' ')), 'A')
                   || setweight(kb_tsvector(%(cfg)s::regconfig, c.text), 'B')
              FROM kb_document AS d
             WHERE d.id = c.document_id AND d.id = %(doc)s
            """,
            {"cfg": settings.KB_TEXT_SEARCH_CONFIG, "doc": document_id},
        )


def _prune(source: Source, *, keep: set[str]) -> int:
    _, per_model = Document.objects.filter(source=source).exclude(uri__in=keep).delete()
    removed = per_model.get("kb.Document", 0)
    if removed:
        kb_version_bump()
    return removed


def document_delete(*, document_id: int) -> None:
    Document.objects.filter(pk=document_id).delete()
    kb_version_bump()
    keyword_stats_refresh()


def article_write(*, path: Path, title: str, url: str, body: str) -> Path:
    """Write a knowledge-base article as a Markdown file: front matter (title, public url), the title as its
    heading, then the body. The one writer of articles: approved corrections' FAQ pages and drafts (feedback/faq.py,
    drafts.py, through `article_publish`) and the console's new entries (supportbot/console/services.py)."""
    front = yaml.safe_dump({"title": title, "url": url}, allow_unicode=True, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}---\n\n# {title}\n\n{body.strip()}\n", encoding="utf-8")
    return path


def article_publish(*, path: Path, title: str, url: str, body: str) -> tuple[Document | None, list]:
    """Write the article (`article_write`) and ingest it now: its document, or None and the job's errors."""
    article_write(path=path, title=title, url=url, body=body)
    job = job_run(job_id=job_create(targets=[str(path)]).pk)
    return Document.objects.filter(uri=str(path.resolve())).first(), job.errors


@transaction.atomic
def keyword_stats_refresh() -> None:
    """Recount lexeme document frequencies and chunk lengths for BM25 (once per job, not per document).

    DELETE rather than TRUNCATE: searches running meanwhile keep reading the old statistics.
    """
    state = kb_state()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM kb_lexemestat")
        cursor.execute(
            "INSERT INTO kb_lexemestat (lexeme, ndoc) "
            "SELECT word, ndoc FROM ts_stat('SELECT search_vector FROM kb_chunk')"
        )
        cursor.execute(
            "UPDATE kb_knowledgebasestate SET chunk_total = s.total, avg_chunk_lexemes = greatest(s.avg_len, 1) "
            "FROM (SELECT count(*) AS total, coalesce(avg(length(search_vector)), 1) AS avg_len FROM kb_chunk) AS s "
            "WHERE id = %s",
            [state.pk],
        )


def sources_sync(*, on_progress: ProgressCallback | None = None, prune: bool = True) -> IngestionJob:
    """Re-ingest every remembered source; unchanged documents cost a hash or an HTTP 304."""
    job = sync_job_create(prune=prune)
    return job_run(job_id=job.pk, on_progress=on_progress)


def sync_job_create(*, prune: bool = True) -> IngestionJob:
    targets = list(Source.objects.order_by("pk").values_list("location", flat=True))
    return job_create(targets=targets, prune=prune, kind=IngestionJob.Kind.SYNC)


def kb_state() -> KnowledgeBaseState:
    state = KnowledgeBaseState.objects.order_by("pk").first()
    if state is None:
        state = KnowledgeBaseState.objects.create(
            embedding_model=active_model(), embedding_dimensions=settings.KB_EMBEDDING_DIMENSIONS
        )
    return state


def kb_version_bump() -> None:
    """Every change to chunks moves the version, so caches keyed on it (answers, evaluations) go stale."""
    state = kb_state()
    KnowledgeBaseState.objects.filter(pk=state.pk).update(version=F("version") + 1, updated_at=timezone.now())
