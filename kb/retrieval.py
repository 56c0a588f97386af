"""Retrieval: vector (pgvector HNSW, cosine), keyword (Postgres full-text) or both fused by reciprocal rank.

Chunks in quarantine (planted instructions found at ingestion and not released by an admin, kb/quarantine.py)
are never candidates, in any mode.

Hybrid search is one SQL statement: each signal takes its top candidates, a full outer join fuses them with
RRF (score = Σ 1 / (rrf_k + rank)), and the result rows carry the rank and score from each signal so callers
(confidence, the console playground, the evaluator) can see why a chunk ranked where it did.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import connection
from pgvector import Vector

from kb.embeddings import embed_query
from kb.search_result import SEARCH_MODES, SearchResult

_VECTOR_CTE = """
vector_hits AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank, 1 - distance AS score
      FROM (SELECT id, embedding <=> %(vector)s::vector AS distance
              FROM kb_chunk WHERE NOT quarantined
             ORDER BY embedding <=> %(vector)s::vector LIMIT %(candidates)s) AS nearest
)"""

# Keyword ranking is BM25 (k1 = 1.2, b = 0.75) over the full-text vectors: ts_rank has no notion of how rare a
# word is, so "widget" would count as much as "E4403". Ranking every chunk that shares a common word with the
# question does not scale (at 100k chunks "widget" matches half of them), so the GIN index is asked only for the
# question's selective lexemes (in at most KB_KEYWORD_SELECTIVE_SHARE of chunks, or 50): ts_rank keeps the best
# few hundred of those, the vector candidates join them in hybrid mode, and BM25 scores that pool with every
# query lexeme and the document frequencies in kb_lexemestat.
_KEYWORD_CTE = """
keyword_pool AS (
    SELECT c.id
      FROM kb_chunk AS c, selective_query AS q
     WHERE c.search_vector @@ q.query AND NOT c.quarantined
     ORDER BY ts_rank(c.search_vector, q.query, 1) DESC
     LIMIT %(rescore)s
),
keyword_hits AS (
    SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank, score
      FROM (SELECT c.id,
                   sum(t.idf * (u.tf * 2.2)
                       / (u.tf + 1.2 * (0.25 + 0.75 * length(c.search_vector) / s.avg_len)))::float8 AS score
              FROM (SELECT id FROM keyword_pool {vector_pool}) AS p
              JOIN kb_chunk AS c ON c.id = p.id
             CROSS JOIN LATERAL (SELECT lexeme, array_length(positions, 1) AS tf FROM unnest(c.search_vector)) AS u
              JOIN query_terms AS t ON t.lexeme = u.lexeme
             CROSS JOIN corpus AS s
             GROUP BY c.id
             ORDER BY score DESC
             LIMIT %(candidates)s) AS matched
)"""

_KEYWORD_SUPPORT = """
corpus AS (
    SELECT greatest(chunk_total, 1) AS total, greatest(avg_chunk_lexemes, 1) AS avg_len
      FROM kb_knowledgebasestate ORDER BY id LIMIT 1
),
query_terms AS (
    SELECT l.lexeme, l.ndoc, ln(1 + (s.total - l.ndoc + 0.5) / (l.ndoc + 0.5)) AS idf
      FROM kb_lexemestat AS l, corpus AS s
     WHERE l.lexeme IN (SELECT lexeme FROM unnest(kb_tsvector(%(cfg)s::regconfig, %(query)s)))
),
selective_query AS (
    SELECT coalesce(string_agg(quote_literal(lexeme), ' | '), '')::tsquery AS query
      FROM (SELECT t.lexeme, row_number() OVER (ORDER BY t.ndoc, t.lexeme) AS rarity
              FROM query_terms AS t, corpus AS s
             WHERE t.ndoc <= greatest(s.total * %(selective_share)s, %(selective_min)s)) AS rare
     WHERE rarity <= %(selective_terms)s
)"""

_FUSED = {
    "hybrid": """
fused AS (
    SELECT coalesce(v.id, k.id) AS id, v.rank AS vector_rank, k.rank AS keyword_rank,
           v.score AS vector_score, k.score AS keyword_score,
           (coalesce(1.0 / (%(rrf_k)s + v.rank), 0) + coalesce(1.0 / (%(rrf_k)s + k.rank), 0))::float8 AS score
      FROM vector_hits AS v FULL OUTER JOIN keyword_hits AS k ON v.id = k.id
)""",
    "vector": """
fused AS (
    SELECT id, rank AS vector_rank, NULL::bigint AS keyword_rank, score AS vector_score,
           NULL::float8 AS keyword_score, score
      FROM vector_hits
)""",
    "keyword": """
fused AS (
    SELECT id, NULL::bigint AS vector_rank, rank AS keyword_rank, NULL::float8 AS vector_score,
           score AS keyword_score, score
      FROM keyword_hits
)""",
}

_SELECT = """
SELECT f.id, c.document_id, d.title, d.uri, d.url, c.heading_path, c.anchor, c.text, f.score,
       f.vector_rank, f.keyword_rank, f.vector_score, f.keyword_score
  FROM fused AS f
  JOIN kb_chunk AS c ON c.id = f.id
  JOIN kb_document AS d ON d.id = c.document_id
 ORDER BY f.score DESC, f.id
 LIMIT %(k)s"""


def search(
    query: str, *, k: int = 5, mode: str = "hybrid", candidates: int | None = None, vector: np.ndarray | None = None
) -> list[SearchResult]:
    """Top `k` chunks for `query`. See the module docstring for how the modes rank.

    `vector` is the query's embedding when the caller already has it (the chat embeds once for cache and search).
    """
    if mode not in SEARCH_MODES:
        raise ValueError(f"mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
    query = query.strip()
    if not query or k < 1:
        return []
    params = {
        "query": query,
        "cfg": settings.KB_TEXT_SEARCH_CONFIG,
        "k": k,
        "candidates": max(candidates or settings.KB_SEARCH_CANDIDATES, k),
        "rrf_k": settings.KB_RRF_K,
        "rescore": settings.KB_KEYWORD_RESCORE,
        "selective_share": settings.KB_KEYWORD_SELECTIVE_SHARE,
        "selective_min": 50,
        "selective_terms": settings.KB_KEYWORD_SELECTIVE_TERMS,
    }
    ctes = []
    if mode in ("hybrid", "vector"):
        params["vector"] = Vector((embed_query(query) if vector is None else vector).tolist()).to_text()
        ctes.append(_VECTOR_CTE)
    if mode in ("hybrid", "keyword"):
        pool = "UNION SELECT id FROM vector_hits" if mode == "hybrid" else ""
        ctes += [_KEYWORD_SUPPORT, _KEYWORD_CTE.format(vector_pool=pool)]
    sql = "WITH " + ",".join([*ctes, _FUSED[mode]]) + _SELECT
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [SearchResult(*row) for row in cursor.fetchall()]
