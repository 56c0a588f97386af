"""How sure the bot is: a 0–1 score from whether the passages answer the question at all (answerability.py) and
from how well the answer is supported by the passages it cites.

The inputs are recorded with every answer so the weights and thresholds can be calibrated against ratings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from kb import SearchResult
from kb.models import Chunk

# Cosine similarities of MiniLM between a question and a passage that answers it sit around 0.45–0.75;
# unrelated text sits below 0.25. These map that range onto 0–1.
_RETRIEVAL_FLOOR, _RETRIEVAL_SPAN = 0.20, 0.45
_SUPPORT_FLOOR, _SUPPORT_SPAN = 0.30, 0.45


@dataclass
class Confidence:
    score: float
    label: str
    inputs: dict


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def label_for(score: float) -> str:
    # Thresholds calibrated to ratings (`manage.py calibrate_confidence`) override the settings; cached briefly.
    from feedback.calibration import calibrated_thresholds

    high, low = calibrated_thresholds() or (settings.CHAT_CONFIDENCE_HIGH, settings.CHAT_CONFIDENCE_LOW)
    if score >= high:
        return "high"
    if score >= low:
        return "medium"
    return "low"


def retrieval_evidence(results: list[SearchResult], *, answerability: float = 0.0) -> dict:
    """The retrieval's side of the confidence, with the answerability probability it was judged to have."""
    if not results:
        return {
            "top_vector_score": 0.0,
            "keyword_match": False,
            "signals_agree": False,
            "retrieval": 0.0,
            "answerability": 0.0,
        }
    top_vector = max((r.vector_score or 0.0) for r in results)
    first = results[0]
    keyword_match = first.keyword_rank is not None
    signals_agree = first.vector_rank == 1 or (keyword_match and (first.vector_rank or 99) <= 3)
    return {
        "top_vector_score": round(top_vector, 4),
        "keyword_match": keyword_match,
        "signals_agree": bool(signals_agree),
        "retrieval": round(_clamp((top_vector - _RETRIEVAL_FLOOR) / _RETRIEVAL_SPAN), 4),
        "answerability": round(answerability, 4),
    }


def support_score(sentence_vectors: np.ndarray, chunk_ids: list[int]) -> float:
    """Mean over answer sentences of the best cosine similarity to a cited chunk."""
    if not len(sentence_vectors) or not chunk_ids:
        return 0.0
    stored = dict(Chunk.objects.filter(pk__in=chunk_ids).values_list("pk", "embedding"))
    if not stored:
        return 0.0
    chunks = np.array([np.asarray(v, dtype=np.float32) for v in stored.values()])
    best = (sentence_vectors @ chunks.T).max(axis=1)
    return float(best.mean())


def confidence_score(evidence: dict, *, support: float, cited: bool) -> Confidence:
    supported = _clamp((support - _SUPPORT_FLOOR) / _SUPPORT_SPAN) if cited else 0.0
    # Answerability replaced the top cosine and the rank agreement here: those rated an off-topic question about
    # the product as sure as a real one (demo AUROC of the confidence, answerable against unanswerable: see
    # docs/evaluation.md, "Answerability").
    # An answered question's answerability counts by how far it cleared the threshold, so an answer the check let
    # through never looks less sure than a declined question (declined_confidence stays under 0.2).
    threshold = settings.CHAT_ANSWERABLE_THRESHOLD
    margin = _clamp((evidence["answerability"] - threshold) / max(1.0 - threshold, 1e-6))
    score = 0.60 * (0.5 + 0.5 * margin) + 0.40 * supported
    score = round(_clamp(score), 3)
    inputs = {**evidence, "support": round(support, 4), "supported": round(supported, 4), "cited": cited}
    return Confidence(score, label_for(score), inputs)


def declined_confidence(evidence: dict) -> Confidence:
    """A declined question's confidence: low, but still ordered by answerability, so the evaluator's AUROC sees
    how close a question came to being answered."""
    score = round(0.2 * _clamp(evidence["answerability"] / max(settings.CHAT_ANSWERABLE_THRESHOLD, 1e-6)), 3)
    return Confidence(score, "low", {**evidence, "declined": True})
