"""The knowledge base: documents in, chunks with embeddings out, and one search for every caller.

`kb.search` and its result type `kb.SearchResult` are the only way in to retrieval: the chat, the console
playground, the public search, the CLI and the evaluator all call them (callers that report latency time the
call themselves).
"""

from __future__ import annotations

from typing import Any

from kb.search_result import SEARCH_MODES, SearchResult

__all__ = ["SEARCH_MODES", "SearchResult", "search"]


def search(query: str, *, k: int = 5, mode: str = "hybrid", **options: Any) -> list[SearchResult]:
    """The single entry point for retrieval (chat, console playground, public search, CLI, evaluator).

    kb.retrieval is imported lazily so `import kb` works before Django's app registry is ready.
    """
    from kb.retrieval import search as _search

    return _search(query, k=k, mode=mode, **options)
