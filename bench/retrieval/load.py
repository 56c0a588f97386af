"""Load step: synthetic documents and chunks bulk-loaded into the knowledge base, indexed as the product indexes.

Documents go in by COPY; chunks by binary COPY into a temporary table, then one `INSERT … SELECT` that computes
`search_vector` with the expression `kb.services._index_keywords` sends (read from its own statement, so the
load follows the product: `kb_tsvector`, weights, configuration). The HNSW and GIN indexes are dropped before and
re-created after from their own `pg_indexes` definitions (the product's migrations), then the product's keyword
statistics and knowledge-base version are refreshed with `kb.services`. Finally one loaded document is indexed
again by `kb.services` itself and must come out the same: the benchmark measures the index the product serves.
The chat benchmarks load their synthetic chunks here too.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import struct
import time

import numpy as np

from bench.harness import log
from bench.synth import Corpus, VectorSpace

CHUNKS_PER_DOC = 10
INDEXES = ("kb_chunk_embedding_hnsw", "kb_chunk_search_vector_gin")


def raw_connection():
    """A psycopg connection of our own for COPY and DDL (Django's connection stays untouched)."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    return psycopg.connect(**params, autocommit=True)


def _vector_binary(v: np.ndarray) -> bytes:
    # pgvector's binary wire format: int16 dimensions, int16 unused, float4 values, all big-endian.
    return struct.pack(">HH", v.shape[0], 0) + v.astype(">f4").tobytes()


def _defaults_for(model, known: set[str]) -> dict:
    """Column values for the fields the bulk load does not set itself: the model's defaults.

    The schema grows while the app is developed; a column the loader does not know about gets what a
    `Model.objects.create()` would give it (its default, "" for blank text, NULL when nullable).
    """
    out = {}
    for field in model._meta.concrete_fields:
        if field.column in known or field.primary_key:
            continue
        if field.has_default():
            out[field.column] = field.get_default()
        elif field.null:
            out[field.column] = None
        elif field.blank and field.get_internal_type() in ("CharField", "TextField"):
            out[field.column] = ""
        else:
            raise RuntimeError(f"the bulk load does not know how to fill {model.__name__}.{field.name}")
    return out


def document_extras() -> dict:
    from kb import models

    known = {"id", "uri", "title", "url", "content_hash", "chunk_count", "format", "language", "text",
             "created_at", "updated_at"}  # fmt: skip
    extras = _defaults_for(models.Document, known)
    if "chunking" in extras and hasattr(models, "chunking_signature"):
        extras["chunking"] = models.chunking_signature()  # as if ingested with the current settings
    return extras


def chunk_extras() -> dict:
    from kb.models import Chunk

    known = {"id", "document_id", "position", "text", "heading_path", "anchor", "token_count", "embedding",
             "search_vector"}  # fmt: skip
    return _defaults_for(Chunk, known)


def search_vector_expression() -> tuple[str | None, dict]:
    """The SQL expression (and its parameters) kb.services._index_keywords computes search_vector with.

    Captured from the UPDATE it sends for a document that does not exist, so the bulk load follows the app
    when the expression changes (it did while this benchmark was written). Aliases: c = chunk, d = document.
    """
    from django.db import connection

    from kb import services

    captured: list = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        services._index_keywords(-1)
    for sql, params in captured:
        match = re.search(r"SET\s+search_vector\s*=\s*(.*?)\s+FROM\s+kb_document\s+AS\s+d\s+WHERE", sql, re.S | re.I)
        if match and isinstance(params, dict):
            return match.group(1), {k: v for k, v in params.items() if f"%({k})s" in match.group(1)}
    log("  note: could not read the search_vector expression; indexing document by document instead")
    return None, {}


def chunk_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kb_chunk")
        return cursor.fetchone()[0]


def load_synthetic(
    target_total: int, corpus: Corpus, space: VectorSpace, seed: int, *, total_docs_before: int, vectors: bool = True
) -> dict:
    """Add synthetic documents and chunks until kb_chunk holds `target_total` rows; rebuild the indexes.

    `vectors=False` (keyword-only sizes): every new chunk gets one constant unit vector and the HNSW index is not
    rebuilt, so a million chunks load in minutes; only keyword search may be measured afterwards.
    """
    from django.conf import settings

    current = chunk_count()
    need = target_total - current
    if need <= 0:
        return {"added_chunks": 0}
    rng = np.random.default_rng(seed + current)
    n_docs = math.ceil(need / CHUNKS_PER_DOC)
    per_doc = np.full(n_docs, CHUNKS_PER_DOC)
    per_doc[-1] = need - CHUNKS_PER_DOC * (n_docs - 1)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    doc_topics = rng.integers(corpus.n_topics, size=n_docs)
    chunk_topics = np.repeat(doc_topics, per_doc)
    chunk_doc = np.repeat(np.arange(n_docs), per_doc)
    if vectors:
        chunk_vectors = space.chunks(space.doc_centres(doc_topics, rng)[chunk_doc], chunk_topics, rng)
    else:
        constant = _vector_binary(np.full(settings.KB_EMBEDDING_DIMENSIONS, settings.KB_EMBEDDING_DIMENSIONS**-0.5))
    bodies = corpus.bodies(chunk_topics, rng)
    timings["generate_s"] = time.perf_counter() - started

    # Read before the bulk-load transaction takes its locks (it runs an UPDATE on kb_chunk through Django).
    expression, expression_params = search_vector_expression()
    with raw_connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT coalesce(max(id), 0) FROM kb_document")
        doc_base = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM kb_chunk")
        chunk_base = cur.fetchone()[0]
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'kb_chunk' AND indexname = ANY(%s)",
            [list(INDEXES)],
        )
        index_defs = dict(cur.fetchall())
        if set(index_defs) != set(INDEXES):
            raise RuntimeError(f"expected indexes {INDEXES} on kb_chunk, found {sorted(index_defs)}")

        started = time.perf_counter()
        with conn.transaction():
            for name in INDEXES:
                cur.execute(f"DROP INDEX {name}")
            now = dt.datetime.now(dt.UTC)
            titles = []
            fixed = {"format": "markdown", "language": "en", "text": "(synthetic benchmark document)",
                     "created_at": now, "updated_at": now, **document_extras()}  # fmt: skip
            per_row = ["id", "uri", "title", "url", "content_hash", "chunk_count"]
            columns = per_row + list(fixed)
            with cur.copy(f"COPY kb_document ({', '.join(columns)}) FROM STDIN") as copy:
                for i in range(n_docs):
                    doc_id = doc_base + 1 + i
                    title = corpus.doc_title(int(doc_topics[i]), total_docs_before + i)
                    titles.append(title)
                    row = (doc_id, f"synthetic://bench/{doc_id}", title, f"/help/synthetic-{doc_id}/",
                           f"{doc_id:064x}", int(per_doc[i]))  # fmt: skip
                    copy.write_row(row + tuple(fixed.values()))
            cur.execute(
                "CREATE TEMP TABLE bench_stage (id bigint, document_id bigint, position int, text text, "
                "heading_path text[], anchor text, token_count int, embedding vector) ON COMMIT DROP"
            )
            with cur.copy("COPY bench_stage FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8", "int4", "text", "text[]", "text", "int4", "bytea"])
                position = 0
                for j in range(need):
                    d = int(chunk_doc[j])
                    position = 0 if j == 0 or chunk_doc[j - 1] != d else position + 1
                    heading = corpus.section_heading(int(chunk_topics[j]), position)
                    copy.write_row(
                        (chunk_base + 1 + j, doc_base + 1 + d, position, bodies[j], [titles[d], heading],
                         heading.lower().replace(" ", "-"), int(len(bodies[j].split()) * 1.3),
                         _vector_binary(chunk_vectors[j]) if vectors else constant)
                    )  # fmt: skip
            timings["copy_s"] = time.perf_counter() - started
            started = time.perf_counter()
            # search_vector: the expression kb.services._index_keywords uses, read from the statement it sends.
            extras = chunk_extras()
            cur.execute(
                """
                INSERT INTO kb_chunk (id, document_id, position, text, heading_path, anchor, token_count,
                                      embedding, search_vector {extra_columns})
                SELECT c.id, c.document_id, c.position, c.text, c.heading_path::varchar(500)[], c.anchor,
                       c.token_count, c.embedding::vector({dim}), {expression} {extra_values}
                  FROM bench_stage AS c JOIN kb_document AS d ON d.id = c.document_id
                """.replace("{dim}", str(int(settings.KB_EMBEDDING_DIMENSIONS)))
                .replace("{expression}", expression or "NULL")
                .replace("{extra_columns}", "".join(f", {c}" for c in extras))
                .replace("{extra_values}", "".join(f", %(extra_{c})s" for c in extras)),
                {**expression_params, **{f"extra_{c}": v for c, v in extras.items()}},
            )
            if expression is None:  # could not read it: let the app index each new document itself
                from kb import services

                for doc_id in range(doc_base + 1, doc_base + n_docs + 1):
                    services._index_keywords(doc_id)
            timings["insert_tsvector_s"] = time.perf_counter() - started
        for table in ("kb_document", "kb_chunk"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")

        # Index builds: the migration's own definitions, with room to build the HNSW graph in memory.
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute(f"SET max_parallel_maintenance_workers = {max(0, (os.cpu_count() or 1) - 1)}")
        for name in INDEXES if vectors else ("kb_chunk_search_vector_gin",):
            started = time.perf_counter()
            cur.execute(index_defs[name])
            timings[f"build_{name}_s"] = time.perf_counter() - started
        started = time.perf_counter()
        cur.execute("VACUUM (ANALYZE) kb_document")
        cur.execute("VACUUM (ANALYZE) kb_chunk")
        timings["vacuum_analyze_s"] = time.perf_counter() - started
    # Derived data the ingestion service keeps up to date (BM25 lexeme statistics, the KB version): refreshed
    # with the app's own functions, so keyword search sees the bulk-loaded chunks as if they were ingested.
    from kb import services

    started = time.perf_counter()
    services.kb_state()
    for name in ("keyword_stats_refresh",):
        if hasattr(services, name):
            getattr(services, name)()
            timings[f"{name}_s"] = time.perf_counter() - started
    services.kb_version_bump()
    keyword_index_check(doc_base + n_docs)
    return {
        "added_documents": n_docs,
        "added_chunks": need,
        **{k: round(v, 2) for k, v in timings.items()},
    }


def relation_sizes() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT relname, pg_size_pretty(pg_total_relation_size(oid)), pg_total_relation_size(oid)
              FROM pg_class WHERE relname IN ('kb_chunk', 'kb_document', %s, %s)
            """,
            list(INDEXES),
        )
        return {name: {"pretty": pretty, "bytes": size} for name, pretty, size in cursor.fetchall()}


def keyword_index_check(document_id: int) -> None:
    """Index one bulk-loaded document again with the product's own code (`kb.services`): its full-text vectors
    must not change, or the benchmark would measure a different keyword index than the product serves."""
    from django.db import connection

    from kb import services

    def vectors() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(search_vector::text, '') FROM kb_chunk WHERE document_id = %s ORDER BY id",
                [document_id],
            )
            return [row[0] for row in cursor.fetchall()]

    loaded = vectors()
    services._index_keywords(document_id)
    if not loaded or vectors() != loaded:
        raise RuntimeError(f"bulk-loaded keyword index of document {document_id} differs from kb.services'")
