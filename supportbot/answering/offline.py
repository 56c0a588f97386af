"""The offline answerer: with no language model configured, compose a short cited answer from the most
relevant sentences of the top chunks, so Supportbot works on first run with no key.

For a Korean, Japanese or Chinese question only sentences in the question's language are candidates, when the
sources have any: with a multilingual embedding model a Korean question also finds English pages, and the visitor
should get an answer they can read. Weighting in shared character bigrams or keeping only keyword-matched
sources was measured and left out: on the Korean eval set it cited the right page less often with
multilingual-e5-small (50 of 61 against 54) and less often with MiniLM (26 against 27; docs/multilingual.md).
"""

from __future__ import annotations

import re

import numpy as np

from kb import SearchResult
from kb.embeddings import embedder
from kb.language import language_detect
from supportbot.answering.sentences import sentences_split
from supportbot.guards.planted import planted_find

MAX_SENTENCES = 3
MIN_SIMILARITY = 0.30
# Sentences much weaker than the best one are left out rather than padding the answer.
MAX_GAP = 0.15
# A Korean, Japanese or Chinese sentence says in a few spaced words (or none) what English says in many.
MIN_CJK_CHARS = 12
_CJK = {"ko", "ja", "zh"}
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
# A line that starts a block of its own: a list item, heading, quote, table row or code fence.
_BLOCK_START = re.compile(r"^[ \t]*(?:[-*+#>|]|\d+[.)][ \t]|```|~~~)")


def offline_answer(question_vector: np.ndarray, results: list[SearchResult], *, question: str = "") -> str:
    """Answer text with [n] markers numbered like `results`; empty when nothing is relevant enough."""
    candidates = _candidates(results, language_detect(question) if question else "")
    if not candidates:
        return ""
    vectors = embedder().embed([sentence for _, _, sentence in candidates])
    scores = vectors @ question_vector
    best = float(scores.max())
    if best < MIN_SIMILARITY:
        return ""
    ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
    chosen = [i for i in ranked[:MAX_SENTENCES] if scores[i] >= max(MIN_SIMILARITY, best - MAX_GAP)]
    # The top passage always speaks: retrieval ranked it first on more evidence than one sentence's cosine, and
    # quoting only the second and third passages cited the wrong page for 6 of the demo's 70 questions whose page
    # was ranked first (issue #18).
    first = next((i for i in ranked if candidates[i][0] == 1 and scores[i] >= MIN_SIMILARITY), None)
    if first is not None and first not in chosen:
        chosen = [first, *chosen[: MAX_SENTENCES - 1]]
    # Reading order: by source, then by position within it.
    chosen.sort(key=lambda i: (candidates[i][0], candidates[i][1]))
    return " ".join(_cite(candidates[i][2], candidates[i][0]) for i in chosen)


def _candidates(results: list[SearchResult], language: str) -> list[tuple[int, int, str]]:
    """(source number, position, sentence) from the top three results; for a CJK question, only sentences in
    its language when there are any."""
    cjk = language in _CJK
    candidates = [
        (n, index, sentence)
        for n, result in enumerate(results[:3], start=1)
        for index, sentence in enumerate(_quotable(result.text))
        if len(sentence.split()) >= 4 or (cjk and len(sentence) >= MIN_CJK_CHARS)
    ]
    if cjk:
        same = [c for c in candidates if language_detect(c[2]) == language]
        return same or candidates
    return candidates


def _quotable(text: str) -> list[str]:
    """The sentences of a chunk, without those of a paragraph that gives the assistant orders or asks for secrets.

    The output guard checks each quoted sentence too, but a sentence can be harmless alone and not beside its
    neighbours ("And the one-time code we text you." after "Send us your login credentials."), so a paragraph
    with planted instructions is never quoted at all.
    """
    return [
        sentence
        for paragraph in _PARAGRAPH.split(text)
        if planted_find(paragraph) is None
        for sentence in sentences_split(_unwrapped(paragraph))
    ]


def _unwrapped(paragraph: str) -> str:
    """A hard-wrapped paragraph's lines joined again, so a sentence is quoted whole ("… reaching our warehouse."
    rather than "… reaching our [1]."). Headings, table rows and code keep their own lines; a list item takes
    its continuation lines."""
    lines: list[str] = []
    in_code, joinable = False, False
    for line in paragraph.split("\n"):
        fence = line.strip().startswith(("```", "~~~"))
        if joinable and not fence and line.strip() and not _BLOCK_START.match(line):
            lines[-1] += " " + line.strip()
            continue
        lines.append(line)
        in_code ^= fence
        joinable = bool(line.strip()) and not (in_code or fence or line.lstrip().startswith(("#", "|")))
    return "\n".join(lines)


def _cite(sentence: str, n: int) -> str:
    sentence = sentence.rstrip()
    if sentence[-1:] in ".!?。！？":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."
