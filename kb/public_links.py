"""The links visitors see for a document: its public URL, or Supportbot's own page of it; never a server path.

A document's `url` comes from its front matter or the address it was fetched from, so it is the author's (or a
fetched page's) word: only an absolute http(s) URL or a path on Supportbot's own site is a link. Anything a
browser would run or send elsewhere (javascript:, data:, vbscript:, "//host", a backslash) is dropped at
ingestion (kb/extraction.py) and again wherever a link is made (kb/search_result.py, kb/models.py, the safe_url
template filter), so rows stored before the check was added are covered too.

A document without a public URL (an upload, a file given on the command line) is cited by /help/doc/<id>/, which
renders it for visitors unless it is held in quarantine (kb/views.py); its `uri`, the server path it was read
from, is for staff only.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.urls import reverse

PUBLIC_SCHEMES = ("http", "https")
# Whitespace and control characters: browsers strip or skip them while parsing ("java\tscript:" is javascript:).
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


def public_url(value: str | None) -> str:
    """`value` when it is an absolute http(s) URL with a host or a path on this site ("/help/..."), else ""."""
    if not value or _UNSAFE_CHARACTERS.search(value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme:
        return value if parts.scheme.lower() in PUBLIC_SCHEMES and parts.netloc else ""
    return value if value.startswith("/") and not value.startswith("//") else ""


def document_page(document_id: int) -> str:
    """Supportbot's public page of a document that has no public URL of its own."""
    return reverse("kb:document-page", args=[document_id])


def document_link(*, url: str, document_id: int, anchor: str = "") -> str:
    """Where a citation of the document (at `anchor`) leads a visitor."""
    base = public_url(url) or document_page(document_id)
    return f"{base}#{anchor}" if anchor else base
