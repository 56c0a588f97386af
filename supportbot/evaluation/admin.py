from __future__ import annotations

from django.contrib import admin

from supportbot.evaluation.models import EvalRun


@admin.register(EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "source", "kb_version", "document_count", "hybrid_hit", "groundedness")
    readonly_fields = ("created_at", "source", "settings_snapshot", "kb_version", "document_count", "metrics", "cases")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="hybrid hit@k")
    def hybrid_hit(self, run: EvalRun):
        hybrid = run.metrics.get("modes", {}).get("hybrid", {})
        return hybrid.get(f"hit@{run.metrics.get('k')}")

    @admin.display(description="groundedness")
    def groundedness(self, run: EvalRun):
        return run.metrics.get("answers", {}).get("groundedness")
