"""Who may use the console. Every console user is active staff; admins (superusers, or members of the
"Support admins" group) also manage the knowledge base, widgets and their guard settings, and exports.

Anonymous visitors are sent to the sign-in page; signed-in users without the role get 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

ADMIN_GROUP = "Support admins"


def is_console_agent(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def is_console_admin(user) -> bool:
    if not is_console_agent(user):
        return False
    return user.is_superuser or user.groups.filter(name=ADMIN_GROUP).exists()


def _guard(check: Callable[[object], bool], rule: str):
    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        # The view's declared access rule (supportbot/access_rules.py): the check and the declaration are one.
        wrapped.access_rule = rule  # type: ignore[attr-defined]
        return wrapped

    return decorator


agent_required = _guard(is_console_agent, "agent")
admin_required = _guard(is_console_admin, "admin")
