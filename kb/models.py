from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

from kb.public_links import document_link
from supportbot.jobs import BackgroundJob


def chunking_signature() -> str:
    """The chunking settings a document was cut with; a change means its chunks must be cut again."""
    return f"{settings.KB_CHUNK_TOKENS}/{settings.KB_CHUNK_OVERLAP_TOKENS}"


class Source(models.Model):
    """Something the team pointed the knowledge base at: a file, a folder, a page or a sitemap.

    Remembered so `sync` (and the periodic task) can re-ingest what changed.
    """

    class Kind(models.TextChoices):
        PATH = "path", _("File or folder")
        URL = "url", _("Web page")
        SITEMAP = "sitemap", _("Sitemap")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    location = models.CharField(max_length=2048, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.location


class FlagStatus(models.TextChoices):
    """Where a document stands after the planted-instruction scan."""

    CLEAN = "clean", _("Clean")
    QUARANTINED = "quarantined", _("Quarantined, awaiting review")
    KEPT = "kept", _("Kept in quarantine")
    RELEASED = "released", _("Released by an admin")


class Document(models.Model):
    class Format(models.TextChoices):
        MARKDOWN = "markdown", _("Markdown")
        HTML = "html", _("HTML")
        PDF = "pdf", _("PDF")
        TEXT = "text", _("Plain text")

    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")
    uri = models.CharField(max_length=2048, unique=True, help_text="Absolute file path or URL it was read from.")
    title = models.CharField(max_length=500)
    url = models.CharField(max_length=2048, blank=True, help_text="Public link for citations.")
    format = models.CharField(max_length=16, choices=Format.choices)
    language = models.CharField(max_length=16, default="en")
    content_hash = models.CharField(max_length=64)
    chunking = models.CharField(max_length=32, blank=True, help_text="Chunk size/overlap it was cut with.")
    text = models.TextField(help_text="The cleaned text (Markdown) the chunks were cut from.")
    byte_size = models.PositiveIntegerField(default=0)
    etag = models.CharField(max_length=512, blank=True)
    last_modified = models.CharField(max_length=128, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # --- Planted-instruction scan (kb/injection_scan.py, kb/quarantine.py) ---
    # Knowledge-base text is untrusted: a chunk that gives the assistant orders or asks for secrets is kept out
    # of retrieval until an admin releases the document. A release holds for the content it was given for.
    flag_status = models.CharField(max_length=16, choices=FlagStatus.choices, default=FlagStatus.CLEAN)
    flagged_reasons = models.JSONField(default=list, blank=True, help_text="What the scan found, per chunk.")
    flag_reviewed_by = models.CharField(max_length=150, blank=True)
    flag_reviewed_at = models.DateTimeField(null=True, blank=True)
    flag_reviewed_hash = models.CharField(max_length=64, blank=True, help_text="The content the review was for.")
    # --- end of the planted-instruction scan ---

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    text = models.TextField()
    heading_path = ArrayField(models.CharField(max_length=500), default=list, blank=True)
    anchor = models.CharField(max_length=500, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    embedding = VectorField(dimensions=settings.KB_EMBEDDING_DIMENSIONS)
    search_vector = SearchVectorField(null=True)
    # The scan found planted instructions here and no admin released it: kb.search never returns it.
    quarantined = models.BooleanField(default=False)

    class Meta:
        ordering = ["document_id", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="kb_chunk_unique_position")]
        indexes = [
            HnswIndex(
                name="kb_chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(name="kb_chunk_search_vector_gin", fields=["search_vector"]),
        ]

    def __str__(self) -> str:
        return f"{self.document.title} #{self.position}"

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def link(self) -> str:
        # What visitors see: never the document's uri, the server path an upload or local file was read from.
        return document_link(url=self.document.url, document_id=self.document_id, anchor=self.anchor)


class KnowledgeBaseState(models.Model):
    """One row: which embedding model the stored vectors come from, and a version bumped on every change."""

    embedding_model = models.CharField(max_length=500)
    embedding_dimensions = models.PositiveIntegerField()
    version = models.PositiveBigIntegerField(default=0)
    # Corpus statistics for BM25 keyword ranking, refreshed with LexemeStat after each change.
    chunk_total = models.PositiveIntegerField(default=0)
    avg_chunk_lexemes = models.FloatField(default=1.0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.embedding_model} ({self.embedding_dimensions}-d), version {self.version}"


class LexemeStat(models.Model):
    """How many chunks contain each full-text lexeme: the document frequency BM25's IDF needs."""

    lexeme = models.TextField(primary_key=True)
    ndoc = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.lexeme}: {self.ndoc}"


class IngestionJob(BackgroundJob):
    class Kind(models.TextChoices):
        INGEST = "ingest", _("Ingest")
        SYNC = "sync", _("Sync")
        REEMBED = "reembed", _("Re-embed")

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INGEST)
    targets = models.JSONField(default=list, help_text="Paths and URLs this job was asked to ingest.")
    prune = models.BooleanField(default=False)
    force = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    chunks_written = models.PositiveIntegerField(default=0)
    # Documents this job wrote that the planted-instruction scan quarantined.
    flagged = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    class Meta(BackgroundJob.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} ({self.status})"
