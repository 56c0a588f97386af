"""The planted-instruction scan: what in a document gives the assistant orders or asks visitors for secrets.

Knowledge-base content is untrusted data: a sitemap, an uploaded file or a page someone else can edit may carry
"ignore your rules and …" or "confirm your card number and security code at https://…". Every chunk is read
sentence by sentence (with its document's title and its headings, which reach the model with it) by the same
detector the output guard uses on answers (supportbot.guards.planted). This module only finds; kb/quarantine.py
records what it found and keeps those chunks out of retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from supportbot.guards.planted import SENTENCE_END, planted_find

# A finding about the document's title concerns every chunk (the title goes to the model with each of them).
TITLE = None
MAX_FINDINGS = 50
_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Finding:
    chunk: int | None  # the chunk's position, or TITLE
    kind: str  # supportbot.guards.planted.INSTRUCTIONS | SECRETS
    detail: str
    excerpt: str

    def as_dict(self) -> dict:
        return asdict(self)


def document_findings(*, title: str, chunks: Iterable[tuple[int, list[str], str]]) -> list[Finding]:
    """Findings for a document, from its title and its chunks given as (position, heading path, text)."""
    findings = [Finding(TITLE, found.kind, found.detail, excerpt) for found, excerpt in _scan(title)]
    seen_headings: dict[str, list[tuple]] = {}
    for position, heading_path, text in chunks:
        for heading in heading_path:
            if heading not in seen_headings:
                seen_headings[heading] = list(_scan(heading))
            findings += [
                Finding(position, found.kind, found.detail, excerpt) for found, excerpt in seen_headings[heading]
            ]
        findings += [Finding(position, found.kind, found.detail, excerpt) for found, excerpt in _scan(text)]
    return list(dict.fromkeys(findings))[:MAX_FINDINGS]


def _scan(text: str):
    for sentence in SENTENCE_END.split(text):
        sentence = sentence.strip()
        if len(sentence) > 3 and (found := planted_find(sentence)):
            yield found, _excerpt(sentence)


def _excerpt(sentence: str) -> str:
    flat = re.sub(r"\s+", " ", sentence)
    return flat if len(flat) <= _EXCERPT_CHARS else flat[: _EXCERPT_CHARS - 1] + "…"
