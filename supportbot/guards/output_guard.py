"""The output guard: each sentence of an answer is validated as it streams and released only once it passes.

Fixes are applied where defined (invented citations dropped, markup stripped, personal data and secrets
redacted, banned words removed); a sentence the cited chunks don't support is dropped; a leak of the system
prompt stops the answer altogether.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from kb.embeddings import embedder
from kb.models import Chunk
from kb.retrieval import SearchResult
from supportbot.guards.leakage import LeakDetector
from supportbot.guards.runtime import guard_cached, guard_run
from supportbot.guards.validators import (
    CitationsExist,
    Grounded,
    PersonalData,
    SafeMarkup,
    SystemPromptLeak,
    WholeWordBanList,
)
from supportbot.pii import pii_find

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])(?:\s*\[\d+\])*\s+|\n+")
_MARKER = re.compile(r"\[(\d+)\]")
_LIST_NUMBER = re.compile(r"^\s*\d+[.)]\s*$")


@dataclass
class OutputContext:
    """What the output guard checks sentences against, built once per answer."""

    results: list[SearchResult]
    chunk_vectors: np.ndarray
    leak_detector: LeakDetector
    banned: tuple[str, ...] = ()
    allowed_pii: set[str] = field(default_factory=set)
    events: list[dict] = field(default_factory=list)
    dropped: int = 0
    kept: int = 0
    leak: str = ""
    sentence_vectors: list[np.ndarray] = field(default_factory=list)


def output_context(*, results: list[SearchResult], protected_prompt: str, banned: tuple[str, ...]) -> OutputContext:
    # The chunks' stored embeddings: no need to embed the context again for every answer.
    stored = dict(Chunk.objects.filter(pk__in=[r.chunk_id for r in results]).values_list("pk", "embedding"))
    vectors = np.array([np.asarray(stored[r.chunk_id], dtype=np.float32) for r in results if r.chunk_id in stored])
    if len(vectors) != len(results):
        vectors = embedder().embed([r.text for r in results])
    allowed = {r.text[f.start : f.end] for r in results for f in pii_find(r.text)}
    return OutputContext(results, vectors, LeakDetector(protected_prompt), banned, allowed)


def _fixers(banned: tuple[str, ...]) -> list:
    # detect-secrets (the Secrets validator) costs ~1 ms a call; answers get supportbot.pii's secret patterns
    # through PersonalData instead, and the full scan stays on the visitor's input, where secrets come from.
    return [
        CitationsExist(on_fail="fix"),
        SafeMarkup(on_fail="fix"),
        PersonalData(on_fail="fix"),
        WholeWordBanList(banned_words=list(banned), on_fail="fix"),
    ]


def sentence_check(sentence: str, context: OutputContext) -> str | None:
    """The sentence as it may be shown, or None when it must not be."""
    detect = guard_cached(("output-detect",), lambda: [SystemPromptLeak(on_fail="noop"), Grounded(on_fail="noop")])
    fix = guard_cached(("output-fix", context.banned), lambda: _fixers(context.banned))
    fixed = guard_run(
        fix, sentence, {"citation_count": len(context.results), "allowed_pii": context.allowed_pii}, fixing=True
    )
    cited = [int(n) - 1 for n in _MARKER.findall(fixed.text) if 0 < int(n) <= len(context.results)]
    indices = cited or list(range(len(context.results)))
    vector = embedder().embed([_MARKER.sub("", fixed.text)])[0]
    metadata = {
        "leak_detector": context.leak_detector,
        "sentence_vector": vector,
        "chunk_texts": [context.results[i].text for i in indices],
        "chunk_vectors": context.chunk_vectors[indices] if len(context.chunk_vectors) else context.chunk_vectors,
    }
    detected = guard_run(detect, fixed.text, metadata, fixing=False)
    context.events += fixed.failures + detected.failures
    if leak := detected.failed("supportbot/system_prompt_leak"):
        leak["action"] = "refused"
        context.leak = leak["detail"]
        return None
    if unsupported := detected.failed("supportbot/grounded"):
        unsupported["action"] = "dropped"
        context.dropped += 1
        return None
    context.kept += 1
    context.sentence_vectors.append(vector)
    return fixed.text


class SentenceBuffer:
    """Collects streamed text and hands out complete sentences (with their trailing citation markers)."""

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, text: str) -> list[str]:
        self.pending += text
        sentences, start = [], 0
        while match := _SENTENCE_END.search(self.pending, start):
            candidate = self.pending[: match.end()]
            # "1." of a numbered list or "e.g." is not a sentence of its own.
            if len(candidate.strip()) < 4 or _LIST_NUMBER.match(candidate):
                start = match.end()
                continue
            sentences.append(candidate)
            self.pending, start = self.pending[match.end() :], 0
        return sentences

    def flush(self) -> list[str]:
        rest, self.pending = self.pending, ""
        return [rest] if rest.strip() else []
