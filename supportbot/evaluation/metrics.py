"""Answer metrics, each computed on one answer, plus the reliability diagram of a whole run.

- groundedness: the share of an answer's claim sentences that their cited chunks support, decided by the very
  check the output guard applies (supportbot.guards.grounding.sentence_support, called the way
  supportbot/guards/output_guard.py calls it); conversational sentences ("Would you like to talk to a human?")
  carry no claim and are left out;
- citation precision: the share of cited chunks that come from the document the question is about;
- ROUGE-L F-measure against a reference answer, from rouge-score-rs (see docs/evaluation.md for why not
  Google's rouge-score: it pulls in nltk, which makes guardrails-ai download NLTK data at import);
- semantic F1: BERTScore's greedy matching, written here, over sentence embeddings of the local embedding
  model instead of token embeddings of BERT (kb.embeddings gives pooled sentence vectors, for every backend);
- escalation outcome of an unanswerable question: declined, hedged (low confidence and a human offered) or
  answered (the bot made something up from unrelated passages);
- reliability bins: confidence against correctness in ten equal-width bins, with the expected calibration error;
- AUROC of the confidence as a test of answerable against unanswerable questions: the chance that a random
  answerable question gets a higher confidence than a random unanswerable one (ties count half).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable

import numpy as np

from kb.embeddings import embedder
from supportbot.answering.sentences import sentences_split
from supportbot.evaluation.cases import source_matches
from supportbot.guards.grounding import sentence_support
from supportbot.guards.output_guard import SentenceBuffer

_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_MARKER = re.compile(r"\[(\d+)\]")
RELIABILITY_BINS = 10


def plain_text(answer: str) -> str:
    """The answer without its [n] citation markers."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", _MARKERS.sub("", answer)).strip()


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that exist, rounded; None when there are none."""
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


@functools.cache
def _rouge():
    from rouge_score_rs import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of stemmed words) of the answer against the reference,
    citation markers left out of both (a reference from the feedback export is a bot answer with markers)."""
    return round(float(_rouge().score(plain_text(reference), plain_text(answer))["rougeL"].fmeasure), 4)


def semantic_f1(answer: str, reference: str) -> float:
    """BERTScore-style F1: each sentence of one text greedily matched to its most similar sentence of the other
    (cosine of the local embeddings, clipped at 0); precision over the answer, recall over the reference."""
    candidate, expected = sentences_split(plain_text(answer)), sentences_split(plain_text(reference))
    if not candidate or not expected:
        return 0.0
    vectors = embedder().embed([*candidate, *expected])
    similarity = np.clip(vectors[: len(candidate)] @ vectors[len(candidate) :].T, 0.0, 1.0)
    precision, recall = float(similarity.max(axis=1).mean()), float(similarity.max(axis=0).mean())
    if precision + recall == 0:
        return 0.0
    return round(min(1.0, 2 * precision * recall / (precision + recall)), 4)


def answer_groundedness(text: str, chunk_texts: list[str], chunk_vectors: np.ndarray) -> dict:
    """Each sentence checked against the chunks it cites (numbered like `chunk_texts`; all of them when it cites
    none), exactly as the output guard checks it. `score` is None for an answer without claims."""
    buffer = SentenceBuffer()
    sentences = []
    for sentence in [*buffer.feed(text), *buffer.flush()]:
        cited = [int(n) - 1 for n in _MARKER.findall(sentence) if 0 < int(n) <= len(chunk_texts)]
        indices = cited or list(range(len(chunk_texts)))
        vector = embedder().embed([_MARKER.sub("", sentence)])[0]
        vectors = chunk_vectors[indices] if len(chunk_vectors) else chunk_vectors
        support = sentence_support(sentence, vector, [chunk_texts[i] for i in indices], vectors)
        if support.conversational:
            continue
        sentences.append(
            {
                "text": sentence.strip(),
                "supported": support.supported,
                "similarity": support.similarity,
                "overlap": support.overlap,
                "missing_numbers": support.missing_numbers,
            }
        )
    supported = sum(1 for s in sentences if s["supported"])
    score = round(supported / len(sentences), 4) if sentences else None
    return {"score": score, "claims": len(sentences), "supported": supported, "sentences": sentences}


def citation_precision(cited: list[Iterable[str]], source_doc: str) -> float | None:
    """Share of cited chunks (each given as its document's path and URL) from `source_doc`; None if none cited."""
    if not cited:
        return None
    return round(sum(1 for values in cited if source_matches(values, source_doc)) / len(cited), 4)


def escalation_outcome(*, citations: int, human_offered: bool, confidence_label: str) -> str:
    """What the bot did with a question it cannot answer: "declined" (no sources, a human offered), "hedged"
    (low confidence and a human offered) — both correct — or "answered" (it claimed to know)."""
    if human_offered and not citations:
        return "declined"
    if human_offered and confidence_label == "low":
        return "hedged"
    return "answered"


def auroc(pairs: Iterable[tuple[float | None, bool]]) -> float | None:
    """Area under the ROC curve of `score` separating positives from negatives, from (score, positive) pairs
    (the Mann-Whitney U statistic over both counts); None unless both classes are present."""
    scored = [(score, positive) for score, positive in pairs if score is not None]
    positives = sorted(score for score, positive in scored if positive)
    negatives = sorted(score for score, positive in scored if not positive)
    if not positives or not negatives:
        return None
    wins = 0.0
    for score in positives:
        below = bisect.bisect_left(negatives, score)
        wins += below + 0.5 * (bisect.bisect_right(negatives, score) - below)
    return round(wins / (len(positives) * len(negatives)), 4)


def reliability_bins(pairs: Iterable[tuple[float | None, bool]], *, bins: int = RELIABILITY_BINS) -> dict:
    """Confidence against correctness: per equal-width bin its count, mean confidence and accuracy, and the
    expected calibration error (the count-weighted mean gap between the two)."""
    rows = [
        {"low": i / bins, "high": (i + 1) / bins, "n": 0, "confidence": None, "accuracy": None} for i in range(bins)
    ]
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, correct in pairs:
        if confidence is None:
            continue
        members[min(int(max(confidence, 0.0) * bins), bins - 1)].append((confidence, correct))
    total, gap = 0, 0.0
    for row, inside in zip(rows, members, strict=True):
        if not inside:
            continue
        row["n"] = len(inside)
        row["confidence"] = round(sum(c for c, _ in inside) / len(inside), 4)
        row["accuracy"] = round(sum(1 for _, ok in inside if ok) / len(inside), 4)
        total += len(inside)
        gap += len(inside) * abs(row["accuracy"] - row["confidence"])
    return {"bins": rows, "ece": round(gap / total, 4) if total else None, "n": total}
