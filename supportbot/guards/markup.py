"""Keeping markup and script out of answers (the widget renders text safely too; this is the first layer)."""

from __future__ import annotations

import html
import re

import nh3

# A tag name follows "<" directly in HTML, so "a < b" is text, "<b>" and "<!--" are markup.
_TAG = re.compile(r"</?[a-zA-Z][\w-]*(?:\s[^<>]*)?/?>|<!--|&lt;/?[a-zA-Z]", re.IGNORECASE)
_BAD_LINK = re.compile(r"\[([^\]]*)\]\(\s*(?:javascript|data|vbscript|file)\s*:(?:[^()]|\([^()]*\))*\)", re.IGNORECASE)
_BAD_SCHEME = re.compile(r"\b(?:javascript|vbscript|data\s*:\s*text/html)\s*:", re.IGNORECASE)
_HANDLER = re.compile(r"\bon[a-z]+\s*=", re.IGNORECASE)


# Inline code is shown as literal text by the widget, so `<script src=...>` in docs about embedding stays.
_CODE = re.compile(r"`[^`\n]+`")


def markup_find(text: str) -> bool:
    prose = _CODE.sub(" ", text)
    return bool(_TAG.search(prose) or _BAD_LINK.search(prose) or _BAD_SCHEME.search(prose) or _HANDLER.search(prose))


def markup_strip(text: str) -> str:
    """Plain Markdown left: tags (and script/style contents) removed, dangerous links reduced to their text."""
    spans = _CODE.findall(text)
    parts = _CODE.split(text)
    cleaned_parts = [_strip(part) for part in parts]
    out = cleaned_parts[0]
    for span, part in zip(spans, cleaned_parts[1:], strict=True):
        out += span + part
    return out


def _strip(text: str) -> str:
    cleaned = html.unescape(nh3.clean(html.unescape(text), tags=set()))
    cleaned = _BAD_LINK.sub(r"\1", cleaned)
    return _HANDLER.sub("", _BAD_SCHEME.sub("", cleaned))
