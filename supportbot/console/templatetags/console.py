from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from supportbot.console.access import is_console_admin

register = template.Library()


@register.filter
def console_admin(user) -> bool:
    """{% if request.user|console_admin %}: show the admin-only parts of the navigation."""
    return is_console_admin(user)


GAP_REASONS = {
    "low_confidence": _("low confidence"),
    "down_rated": _("rated down"),
    "escalated": _("handed to a human"),
}


@register.filter
def gap_reason(reason: str) -> str:
    return GAP_REASONS.get(reason, reason)


ROLES = {"visitor": _("Visitor"), "bot": _("Bot"), "agent": _("Agent"), "system": _("System")}


@register.filter
def message_role(role: str) -> str:
    return ROLES.get(role, role)
