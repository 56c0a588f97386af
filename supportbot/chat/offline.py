"""The offline answerer: with no language model configured, compose a short cited answer from the most
relevant sentences of the top chunks, so Supportbot works on first run with no key."""

from __future__ import annotations

import numpy as np

from kb.embeddings import embedder
from kb.retrieval import SearchResult
from supportbot.chat.sentences import sentences_split

MAX_SENTENCES = 3
MIN_SIMILARITY = 0.30
# Sentences much weaker than the best one are left out rather than padding the answer.
MAX_GAP = 0.15


def offline_answer(question_vector: np.ndarray, results: list[SearchResult]) -> str:
    """Answer text with [n] markers numbered like `results`; empty when nothing is relevant enough."""
    candidates = [
        (n, index, sentence)
        for n, result in enumerate(results[:3], start=1)
        for index, sentence in enumerate(sentences_split(result.text))
        if len(sentence.split()) >= 4
    ]
    if not candidates:
        return ""
    vectors = embedder().embed([sentence for _, _, sentence in candidates])
    scores = vectors @ question_vector
    best = float(scores.max())
    if best < MIN_SIMILARITY:
        return ""
    ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
    chosen = [i for i in ranked[:MAX_SENTENCES] if scores[i] >= max(MIN_SIMILARITY, best - MAX_GAP)]
    # Reading order: by source, then by position within it.
    chosen.sort(key=lambda i: (candidates[i][0], candidates[i][1]))
    return " ".join(_cite(candidates[i][2], candidates[i][0]) for i in chosen)


def _cite(sentence: str, n: int) -> str:
    sentence = sentence.rstrip()
    if sentence[-1:] in ".!?。！？":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."
