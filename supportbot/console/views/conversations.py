from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from supportbot.chat.models import Conversation, Widget
from supportbot.console import inbox, services
from supportbot.console.access import agent_required


def _inbox_data(request: HttpRequest) -> dict:
    filters = inbox.InboxFilters.from_query(request.GET)
    return {
        "conversations": inbox.inbox_rows(filters),
        "escalations": inbox.escalation_rows(),
        "waiting": inbox.escalations_waiting(),
    }


@require_GET
@agent_required
def inbox_page(request: HttpRequest) -> HttpResponse:
    context = {
        "data": _inbox_data(request),
        "filters": inbox.InboxFilters.from_query(request.GET),
        "widgets": Widget.objects.order_by("name").values("key", "name"),
    }
    return render(request, "console/inbox.html", context)


@require_GET
@agent_required
def inbox_json(request: HttpRequest) -> JsonResponse:
    """The inbox with the page's filters, fetched again when a conversation the list doesn't show yet changes."""
    return JsonResponse(_inbox_data(request))


@require_GET
@agent_required
def conversation_page(request: HttpRequest, pk) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("widget", "assigned_agent"), pk=pk)
    row = inbox.inbox_row_for(conversation.pk) or {"id": str(conversation.pk), "status": conversation.status}
    context = {
        "conversation": conversation,
        "row": row,
        "summary": inbox.conversation_summary(conversation),
        "transcript": inbox.agent_transcript(conversation),
    }
    return render(request, "console/conversation.html", context)


# --- Drafts from resolved conversations (issue #15) ---
@require_POST
@agent_required
def conversation_resolve(request: HttpRequest, pk) -> HttpResponse:
    """The holding agent marks the conversation resolved; what they answered goes to review as a draft article."""
    try:
        draft = services.conversation_resolve(conversation_id=pk, agent=request.user)
    except services.ConsoleError as exc:
        messages.error(request, exc.detail)
        return redirect("console:conversation", pk=pk)
    if draft is None:
        messages.success(request, _("Resolved. Nothing to draft: no answer of yours in this conversation."))
        return redirect("console:conversation", pk=pk)
    messages.success(request, _("Resolved. Your answer is in the review queue as a draft article."))
    return redirect("console:draft", draft_id=draft.pk)
