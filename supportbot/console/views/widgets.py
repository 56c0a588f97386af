"""Widgets and their guard settings (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from supportbot.chat.models import Widget
from supportbot.console import services
from supportbot.console.access import admin_required
from supportbot.console.forms import WidgetForm


@require_GET
@admin_required
def widget_list(request: HttpRequest) -> HttpResponse:
    return render(request, "console/widgets.html", {"widgets": Widget.objects.order_by("name")})


@require_http_methods(["GET", "POST"])
@admin_required
def widget_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    widget = get_object_or_404(Widget, pk=pk) if pk is not None else None
    form = WidgetForm(request.POST or None, instance=widget)
    if request.method == "POST" and form.is_valid():
        saved = services.widget_save(widget=widget, data=form.cleaned_data)
        messages.success(request, _("Widget %(name)s saved.") % {"name": saved.name})
        return redirect("console:widgets")
    return render(request, "console/widget_form.html", {"form": form, "widget": widget})
