from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from feedback import services
from feedback.models import (
    ConfidenceCalibration,
    Correction,
    ExportJob,
    GoodExample,
    ImplicitSignal,
    Rating,
    ReviewItem,
)
from supportbot.console.access import is_console_admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _short(text: str, limit: int = 80) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@admin.register(Rating)
class RatingAdmin(ReadOnlyAdmin):
    list_display = ("pk", "message", "value", "reason", "comment", "updated_at")
    list_filter = ("value", "reason")
    search_fields = ("comment", "message__text")


@admin.register(ImplicitSignal)
class ImplicitSignalAdmin(ReadOnlyAdmin):
    list_display = ("pk", "message", "kind", "detail", "created_at")
    list_filter = ("kind",)


class CorrectionForm(forms.ModelForm):
    class Meta:
        model = Correction
        fields = ("message", "text")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("message") is not None and not self.instance.pk:
            try:
                services.correction_check(message=data["message"], text=data.get("text", ""))
            except services.FeedbackError as exc:
                raise forms.ValidationError(exc.detail) from exc
        return data


@admin.action(description="Approve and publish as an FAQ document", permissions=["publish"])
def approve(modeladmin, request, queryset) -> None:
    for correction in queryset:
        services.correction_approve(correction_id=correction.pk, approver=request.user)
    messages.success(request, f"Approved {queryset.count()} correction(s); their FAQ pages are being ingested.")


@admin.action(description="Reject (and remove any FAQ document)", permissions=["publish"])
def reject(modeladmin, request, queryset) -> None:
    for correction in queryset:
        services.correction_reject(correction_id=correction.pk)
    messages.success(request, f"Rejected {queryset.count()} correction(s).")


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    form = CorrectionForm
    list_display = ("pk", "question", "status", "author", "approved_by", "approved_at", "faq", "created_at")
    list_filter = ("status",)
    search_fields = ("text", "message__text", "message__reply_to__text")
    raw_id_fields = ("message",)
    actions = [approve, reject]

    def has_publish_permission(self, request) -> bool:
        # Publishing into the public knowledge base is for support admins, as in the console (views/review.py).
        return is_console_admin(request.user)

    @admin.display(description="question")
    def question(self, obj: Correction) -> str:
        return _short(obj.message.reply_to.text if obj.message.reply_to else "")

    @admin.display(description="FAQ page")
    def faq(self, obj: Correction) -> str:
        return format_html('<a href="{}">{}</a>', obj.faq_url, obj.faq_url) if obj.document_id else "—"

    def get_readonly_fields(self, request, obj=None):
        fixed = ("status", "author", "approved_by", "approved_at", "document")
        return ("message", "text", *fixed) if obj and obj.status != Correction.Status.DRAFT else fixed

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.correction_write(message_id=obj.message_id, author=request.user, text=obj.text)
        obj.pk, obj.author, obj.created_at = created.pk, created.author, created.created_at


@admin.register(GoodExample)
class GoodExampleAdmin(admin.ModelAdmin):
    list_display = ("pk", "message", "marked_by", "created_at")
    raw_id_fields = ("message",)
    fields = ("message",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        example = services.answer_mark_good(message_id=obj.message_id, user=request.user)
        obj.pk, obj.marked_by, obj.created_at = example.pk, example.marked_by, example.created_at


class ExportJobForm(forms.ModelForm):
    since = forms.DateField(required=False)
    until = forms.DateField(required=False, help_text="Inclusive.")
    rating = forms.ChoiceField(choices=[("", "any"), *Rating.Value.choices], required=False)
    widget = forms.CharField(required=False, help_text="Widget key; empty for all.")

    class Meta:
        model = ExportJob
        fields = ("format",)


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    form = ExportJobForm
    list_display = ("pk", "format", "status", "rows_written", "skipped", "created_at", "finished_at", "download")
    list_filter = ("status", "format")

    @admin.display(description="file")
    def download(self, obj: ExportJob) -> str:
        if obj.status != ExportJob.Status.SUCCEEDED:
            return "—"
        return format_html('<a href="{}">download</a>', reverse("feedback:export-download", args=[obj.pk]))

    def has_add_permission(self, request) -> bool:
        # Exports hold every visitor's words: support admins only, as in the console and the download view.
        return is_console_admin(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        job = services.export_start(data=form.cleaned_data, user=request.user)
        obj.pk, obj.created_at = job.pk, job.created_at


@admin.register(ConfidenceCalibration)
class ConfidenceCalibrationAdmin(ReadOnlyAdmin):
    list_display = ("pk", "high", "low", "samples", "created_at")


@admin.register(ReviewItem)
class ReviewQueueAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "question_text", "answer", "rating", "reason", "escalated", "status", "correct")
    list_filter = ("conversation__status",)
    search_fields = ("text", "reply_to__text")

    def get_queryset(self, request):
        return ReviewItem.objects.review_queue()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="question")
    def question_text(self, obj) -> str:
        return _short(obj.question)

    @admin.display(description="answer")
    def answer(self, obj) -> str:
        return _short(obj.text)

    @admin.display(description="rating")
    def rating(self, obj) -> str:
        return obj.rating or "—"

    @admin.display(description="reason")
    def reason(self, obj) -> str:
        return obj.reason or "—"

    @admin.display(description="escalated", boolean=True)
    def escalated(self, obj) -> bool:
        return obj.escalated

    @admin.display(description="conversation")
    def status(self, obj) -> str:
        return obj.conversation_status

    @admin.display(description="")
    def correct(self, obj) -> str:
        url = reverse("admin:feedback_correction_add") + f"?message={obj.pk}"
        return format_html('<a href="{}">write a correction</a>', url)
