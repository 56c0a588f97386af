"""Mapping the [n] markers of an answer to the chunks that were actually retrieved."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb import SearchResult
from supportbot.guards.links import AllowedLinks, links_strip
from supportbot.guards.planted import planted_strip

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass
class CitedAnswer:
    text: str
    citations: list[dict] = field(default_factory=list)
    invented: list[int] = field(default_factory=list)
    cited_results: list[SearchResult] = field(default_factory=list)


def citations_map(text: str, results: list[SearchResult]) -> CitedAnswer:
    """Keep markers that name a retrieved chunk (in first-cited order); drop and report any other."""
    cited: dict[int, SearchResult] = {}
    invented: list[int] = []

    def replace(match: re.Match) -> str:
        kept = []
        for number in (int(n) for n in re.split(r"\s*,\s*", match.group(1))):
            if 1 <= number <= len(results):
                cited.setdefault(number, results[number - 1])
                kept.append(f"[{number}]")
            else:
                invented.append(number)
        return "".join(kept)

    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", _MARKER.sub(replace, text)).strip()
    citations = [
        {"n": n, "title": r.title, "url": r.link, "snippet": _snippet(r.text), "chunk_id": r.chunk_id}
        for n, r in sorted(cited.items())
    ]
    return CitedAnswer(cleaned, citations, invented, [cited[n] for n in sorted(cited)])


def _snippet(text: str, limit: int = 160) -> str:
    # Knowledge-base text is untrusted (issue #13): a snippet quotes no sentence that gives orders or asks for
    # secrets, and no link (the citation's own url is the link), even from a document an admin released.
    text = links_strip(planted_strip(text), AllowedLinks())[0]
    flat = re.sub(r"\s+", " ", re.sub(r"[#*`>_]", "", text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"
