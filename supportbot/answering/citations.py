"""Mapping the [n] markers of an answer to the chunks that were actually retrieved.

Two chunks of one section are one source: a marker naming the second becomes the first's number, so an answer
never lists "Embedding the chat widget" as both [1] and [3]; each citation links to its section's anchor
(SearchResult.link). Numbers stay those of the retrieved chunks (n is the nth retrieved chunk), which is what
the stored message's `retrieved` rows and the evaluator's groundedness check count by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb import SearchResult
from supportbot.guards.links import AllowedLinks, links_strip
from supportbot.guards.planted import planted_strip

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
# The same marker twice in a row, once two sections' markers were merged into one ("[1][1]", "[1] [1]").
_REPEATED = re.compile(r"(\[\d+\])(?:\s*\1)+")


@dataclass
class CitedAnswer:
    text: str
    citations: list[dict] = field(default_factory=list)
    invented: list[int] = field(default_factory=list)
    cited_results: list[SearchResult] = field(default_factory=list)


def citations_map(text: str, results: list[SearchResult]) -> CitedAnswer:
    """Keep markers that name a retrieved chunk, one number per section; drop and report any other."""
    cited: dict[int, SearchResult] = {}
    invented: list[int] = []
    first_of_section = section_numbers(results)

    def replace(match: re.Match) -> str:
        kept: list[str] = []
        for number in (int(n) for n in re.split(r"\s*,\s*", match.group(1))):
            if not 1 <= number <= len(results):
                invented.append(number)
                continue
            number = first_of_section[number - 1]
            cited.setdefault(number, results[number - 1])
            if f"[{number}]" not in kept:
                kept.append(f"[{number}]")
        return "".join(kept)

    merged = _REPEATED.sub(r"\1", _MARKER.sub(replace, text))
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", merged).strip()
    citations = [
        {"n": n, "title": r.title, "url": r.link, "snippet": _snippet(r.text), "chunk_id": r.chunk_id}
        for n, r in sorted(cited.items())
    ]
    return CitedAnswer(cleaned, citations, invented, [cited[n] for n in sorted(cited)])


def section_numbers(results: list[SearchResult]) -> list[int]:
    """For each result, the number (1-based) of the first result from the same section of the same document."""
    first: dict[tuple, int] = {}
    return [first.setdefault(_section(result), n) for n, result in enumerate(results, start=1)]


def _section(result: SearchResult) -> tuple:
    # The anchor names the section; a chunk without one (a document with no headings) is its document's only
    # section, so its heading path (empty) stands in.
    return (result.document_id, result.anchor or tuple(result.heading_path))


def _snippet(text: str, limit: int = 160) -> str:
    # Knowledge-base text is untrusted (issue #13): a snippet quotes no sentence that gives orders or asks for
    # secrets, and no link (the citation's own url is the link), even from a document an admin released.
    text = links_strip(planted_strip(text), AllowedLinks())[0]
    flat = re.sub(r"\s+", " ", re.sub(r"[#*`>_]", "", text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"
