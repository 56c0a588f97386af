"""Switching embedding models: `reembed` rewrites every chunk's vector with the configured model (with
KB_EMBEDDING_MODEL=auto, the one the documents' languages call for: kb.embeddings.model_for_languages).

The knowledge base records the model its vectors come from, and with `auto` every process embeds questions with
that one, so the switch takes effect everywhere when this transaction commits. When the new model's dimension
differs, the column type changes and the HNSW index is rebuilt; everything
happens in one transaction, so search keeps working on the old vectors until the new ones are committed.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from pgvector import Vector

from kb.embeddings import embedder_for, model_for_languages
from kb.models import Chunk, Document, KnowledgeBaseState
from kb.services import embedding_text, kb_state, kb_version_bump

BATCH = 256


def documents_reembed(
    *, model: str | None = None, on_progress: Callable[[int, int], None] | None = None
) -> KnowledgeBaseState:
    """Re-embed every chunk with `model` (by default the one the settings and the documents' languages choose)."""
    model = embedder_for(model or knowledge_base_model())
    total = Chunk.objects.count()
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Chunks inserted earlier in the same transaction (a job's document that triggers the switch) leave
            # deferred foreign-key checks, and Postgres refuses to alter or index a table with pending ones.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        _set_dimensions(model.dimensions)
        done = 0
        chunks = Chunk.objects.select_related("document").order_by("pk")
        for start in range(0, total, BATCH):
            batch = list(chunks[start : start + BATCH])
            vectors = model.embed([embedding_text(c.document.title, c.heading_path, c.text) for c in batch])
            _write_vectors(batch, vectors)
            done += len(batch)
            if on_progress:
                on_progress(done, total)
        _rebuild_index()
        _semantic_cache_clear(model.dimensions)
        state = kb_state()
        state.embedding_model, state.embedding_dimensions = model.model_name, model.dimensions
        state.save()
    kb_version_bump()
    return state


def _set_dimensions(dimensions: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS kb_chunk_embedding_hnsw")
        cursor.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'kb_chunk'::regclass AND attname = 'embedding'"
        )
        if cursor.fetchone()[0] != dimensions:
            cursor.execute(
                "ALTER TABLE kb_chunk ALTER COLUMN embedding DROP NOT NULL, "
                f"ALTER COLUMN embedding TYPE vector({int(dimensions)}) USING NULL"
            )


def _write_vectors(batch: list[Chunk], vectors) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE kb_chunk SET embedding = %s::vector WHERE id = %s",
            [(Vector(vector.tolist()).to_text(), chunk.pk) for chunk, vector in zip(batch, vectors, strict=True)],
        )


def _rebuild_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE kb_chunk ALTER COLUMN embedding SET NOT NULL")
        cursor.execute(
            "CREATE INDEX kb_chunk_embedding_hnsw ON kb_chunk USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )


def _semantic_cache_clear(dimensions: int) -> None:
    """Cached answers were found by the old model's question vectors: none of them may match a new one (and
    with another dimension, comparing them would be an error). The chat app owns the table; kb only empties it."""
    from django.apps import apps

    cached = apps.get_model("chat", "CachedAnswer")
    table = connection.ops.quote_name(cached._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN embedding TYPE vector({int(dimensions)})")


def knowledge_base_model() -> str:
    """The model the stored documents call for: with `auto`, multilingual as soon as one is not in English."""
    languages = set(Document.objects.values_list("language", flat=True).distinct())
    return model_for_languages(languages)


def dimensions_match_settings() -> bool:
    return kb_state().embedding_dimensions == settings.KB_EMBEDDING_DIMENSIONS
