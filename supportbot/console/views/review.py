"""Feedback review: the queue of down-rated and escalated answers, corrections written and approved into the
knowledge base, good examples marked (feedback's services); dataset exports for admins (feedback's jobs).

Agents read the queue, write corrections as drafts and mark good examples. Publishing into the public knowledge
base (approving, or rejecting, which unpublishes) and exports are for admins: what an agent drafts reaches
visitors only after an admin has read it."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from feedback import drafts
from feedback import services as feedback_services
from feedback.implicit import implicit_signals_collect
from feedback.models import ArticleDraft, Correction, ExportJob, GoodExample, ReviewItem
from supportbot.chat.models import Message
from supportbot.console import inbox, services
from supportbot.console.access import admin_required, agent_required, is_console_admin
from supportbot.console.forms import CorrectionForm, DraftForm, ExportForm

ITEMS_PER_PAGE = 30
# Escalations reach the queue as implicit signals; collect the recent ones so the queue is current.
SIGNALS_LOOKBACK = timedelta(days=2)


@require_GET
@agent_required
def review_list(request: HttpRequest) -> HttpResponse:
    implicit_signals_collect(since=timezone.now() - SIGNALS_LOOKBACK)
    page = Paginator(ReviewItem.objects.review_queue(), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    pending = ArticleDraft.objects.filter(status=ArticleDraft.Status.DRAFT).select_related("duplicate_of")
    context = {"page": page, "formats": ExportJob.Format.choices, "drafts": pending}
    return render(request, "console/review_list.html", context)


@require_http_methods(["GET", "POST"])
@agent_required
def review_item(request: HttpRequest, message_id: int) -> HttpResponse:
    answer = get_object_or_404(Message.objects.select_related("reply_to", "conversation"), pk=message_id, role="bot")
    form = CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            feedback_services.correction_write(
                message_id=answer.pk, author=request.user, text=form.cleaned_data["text"]
            )
        except feedback_services.FeedbackError as exc:
            form.add_error("text", exc.detail)
        else:
            if is_console_admin(request.user):
                messages.success(request, _("Correction saved as a draft. Approve it to add it to the knowledge base."))
            else:
                messages.success(
                    request, _("Correction saved as a draft. A support admin approves it into the knowledge base.")
                )
            return redirect("console:review-item", message_id=answer.pk)
    context = {
        "answer": answer,
        "detail": inbox.message_detail_for(answer.pk),
        "question": answer.reply_to,
        "corrections": Correction.objects.filter(message=answer).select_related("author", "approved_by"),
        "good": GoodExample.objects.filter(message=answer).exists(),
        "form": form,
        "can_publish": is_console_admin(request.user),
    }
    return render(request, "console/review_item.html", context)


@require_POST
@admin_required
def correction_approve(request: HttpRequest, correction_id: int) -> HttpResponse:
    correction = get_object_or_404(Correction, pk=correction_id)
    feedback_services.correction_approve(correction_id=correction.pk, approver=request.user)
    messages.success(request, _("Approved: the correction is being published as an FAQ article."))
    return redirect("console:review-item", message_id=correction.message_id)


@require_POST
@admin_required
def correction_reject(request: HttpRequest, correction_id: int) -> HttpResponse:
    correction = get_object_or_404(Correction, pk=correction_id)
    feedback_services.correction_reject(correction_id=correction.pk)
    messages.success(request, _("Rejected."))
    return redirect("console:review-item", message_id=correction.message_id)


@require_POST
@agent_required
def mark_good(request: HttpRequest, message_id: int) -> HttpResponse:
    try:
        feedback_services.answer_mark_good(message_id=message_id, user=request.user)
    except feedback_services.FeedbackError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Marked as a good example."))
    return redirect("console:review-item", message_id=message_id)


@require_http_methods(["GET", "POST"])
@admin_required
def exports(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            job = services.export_start(data=form.cleaned_data, user=request.user)
            messages.success(request, _("Export %(id)s started.") % {"id": job.pk})
            return redirect("console:exports")
        messages.error(request, _("Choose a dataset format."))
    jobs = list(ExportJob.objects.select_related("created_by")[:30])
    context = {"jobs": jobs, "formats": ExportJob.Format.choices, "running": any(not j.is_finished for j in jobs)}
    return render(request, "console/exports.html", context)


# --- Drafts from resolved conversations (issue #15): agents edit a draft article, admins publish or reject it ---
@require_http_methods(["GET", "POST"])
@agent_required
def draft_item(request: HttpRequest, draft_id: int) -> HttpResponse:
    draft = get_object_or_404(ArticleDraft.objects.select_related("duplicate_of", "resolved_by"), pk=draft_id)
    initial = {"question": draft.question, "answer": draft.answer}
    form = DraftForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            drafts.article_draft_edit(draft_id=draft.pk, **form.cleaned_data)
        except feedback_services.FeedbackError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, _("Draft saved."))
            return redirect("console:draft", draft_id=draft.pk)
    context = {
        "draft": draft,
        "form": form,
        "editable_duplicate": drafts.editable_path(draft.duplicate_of) is not None,
        "can_publish": is_console_admin(request.user),
    }
    return render(request, "console/draft_item.html", context)


@require_POST
@admin_required
def draft_approve(request: HttpRequest, draft_id: int) -> HttpResponse:
    as_new = request.POST.get("as") == "new"
    try:
        drafts.article_draft_approve(draft_id=draft_id, approver=request.user, as_new=as_new)
    except feedback_services.FeedbackError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Approved: the article is being published to the knowledge base."))
    return redirect("console:draft", draft_id=draft_id)


@require_POST
@admin_required
def draft_reject(request: HttpRequest, draft_id: int) -> HttpResponse:
    try:
        drafts.article_draft_reject(draft_id=draft_id)
    except feedback_services.FeedbackError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Rejected: nothing was published."))
    return redirect("console:draft", draft_id=draft_id)
