"""Search latency through `kb.search` (the product's one way in to retrieval), and diagnostics at the largest size.

End to end is the whole call, query embedding included; database-only is the same call with the embedding looked
up instead of computed. Timings are taken in groups of GROUP questions through the QuietGate (bench/machine.py).
"""

from __future__ import annotations

import json
import re
import time

from bench.harness import seconds_to_ms, stats_ms
from bench.machine import QuietGate

MODES = ("hybrid", "vector", "keyword")
GROUP = 10  # queries per timed group (see QuietGate)


def measure_latency(queries: list[str], query_vectors: dict, warmup: int, gate: QuietGate) -> dict:
    import kb
    import kb.retrieval as retrieval
    from kb.embeddings import embed_query

    groups = [queries[i : i + GROUP] for i in range(0, len(queries), GROUP)]
    for q in queries[:warmup]:
        for mode in MODES:
            kb.search(q, k=5, mode=mode)

    def e2e_group(offset: int, group: list[str]) -> tuple[dict, dict]:
        samples: dict[str, list[float]] = {m: [] for m in MODES}
        empty: dict[str, int] = {m: 0 for m in MODES}
        for i, q in enumerate(group, start=offset):
            for mode in MODES[i % 3 :] + MODES[: i % 3]:  # rotate the order so no mode always goes first
                started = time.perf_counter()
                results = kb.search(q, k=5, mode=mode)
                samples[mode].append(time.perf_counter() - started)
                empty[mode] += not results
        return samples, empty

    samples: dict[str, list[float]] = {m: [] for m in MODES}
    empty: dict[str, int] = {m: 0 for m in MODES}
    for n, group in enumerate(groups):
        group_samples, group_empty = gate.run(lambda n=n, group=group: e2e_group(n * GROUP, group))
        for m in MODES:
            samples[m] += group_samples[m]
            empty[m] += group_empty[m]
    out = {f"{m}_e2e": stats_ms(seconds_to_ms(samples[m])) for m in MODES}

    # Database only: the same calls with the query embedding looked up instead of computed.
    def db_group(offset: int, group: list[str]) -> dict:
        times: dict[str, list[float]] = {"hybrid": [], "vector": []}
        for i, q in enumerate(group, start=offset):
            for mode in ("hybrid", "vector") if i % 2 else ("vector", "hybrid"):
                started = time.perf_counter()
                kb.search(q, k=5, mode=mode)
                times[mode].append(time.perf_counter() - started)
        return times

    db_samples: dict[str, list[float]] = {"hybrid": [], "vector": []}
    original = retrieval.embed_query
    retrieval.embed_query = query_vectors.__getitem__
    try:
        for q in queries[:warmup]:
            kb.search(q, k=5, mode="hybrid")
        for n, group in enumerate(groups):
            group_times = gate.run(lambda n=n, group=group: db_group(n * GROUP, group))
            for m in db_samples:
                db_samples[m] += group_times[m]
    finally:
        retrieval.embed_query = original
    out["hybrid_db"] = stats_ms(seconds_to_ms(db_samples["hybrid"]))
    out["vector_db"] = stats_ms(seconds_to_ms(db_samples["vector"]))
    out["keyword_db"] = out["keyword_e2e"]
    out["embed_query"] = stats_ms(seconds_to_ms(time_embeddings(queries, embed_query, gate)))
    out["empty_results"] = empty
    out["_raw_hybrid_e2e_ms"] = [round(s * 1000, 3) for s in samples["hybrid"]]
    out["_raw_keyword_ms"] = [round(s * 1000, 3) for s in samples["keyword"]]
    return out


def measure_keyword_latency(queries: list[str], warmup: int, gate: QuietGate) -> dict:
    """Keyword-only search latency (no embedding, no HNSW): the measure at the keyword-only sizes."""
    import kb

    for q in queries[:warmup]:
        kb.search(q, k=5, mode="keyword")

    def group_times(group: list[str]) -> tuple[list[float], int]:
        times, empty = [], 0
        for q in group:
            started = time.perf_counter()
            empty += not kb.search(q, k=5, mode="keyword")
            times.append(time.perf_counter() - started)
        return times, empty

    samples: list[float] = []
    empty = 0
    for i in range(0, len(queries), GROUP):
        times, group_empty = gate.run(lambda i=i: group_times(queries[i : i + GROUP]))
        samples += times
        empty += group_empty
    return {"keyword_e2e": stats_ms(seconds_to_ms(samples)), "empty_results": {"keyword": empty}}


def time_embeddings(queries: list[str], embed_query, gate: QuietGate) -> list[float]:
    def group_times(group: list[str]) -> list[float]:
        times = []
        for q in group:
            started = time.perf_counter()
            embed_query(q)
            times.append(time.perf_counter() - started)
        return times

    out: list[float] = []
    for i in range(0, len(queries), 5 * GROUP):
        out += gate.run(lambda i=i: group_times(queries[i : i + 5 * GROUP]))
    return out


def captured_search_sql(query: str, mode: str = "hybrid") -> tuple[str, object]:
    """The exact statement and parameters `kb.search` sends to Postgres (captured with an execute wrapper)."""
    from django.db import connection

    import kb

    captured: list = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        kb.search(query, k=5, mode=mode)
    return captured[-1]


def _walk(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def explain_hybrid(query: str) -> dict:
    from django.db import connection

    sql, params = captured_search_sql(query, "hybrid")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        doc = cursor.fetchone()[0]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        text = "\n".join(row[0] for row in cursor.fetchall())
    # The 384 numbers of the query vector would drown the plan: shorten every vector literal.
    text = re.sub(r"'\[[-+0-9.e,]+\]'::vector", "'[…query vector…]'::vector", text)
    plan = doc[0]
    nodes = list(_walk(plan["Plan"]))
    hnsw = [n for n in nodes if n.get("Index Name") == "kb_chunk_embedding_hnsw"]
    keyword_scans = [
        n for n in nodes if n.get("Relation Name") == "kb_chunk" and "search_vector" in str(n.get("Recheck Cond", ""))
    ] or [n for n in nodes if "search_vector" in str(n.get("Filter", "")) + str(n.get("Index Cond", ""))]
    # The node just above the keyword scan computes ts_rank for every match and sorts (top-N) them.
    keyword_top = [n for n in nodes if any(c in keyword_scans for c in n.get("Plans", []))]
    return {
        "query": query,
        "planning_ms": round(plan.get("Planning Time", 0.0), 2),
        "execution_ms": round(plan.get("Execution Time", 0.0), 2),
        "hnsw_index_used": bool(hnsw),
        "hnsw_scan_ms": round(hnsw[0]["Actual Total Time"], 2) if hnsw else None,
        "keyword_matches": int(keyword_scans[0]["Actual Rows"]) if keyword_scans else None,
        "keyword_scan_ms": round(keyword_scans[0]["Actual Total Time"], 2) if keyword_scans else None,
        "keyword_rank_and_sort_ms": round(keyword_top[0]["Actual Total Time"], 2) if keyword_top else None,
        "text": text,
    }


def keyword_match_counts(queries: list[str]) -> list[int]:
    """Per question, how many chunks share at least one lexeme with it (what an OR of all its words matches)."""
    from django.conf import settings
    from django.db import connection

    import kb.retrieval as r

    expression = getattr(
        r, "_KEYWORD_QUERY", "replace(plainto_tsquery(%(cfg)s::regconfig, %(query)s)::text, '&', '|')::tsquery"
    )
    counts = []
    with connection.cursor() as cursor:
        for q in queries:
            cursor.execute(
                f"SELECT count(*) FROM kb_chunk AS c, (SELECT {expression} AS query) AS q "
                "WHERE c.search_vector @@ q.query",
                {"query": q, "cfg": settings.KB_TEXT_SEARCH_CONFIG},
            )
            counts.append(cursor.fetchone()[0])
    return counts


def fresh_connection_cost(queries: list[str], n: int = 20) -> dict:
    """A search on a brand-new connection: what each request pays with CONN_MAX_AGE = 0."""
    from django.db import connection

    import kb

    warm, cold = [], []
    for q in queries[:n]:
        connection.close()
        started = time.perf_counter()
        kb.search(q, k=5, mode="hybrid")
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        kb.search(q, k=5, mode="hybrid")
        warm.append(time.perf_counter() - started)
    return {
        "hybrid_on_new_connection": stats_ms(seconds_to_ms(cold)),
        "hybrid_same_query_reused_connection": stats_ms(seconds_to_ms(warm)),
    }


def diagnostics(queries: list[str], largest: dict) -> dict:
    """At the largest size: EXPLAIN of the median and the slowest question, keyword matches, a fresh connection."""
    import numpy as np

    from bench.retrieval.load import relation_sizes

    order = np.argsort(largest["latency"]["_raw_hybrid_e2e_ms"])
    median_q, slowest_q = queries[int(order[len(order) // 2])], queries[int(order[-1])]
    counts = keyword_match_counts(queries)
    return {
        "keyword_matches": {
            "median": int(np.median(counts)),
            "p95": int(np.percentile(counts, 95)),
            "max": int(max(counts)),
            "median_share": float(np.median(counts)) / largest["chunks"],
            "corr_with_keyword_latency": round(
                float(np.corrcoef(counts, largest["latency"]["_raw_keyword_ms"])[0, 1]), 3
            ),
        },
        "explain_median_query": explain_hybrid(median_q),
        "explain_slowest_query": explain_hybrid(slowest_q),
        "fresh_connection": fresh_connection_cost(queries),
        "relation_sizes": relation_sizes(),
    }
