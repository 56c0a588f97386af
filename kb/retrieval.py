"""Retrieval: vector (pgvector HNSW, cosine), keyword (BM25 over Postgres full-text vectors) or both fused.

Chunks in quarantine (planted instructions found at ingestion and not released by an admin, kb/quarantine.py)
are never candidates, in any mode.

Every mode is one SQL statement. The rows carry the rank and score from each signal so callers (confidence, the
console playground, the evaluator) can see why a chunk ranked where it did.

Keyword search is BM25 (k1 = 1.2, b = 0.75; IDF from kb_lexemestat, the chunk's lexeme count as its length)
over the whole index. Scoring every chunk that shares a word with the question does not scale (at 1M chunks a
common word matches half of them), so candidates come from every query term separately, through the GIN index
on kb_chunk.search_vector: all the chunks of a term found in at most KB_KEYWORD_TERM_CANDIDATES chunks, the first
that many of a more common one, and the chunks holding all of the common terms together (a question made only of
common words still finds the chunks that have them all). A cheap BM25 estimate of each (term, chunk) pair — a
saturating term frequency from ts_rank of that one term — keeps the best KB_KEYWORD_RESCORE chunks, and those
are scored with exact BM25 over every query term. A chunk that contains a rare term is therefore always a
candidate, and a common term can only be missed where its weight (a low IDF) is small.

Hybrid search scores the union of both candidate lists with both signals: the cosine of every candidate is
computed exactly (an HNSW miss found by keyword search gets its true similarity) and BM25 covers the vector
candidates. Fusion (KB_FUSION) is either "score" — a weighted sum of min-max normalised cosine and
max-normalised BM25 — or "rrf", weighted reciprocal rank fusion; the weights KB_FUSION_VECTOR_WEIGHT and
KB_FUSION_KEYWORD_WEIGHT are set from a development split (docs/evaluation.md). With either weight at 0 the
hybrid ranking is exactly that of the other signal, so tuning can never end below the better part.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import connection
from pgvector import Vector

from kb.embeddings import embed_query
from kb.reranking import rerank_applies, results_rerank
from kb.search_result import SEARCH_MODES, SearchResult

FUSIONS = ("score", "rrf")

_VECTOR_CTE = """
vector_hits AS (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank, 1 - distance AS score
      FROM (SELECT id, embedding <=> %(vector)s::vector AS distance
              FROM kb_chunk WHERE NOT quarantined
             ORDER BY embedding <=> %(vector)s::vector LIMIT %(candidates)s) AS nearest
)"""

_KEYWORD_SUPPORT = """
corpus AS (
    SELECT greatest(chunk_total, 1) AS total, greatest(avg_chunk_lexemes, 1) AS avg_len
      FROM kb_knowledgebasestate ORDER BY id LIMIT 1
),
query_terms AS (
    SELECT l.lexeme, l.ndoc, quote_literal(l.lexeme)::tsquery AS query,
           ln(1 + (s.total - l.ndoc + 0.5) / (l.ndoc + 0.5)) AS idf
      FROM kb_lexemestat AS l, corpus AS s
     WHERE l.lexeme IN (SELECT lexeme FROM unnest(kb_tsvector(%(cfg)s::regconfig, %(query)s)))
),
common_query AS (
    SELECT string_agg(quote_literal(lexeme), ' & ')::tsquery AS query, count(*) AS terms
      FROM query_terms WHERE ndoc > %(term_cap)s
)"""

# ts_rank of one term with equal weights is (Σ_{j≤tf} 1/j²) / (π²/6) ≈ 1 - 1 / (π²/6 · (tf + 0.5)), so the
# term frequency is read back from it without unnesting the chunk's whole vector (exact to ±0.05 for small tf).
_TERM_FREQUENCY = "1 / (1.6449 * greatest(1 - ts_rank('{{1,1,1,1}}', {vector}, t.query, 0), 1e-4)) - 0.5"
_TERM_ESTIMATE = "t.idf * r.tf * 2.2 / (r.tf + 1.2 * (0.25 + 0.75 * r.len / s.avg_len))"

_KEYWORD_CTE = """
term_pairs AS (
    SELECT r.id, t.lexeme, {estimate} AS estimate
      FROM query_terms AS t
     CROSS JOIN corpus AS s
     CROSS JOIN LATERAL (
           SELECT c.id, {tf} AS tf, length(c.search_vector) AS len
             FROM kb_chunk AS c
            WHERE c.search_vector @@ t.query AND NOT c.quarantined
            LIMIT %(term_cap)s) AS r
    UNION ALL
    SELECT j.id, t.lexeme, {estimate}
      FROM (SELECT c.id, c.search_vector
              FROM kb_chunk AS c, common_query AS q
             WHERE q.terms > 1 AND c.search_vector @@ q.query AND NOT c.quarantined
             LIMIT %(term_cap)s) AS j
     CROSS JOIN corpus AS s
      JOIN query_terms AS t ON t.ndoc > %(term_cap)s
     CROSS JOIN LATERAL (SELECT {tf_common} AS tf, length(j.search_vector) AS len) AS r
),
keyword_pool AS (
    SELECT id FROM (SELECT id, lexeme, max(estimate) AS estimate FROM term_pairs GROUP BY id, lexeme) AS best
     GROUP BY id
     ORDER BY sum(estimate) DESC, id
     LIMIT %(rescore)s
),
keyword_scored AS (
    SELECT c.id,
           sum(t.idf * (u.tf * 2.2)
               / (u.tf + 1.2 * (0.25 + 0.75 * length(c.search_vector) / s.avg_len)))::float8 AS score
      FROM (SELECT id FROM keyword_pool {vector_pool}) AS p
      JOIN kb_chunk AS c ON c.id = p.id
     CROSS JOIN LATERAL (SELECT lexeme, array_length(positions, 1) AS tf FROM unnest(c.search_vector)) AS u
      JOIN query_terms AS t ON t.lexeme = u.lexeme
     CROSS JOIN corpus AS s
     GROUP BY c.id
),
keyword_hits AS (
    SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank, score
      FROM keyword_scored ORDER BY score DESC, id LIMIT %(candidates)s
)"""

# Both signals for every candidate of either list: the exact cosine, and BM25 (0 where no query term occurs).
_HYBRID_CANDIDATES = """
candidates AS (
    SELECT p.id, v.rank AS vector_rank, k.rank AS keyword_rank,
           1 - (c.embedding <=> %(vector)s::vector) AS vector_score, ks.score AS keyword_score
      FROM (SELECT id FROM vector_hits UNION SELECT id FROM keyword_hits) AS p
      JOIN kb_chunk AS c ON c.id = p.id
      LEFT JOIN vector_hits AS v ON v.id = p.id
      LEFT JOIN keyword_hits AS k ON k.id = p.id
      LEFT JOIN keyword_scored AS ks ON ks.id = p.id
),
bounds AS (
    SELECT min(vector_score) AS vmin, max(vector_score) AS vmax, max(keyword_score) AS kmax FROM candidates
)"""

_FUSION_SCORE = {
    "score": """
%(vector_weight)s * coalesce((c.vector_score - b.vmin) / nullif(b.vmax - b.vmin, 0), 1)
+ %(keyword_weight)s * coalesce(c.keyword_score / nullif(b.kmax, 0), 0)""",
    "rrf": """
coalesce(%(vector_weight)s / (%(rrf_k)s + c.vector_rank), 0)
+ coalesce(%(keyword_weight)s / (%(rrf_k)s + c.keyword_rank), 0)""",
}

_FUSED = {
    "hybrid": """
fused AS (
    SELECT c.id, c.vector_rank, c.keyword_rank, c.vector_score, c.keyword_score,
           ({fusion})::float8 AS score
      FROM candidates AS c CROSS JOIN bounds AS b
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


def search_sql(mode: str) -> str:
    """The one statement `search` sends for `mode` (the benchmarks EXPLAIN it)."""
    ctes = []
    if mode in ("hybrid", "vector"):
        ctes.append(_VECTOR_CTE)
    if mode in ("hybrid", "keyword"):
        pool = "UNION SELECT id FROM vector_hits" if mode == "hybrid" else ""
        keyword = _KEYWORD_CTE.format(
            estimate=_TERM_ESTIMATE,
            tf=_TERM_FREQUENCY.format(vector="c.search_vector"),
            tf_common=_TERM_FREQUENCY.format(vector="j.search_vector"),
            vector_pool=pool,
        )
        ctes += [_KEYWORD_SUPPORT, keyword]
    if mode == "hybrid":
        ctes.append(_HYBRID_CANDIDATES)
        fused = _FUSED[mode].format(fusion=_FUSION_SCORE[settings.KB_FUSION])
    else:
        fused = _FUSED[mode]
    return "WITH " + ",".join([*ctes, fused]) + _SELECT


def search(
    query: str,
    *,
    k: int = 5,
    mode: str = "hybrid",
    candidates: int | None = None,
    vector: np.ndarray | None = None,
    rerank: bool | None = None,
) -> list[SearchResult]:
    """Top `k` chunks for `query`. See the module docstring for how the modes rank.

    `vector` is the query's embedding when the caller already has it (the chat embeds once for cache and search).
    `rerank`: re-order the best KB_RERANK_CANDIDATES fused chunks with kb/reranking.py before cutting to `k`;
    by default (None) in hybrid mode when KB_RERANK is on and the question's language is in KB_RERANK_LANGUAGES,
    so the single-signal modes the evaluator compares stay what they are.
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
        "rescore": settings.KB_KEYWORD_RESCORE,
        "term_cap": settings.KB_KEYWORD_TERM_CANDIDATES,
        "rrf_k": settings.KB_RRF_K,
        "vector_weight": settings.KB_FUSION_VECTOR_WEIGHT,
        "keyword_weight": settings.KB_FUSION_KEYWORD_WEIGHT,
    }
    if mode in ("hybrid", "vector"):
        params["vector"] = Vector((embed_query(query) if vector is None else vector).tolist()).to_text()
    # Reranking (issue #18): a larger fused pool, re-ordered by the reranker, then cut to k.
    if rerank is None:
        rerank = mode == "hybrid" and rerank_applies(query)
    if rerank:
        params["k"] = max(k, settings.KB_RERANK_CANDIDATES)
    with connection.cursor() as cursor:
        cursor.execute(search_sql(mode), params)
        results = [SearchResult(*row) for row in cursor.fetchall()]
    return results_rerank(query=query, results=results, k=k) if rerank else results
