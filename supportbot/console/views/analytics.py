"""Analytics as charts over a chosen period, and the content gaps, each one click from a new article."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from supportbot.console import services
from supportbot.console.access import admin_required, agent_required
from supportbot.console.charts import Period, console_charts
from supportbot.console.forms import EntryForm
from supportbot.console.gaps import content_gaps


@require_GET
@agent_required
def analytics_page(request: HttpRequest) -> HttpResponse:
    period = Period.parse(since=request.GET.get("since", ""), until=request.GET.get("until", ""))
    context = {"period": period, "charts": console_charts(period), "gaps": content_gaps(period)}
    return render(request, "console/analytics.html", context)


@require_POST
@admin_required
def entry_create(request: HttpRequest) -> HttpResponse:
    """A content gap answered: a new Markdown article, ingested in the background like an upload."""
    form = EntryForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("An article needs a question and an answer."))
        return redirect("console:analytics")
    job = services.kb_entry_write(title=form.cleaned_data["title"], body=form.cleaned_data["body"])
    messages.success(request, _("Article saved; ingestion job %(id)s started.") % {"id": job.pk})
    return redirect("console:kb")
