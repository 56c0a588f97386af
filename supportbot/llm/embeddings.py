"""Embeddings over an OpenAI-compatible API, for kb.embeddings' `openai` backend (which normalises and checks
the vectors); the request is made here so that nothing outside this package calls the openai SDK."""

from __future__ import annotations

import openai


def texts_embed(*, client: openai.OpenAI, model: str, texts: list[str], batch_size: int) -> list[list[float]]:
    """One vector per text, in the order given, asked for `batch_size` texts at a time."""
    rows: list[list[float]] = []
    for start in range(0, len(texts), batch_size):
        response = client.embeddings.create(model=model, input=texts[start : start + batch_size])
        # The API may return a batch's vectors in any order; each carries the index of its text.
        rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
    return rows
