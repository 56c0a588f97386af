"""Splitting text into sentences, for the offline answerer and for answer-support checks."""

from __future__ import annotations

import re

# Sentence ends: . ! ? followed by space or the end ("다. " and "요. " in Korean); the full-width CJK 。！？ end
# one even with no space after them (Japanese and Chinese write none); list items and lines also end one.
_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*|\n+")
_MARKUP = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|#+\s+|>\s*)")


def sentences_split(text: str) -> list[str]:
    parts = []
    in_code = False
    for line in text.splitlines():
        if line.strip().startswith(("```", "~~~")):
            in_code = not in_code
            continue
        if in_code or line.strip().startswith("|"):
            continue
        for piece in _END.split(_MARKUP.sub("", line)):
            piece = piece.strip()
            if len(piece) > 1:
                parts.append(piece)
    return parts
