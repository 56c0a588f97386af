"""HNSW recall: the k-NN statement on the app's own connection against the same statement with the index off.

Recall@10 = mean of |HNSW ∩ exact| / 10 over held-out query vectors, at the app's `hnsw.ef_search` (from the
connection options) and at the sweep's other values (SET LOCAL); EXPLAIN checks which plan used the index.
`python -m bench.retrieval` measures it on synthetic vectors; on real text (an ingested knowledge base and the
questions of eval files, embedded by the product) `python -m bench.retrieval.recall` measures recall@5 at several
ef_search values and a plain BM25 (bm25s) as the reference for keyword search; see `real_text_main` below.
"""

from __future__ import annotations

import time

from bench.harness import log, seconds_to_ms, stats_ms

EF_SWEEP = (40, 100, 200, 400)

# kb.search's vector candidates come from the same scan: quarantined chunks are never candidates.
_KNN_SQL = "SELECT id FROM kb_chunk WHERE NOT quarantined ORDER BY embedding <=> %s::vector LIMIT {limit}"


def knn_ids(
    vector_text: str, *, exact: bool = False, ef_search: int | None = None, limit: int = 10
) -> tuple[list[int], float]:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            # The same query with the index disabled: a (parallel) sequential scan computing every distance.
            cursor.execute("SET LOCAL enable_indexscan = off")
        if ef_search is not None:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute(_KNN_SQL.format(limit=int(limit)), [vector_text])
        ids = [row[0] for row in cursor.fetchall()]
    return ids, time.perf_counter() - started


def knn_plan_uses_hnsw(vector_text: str, *, exact: bool, ef_search: int | None = None) -> bool:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if exact:
            cursor.execute("SET LOCAL enable_indexscan = off")
        if ef_search is not None:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        cursor.execute("EXPLAIN " + _KNN_SQL.format(limit=10), [vector_text])
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


# --- On real text: an ingested knowledge base and the questions of eval files ---------------------------------

REAL_EF_SWEEP = (40, 64, 100, 200, 400, 1000)


def real_recall(vectors: list[str], *, k: int = 5) -> dict:
    """recall@k of the HNSW scan against exact search, per ef_search, for real question embeddings."""
    exact = [set(knn_ids(v, exact=True, limit=k)[0]) for v in vectors]
    out = {}
    for ef in REAL_EF_SWEEP:
        found, times, missed = 0, [], 0
        for v, truth in zip(vectors, exact, strict=True):
            ids, took = knn_ids(v, ef_search=ef, limit=k)
            found += len(truth & set(ids))
            missed += len(truth - set(ids)) > 0
            times.append(took)
        out[str(ef)] = {
            f"recall_at_{k}": round(found / (k * len(vectors)), 4),
            "questions_missing_an_exact_hit": missed,
            "latency_ms": stats_ms(seconds_to_ms(times)),
        }
    return out


def _chunk_rows() -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, d.uri, d.url, d.title, c.heading_path, c.text FROM kb_chunk AS c "
            "JOIN kb_document AS d ON d.id = c.document_id WHERE NOT c.quarantined ORDER BY c.id"
        )
        return cursor.fetchall()


def reference_bm25(cases: list, *, k: int = 5) -> dict:
    """A plain BM25 (bm25s, English stop words, Snowball stemmer) over the same chunks (title + headings + text),
    judged as the evaluator judges: the reference keyword mode should reach. Only a measure, never in the app."""
    import bm25s
    import Stemmer

    from supportbot.evaluation.cases import source_matches
    from supportbot.evaluation.retrieval import rank_metrics

    rows = _chunk_rows()
    stemmer = Stemmer.Stemmer("english")
    corpus = [" ".join([title, *headings, text]) for _, _, _, title, headings, text in rows]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    tokens = bm25s.tokenize([c.question for c in cases], stopwords="en", stemmer=stemmer, show_progress=False)
    found, _ = retriever.retrieve(tokens, k=min(k, len(rows)), show_progress=False, n_threads=1)
    page, section = [], []
    for case, top in zip(cases, found, strict=True):
        hits = [rows[i] for i in top]
        page.append(next((r for r, h in enumerate(hits, 1) if source_matches((h[1], h[2]), case.source_doc)), None))
        if case.section:
            wanted = case.section.strip().lower()
            section.append(next((r for r, h in enumerate(hits, 1) if source_matches((h[1], h[2]), case.source_doc)
                                 and wanted in (x.strip().lower() for x in h[4])), None))  # fmt: skip
    return {"n": len(cases), **rank_metrics(page, k), **rank_metrics(section, k, prefix="section_")}


def real_text_main() -> None:
    """`python -m bench.retrieval.recall --eval FILE [--eval FILE ...]` on the knowledge base SUPPORTBOT_DATA_DIR
    holds (ingest the eval set's documents first): HNSW recall@5 per ef_search, a plain BM25 reference, and the
    product's own modes through the evaluator. Prints JSON (and writes it with --json-out)."""
    import argparse
    import json
    import os
    from pathlib import Path

    import django

    parser = argparse.ArgumentParser(description=real_text_main.__doc__)
    parser.add_argument("--eval", action="append", required=True, help="an eval JSONL file (repeatable)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--json-out", default="")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
    django.setup()
    from pgvector import Vector

    from kb.embeddings import embed_query
    from supportbot.evaluation.cases import cases_load
    from supportbot.evaluation.retrieval import retrieval_evaluate

    cases = [c for f in args.eval for c in cases_load(Path(f)) if not c.unanswerable]
    vectors = [Vector(embed_query(c.question).tolist()).to_text() for c in cases]
    result = {
        "eval": args.eval,
        "chunks": len(_chunk_rows()),
        "hnsw": real_recall(vectors, k=args.k),
        "reference_bm25": reference_bm25(cases, k=args.k),
        "product": retrieval_evaluate(cases, k=args.k)["modes"],
    }
    text = json.dumps(result, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    log(text)


if __name__ == "__main__":
    real_text_main()
