from __future__ import annotations

from django.contrib import admin

from supportbot.chat.limits import LIMIT_SETTINGS
from supportbot.chat.models import AgentPresence, CachedAnswer, Conversation, Message, Widget

LIMIT_FIELDS = tuple(LIMIT_SETTINGS)


@admin.register(Widget)
class WidgetAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "title", "allowed_origins", "created_at")
    search_fields = ("name", "key")
    fieldsets = [
        (None, {"fields": ("name", "key", "allowed_origins")}),
        ("Appearance", {"fields": ("title", "greeting", "accent_color")}),
        ("Guards", {"fields": ("pii_policy", "allowed_topics", "banned_words", "competitor_names")}),
        ("Limits", {"fields": LIMIT_FIELDS, "classes": ["collapse"]}),
    ]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "role", "text", "confidence", "confidence_label", "model")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("pk", "widget", "visitor_id", "status", "escalation_reason", "updated_at")
    list_filter = ("status", "widget", "escalation_reason")
    search_fields = ("visitor_id", "messages__text", "contact_email", "ticket_reference")
    readonly_fields = ("widget", "visitor_id", "origin", "created_at", "updated_at", "ticket_reference")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("pk", "conversation", "role", "confidence_label", "model", "created_at")
    list_filter = ("role", "confidence_label", "model", "from_cache")
    search_fields = ("text",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


admin.site.register(CachedAnswer)
admin.site.register(AgentPresence)
