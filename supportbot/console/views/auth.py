from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth import views as auth_views
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.urls import reverse_lazy
from django.views.i18n import JavaScriptCatalog

from supportbot.access_rules import ANONYMOUS, access
from supportbot.console.access import agent_required
from supportbot.console.forms import ConsoleLoginForm

TOO_MANY_REQUESTS = 429


def signin_refusals_as_429(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A sign-in view whose throttled refusals answer 429 (the form, with its message, still shown): a script
    hammering the form sees it is refused, and monitoring can count refusals apart from typos."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if isinstance(form, Form) and form.is_bound and form.has_error("__all__", code="throttled"):
            response.status_code = TOO_MANY_REQUESTS
        return response

    return wrapped


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    authentication_form = ConsoleLoginForm


# The sign-in form is for anyone; signing out ends whatever session the browser has.
login = access(ANONYMOUS)(signin_refusals_as_429(ConsoleLoginView.as_view()))
logout = access(ANONYMOUS)(auth_views.LogoutView.as_view(next_page=reverse_lazy("console:login")))
# The console's JavaScript strings, translated like the templates (gettext() in the browser).
javascript_catalog = agent_required(JavaScriptCatalog.as_view(packages=["supportbot.console"]))
