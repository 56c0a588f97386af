from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction

from kb import quarantine, services, tasks
from kb.models import Chunk, Document, IngestionJob, KnowledgeBaseState, Source
from supportbot.jobs import job_enqueue_on_commit


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description="Re-ingest the selected documents")
def reingest(modeladmin, request, queryset) -> None:
    job = services.job_create(targets=list(queryset.values_list("uri", flat=True)), force=True)
    job_enqueue_on_commit(tasks.ingestion_job_task, job.pk)
    messages.success(request, f"Ingestion job {job.pk} started for {queryset.count()} document(s).")


@admin.action(description="Scan the selected documents again for planted instructions")
def rescan(modeladmin, request, queryset) -> None:
    # After the scan's patterns change; a review stands when the findings come back for the same content.
    flagged = 0
    for document in queryset:
        with transaction.atomic():
            flagged += bool(quarantine.document_scan(document=document))
    services.kb_version_bump()
    messages.success(request, f"Scanned {queryset.count()} document(s); {flagged} with findings.")


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ("position", "heading", "token_count", "quarantined", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "format", "chunk_count", "flag_status", "uri", "updated_at")
    list_filter = ("flag_status", "format", "source")
    search_fields = ("title", "uri", "url")
    readonly_fields = [f.name for f in Document._meta.fields]
    actions = [reingest, rescan]
    inlines = [ChunkInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdmin):
    list_display = ("document", "position", "heading", "token_count", "quarantined")
    list_filter = ("quarantined",)
    search_fields = ("text", "document__title")
    exclude = ("embedding", "search_vector")
    readonly_fields = ("document", "position", "heading_path", "anchor", "token_count", "quarantined", "text")


@admin.register(IngestionJob)
class IngestionJobAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "kind",
        "status",
        "processed",
        "total",
        "created",
        "updated",
        "unchanged",
        "failed",
        "flagged",
        "created_at",
    )
    list_filter = ("status", "kind")


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("location", "kind", "last_synced_at")
    # Sources are added by ingesting (command line, console), where kb.targets decides what a target may be; a
    # location typed here would be re-read by `sync` every hour as a local path (issue #13). Delete only.
    readonly_fields = ("location", "kind", "last_synced_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(KnowledgeBaseState)
class KnowledgeBaseStateAdmin(ReadOnlyAdmin):
    list_display = ("embedding_model", "embedding_dimensions", "version", "updated_at")
