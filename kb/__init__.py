"""The knowledge base: documents in, chunks with embeddings out, and one search for every caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kb.retrieval import SearchResult


def search(query: str, *, k: int = 5, mode: str = "hybrid", **options: Any) -> list[SearchResult]:
    """The single entry point for retrieval (chat, console playground, CLI, evaluator).

    Imported lazily so `import kb` works before Django's app registry is ready.
    """
    from kb.retrieval import search as _search

    return _search(query, k=k, mode=mode, **options)
