"""Whether the retrieved passages answer the question at all, decided before anything is answered.

A logistic model over the retrieval evidence gives the probability that some passage answers the question:

- keyword: the best BM25 score over ln(2 + the number of chunks), the most one rare word can score there, so the
  feature means about the same in a help centre of 200 chunks and one of 100,000. An unanswerable question rarely
  shares its rare words with any passage: alone this separated the demo's answerable from unanswerable questions
  best (AUROC 0.97 there);
- coverage: the share of the question's content words (or, in Korean, Japanese and Chinese, its character
  bigrams) found in the retrieved passages' titles, headings and text: "Salesforce", "WhatsApp" or "banana bread"
  appear nowhere in a help centre that cannot answer them, even when the embedding finds a passage "close";
- vector: the best cosine similarity, recorded but not weighted: alone it was weak (AUROC 0.72: off-topic
  questions about the product sit as close to its pages as paraphrased real ones) and added nothing to the two
  above;
- rerank: the reranker's 0–1 relevance of the best passage, when it ran (kb/reranking.py; see RERANK_WEIGHT).

The weights were fitted on a development split (class-balanced, L2-regularised logistic regression; see
docs/evaluation.md, "Answerability"); the threshold is CHAT_ANSWERABLE_THRESHOLD. The same probability is the
retrieval half of the confidence a visitor sees, so confidence separates answerable from unanswerable questions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from django.conf import settings

from kb import SearchResult

# Fitted on two development sets together, each corpus and class weighted alike (MiniLM, hybrid search, k=5,
# reranker off): kb/demo (eval.jsonl + unanswerable.jsonl, 209 chunks) and the held-out English development split
# (supportbot/evaluation/heldout/en-dev.jsonl + en-unanswerable-dev.jsonl, 4,374 chunks). AUROC 0.97 and 0.91.
WEIGHTS = {"keyword": 2.165, "coverage": 1.113}
BIAS = -4.001
# When the reranker ran (KB_RERANK), its 0–1 relevance of the best passage is recorded with every answer and can
# be averaged in with this weight. It is 0 until it is fitted on a development split with the reranker on: the
# weights above were fitted with it off (its default), and an unmeasured weight would move the threshold.
RERANK_WEIGHT = 0.0

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")
# Words that carry no topic: a question is covered by its passages when its other words are in them.
_STOPWORD_TEXT = """a about after all also am an and any are as at be been but by can could did do does doing for
from get got had has have how i if in into is it its just like make me my need no not of on or our out over should
so some than that the their them then there they this those to too up us use using very want was way we were what
when where which who why will with would you your yours"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Words compared by their first letters: a cheap stemmer ("refunds" finds "refund", "configuring" "configure").
_STEM = 5


@dataclass(frozen=True)
class Answerability:
    probability: float
    answerable: bool
    features: dict


def answerability_judge(*, question: str, results: list[SearchResult], chunk_total: int) -> Answerability:
    """The probability that one of `results` answers `question`, and whether it clears the threshold.
    `chunk_total` is the number of chunks in the knowledge base (kb_state().chunk_total)."""
    if not results:
        return Answerability(0.0, False, {})
    features = answerability_features(question=question, results=results, chunk_total=chunk_total)
    logit = BIAS + sum(WEIGHTS[name] * features[name] for name in WEIGHTS)
    probability = 1.0 / (1.0 + math.exp(-logit))
    if RERANK_WEIGHT and features.get("rerank") is not None:
        probability = (1 - RERANK_WEIGHT) * probability + RERANK_WEIGHT * features["rerank"]
    threshold = settings.CHAT_ANSWERABLE_THRESHOLD
    if probability < threshold and _close_paraphrase(features["vector"]):
        probability = threshold
    probability = round(probability, 4)
    return Answerability(probability, probability >= threshold, features)


def _close_paraphrase(cosine: float) -> bool:
    """A question worded nothing like its passage ("get my money back" for "Refunds") has no keyword evidence; a
    cosine this high still says a passage answers it. On the held-out English development split, a cosine of
    0.70 or more rescued answerable questions (answered 0.85 -> 0.90) without answering one unanswerable one more
    (declined 0.76 both). Calibrated for all-MiniLM-L6-v2 only: other models' cosines run higher for everything."""
    from kb.embeddings import BUNDLED_MODEL, embedder

    cutoff = settings.CHAT_ANSWERABLE_COSINE
    return bool(cutoff) and embedder().model_name == BUNDLED_MODEL and cosine >= cutoff


def answerability_features(*, question: str, results: list[SearchResult], chunk_total: int) -> dict:
    reranked = [r.rerank_score for r in results if r.rerank_score is not None]
    best_keyword = max((r.keyword_score or 0.0) for r in results)
    return {
        "keyword": round(best_keyword / math.log(2 + max(chunk_total, 0)), 4),
        "coverage": round(_coverage(question, results), 4),
        "vector": round(max((r.vector_score or 0.0) for r in results), 4),
        "rerank": round(max(reranked), 4) if reranked else None,
    }


def _coverage(question: str, results: list[SearchResult]) -> float:
    wanted = _terms(question)
    if not wanted:
        return 1.0
    found = set().union(*(_terms(f"{r.title} {r.heading} {r.text}") for r in results))
    return len(wanted & found) / len(wanted)


def _terms(text: str) -> set[str]:
    """Content words cut to their first letters, plus character bigrams of CJK runs (which have no spaces)."""
    lowered = text.lower()
    words = {w[:_STEM] for w in _WORD.findall(_CJK_RUN.sub(" ", lowered)) if len(w) >= 3 and w not in _STOPWORDS}
    bigrams = {run[i : i + 2] for run in _CJK_RUN.findall(lowered) for i in range(len(run) - 1)}
    return words | bigrams
