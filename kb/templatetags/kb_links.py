"""`{{ value|safe_url }}`: a document's or a citation's link for an href, "" unless it is http(s) or a path on this
site. Autoescaping stops a URL from leaving the attribute; this stops it from being javascript: or data: inside it.
"""

from __future__ import annotations

from django import template

from kb.public_links import public_url

register = template.Library()


@register.filter
def safe_url(value: object) -> str:
    return public_url(str(value)) if value else ""
