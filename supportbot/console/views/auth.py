from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy
from django.views.i18n import JavaScriptCatalog

from supportbot.console.access import agent_required
from supportbot.console.forms import ConsoleLoginForm


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    authentication_form = ConsoleLoginForm


login = ConsoleLoginView.as_view()
logout = auth_views.LogoutView.as_view(next_page=reverse_lazy("console:login"))
# The console's JavaScript strings, translated like the templates (gettext() in the browser).
javascript_catalog = agent_required(JavaScriptCatalog.as_view(packages=["supportbot.console"]))
