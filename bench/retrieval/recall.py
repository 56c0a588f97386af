"""HNSW recall@10: the k-NN statement on the app's own connection against the same statement with the index off.

Recall@10 = mean of |HNSW ∩ exact| / 10 over held-out query vectors, at the app's `hnsw.ef_search` (from the
connection options) and at the sweep's other values (SET LOCAL); EXPLAIN checks which plan used the index.
"""

from __future__ import annotations

import time

from bench.harness import log, seconds_to_ms, stats_ms

EF_SWEEP = (40, 100, 200, 400)

_KNN_SQL = "SELECT id FROM kb_chunk ORDER BY embedding <=> %s::vector LIMIT 10"


def knn_ids(vector_text: str, *, exact: bool = False, ef_search: int | None = None) -> tuple[list[int], float]:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            # The same query with the index disabled: a (parallel) sequential scan computing every distance.
            cursor.execute("SET LOCAL enable_indexscan = off")
        if ef_search is not None:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute(_KNN_SQL, [vector_text])
        ids = [row[0] for row in cursor.fetchall()]
    return ids, time.perf_counter() - started


def knn_plan_uses_hnsw(vector_text: str, *, exact: bool, ef_search: int | None = None) -> bool:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            cursor.execute("SET LOCAL enable_indexscan = off")
        if ef_search is not None:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute("EXPLAIN " + _KNN_SQL, [vector_text])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return "kb_chunk_embedding_hnsw" in plan


def measure_recall(query_vectors: list[str]) -> dict:
    from django.db import connection

    if not knn_plan_uses_hnsw(query_vectors[0], exact=False):
        log("  WARNING: the k-NN query does not use the HNSW index")
    if knn_plan_uses_hnsw(query_vectors[0], exact=True):
        raise RuntimeError("the exact query still uses the HNSW index")
    with connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        app_ef = int(cursor.fetchone()[0])
    for v in query_vectors[:20]:  # warm-up
        knn_ids(v)
    exact, exact_times = [], []
    for v in query_vectors:
        ids, took = knn_ids(v, exact=True)
        exact.append(set(ids))
        exact_times.append(took)
    out: dict = {"app_ef_search": app_ef, "exact_latency_ms": stats_ms(seconds_to_ms(exact_times)), "by_ef_search": {}}
    for ef in sorted({app_ef, *EF_SWEEP}):
        hits, times, per_query = 0, [], []
        for v, truth in zip(query_vectors, exact, strict=True):
            # The app's own setting comes from the connection options; others are SET LOCAL.
            ids, took = knn_ids(v, ef_search=None if ef == app_ef else ef)
            found = len(truth & set(ids))
            hits += found
            per_query.append(found / 10)
            times.append(took)
        out["by_ef_search"][str(ef)] = {
            "index_used": knn_plan_uses_hnsw(query_vectors[0], exact=False, ef_search=None if ef == app_ef else ef),
            "recall_at_10": round(hits / (10 * len(query_vectors)), 4),
            "min_query_recall": round(min(per_query), 2),
            "queries_below_0.9": sum(r < 0.9 for r in per_query),
            "latency_ms": stats_ms(seconds_to_ms(times)),
        }
    out["recall_at_10"] = out["by_ef_search"][str(app_ef)]["recall_at_10"]
    return out
