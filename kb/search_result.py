"""What `kb.search` takes and returns: its modes, its result type and the one serialiser of a result.

Kept apart from kb/retrieval.py (the SQL, numpy, the embedding model) so `kb/__init__.py` can export the result
type before Django's app registry is ready, and every caller imports it from `kb`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from kb.public_links import document_link

SEARCH_MODES = ("hybrid", "vector", "keyword")

# Projections of `SearchResult.as_dict`, each in the key order its caller has always printed.
CLI_FIELDS = ("chunk_id", "document_id", "title", "source", "url", "heading", "text", "score")
EVALUATION_FIELDS = ("chunk_id", "title", "heading", "source", "url", "score", "text")
# What a visitor may see of a result (GET /api/search): what a citation shows, never scores or the server path.
PUBLIC_FIELDS = ("title", "heading", "url", "text")


@dataclass
class SearchResult:
    chunk_id: int
    document_id: int
    title: str
    source: str
    url: str
    heading_path: list[str]
    anchor: str
    text: str
    score: float
    vector_rank: int | None = None
    keyword_rank: int | None = None
    vector_score: float | None = None
    keyword_score: float | None = None
    # The cross-encoder's relevance of this chunk to the question, when the reranker ran (kb/reranking.py).
    rerank_score: float | None = None

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def link(self) -> str:
        # What visitors see: never `source`, the server path an upload or local file was read from.
        return document_link(url=self.url, document_id=self.document_id, anchor=self.anchor)

    def as_dict(self, fields: Iterable[str] | None = None) -> dict:
        """Every field, with `url` the public link and `heading` joined; or only `fields`, in that order."""
        full = {**asdict(self), "heading": self.heading, "url": self.link}
        return full if fields is None else {name: full[name] for name in fields}
