"""Knowledge-base benchmarks: search latency, HNSW recall and ingestion throughput, in one run.

    .venv/bin/python -m bench.retrieval [--sizes 10000,100000] [--queries 200] [--json-out bench/results/kb.json]
    .venv/bin/python -m bench.retrieval --quick     # a small run that checks it works (numbers mean nothing)

What it does (docs/benchmarks.md explains the choices), one module per step:

1. setup: starts a separate embedded Postgres under --data-dir (default /tmp/supportbot-bench, wiped first), so
   the development data is never touched, and migrates it with the product's migrations.
2. Times the embedding of a query on its own (the local ONNX model, as `kb.search` does it).
3. For each size (ascending, growing the same database): load bulk-loads synthetic chunks up to that size
   (support-style text + clustered unit vectors, see bench/synth.py), indexed as `kb.services` indexes them and
   with the migration's own HNSW and GIN indexes, then measures
   - recall: HNSW recall@10 against exact search for held-out query vectors (plus an hnsw.ef_search sweep),
   - latency: `kb.search(query, k=5, mode=...)` for hybrid, vector and keyword modes, end to end (the query
     embedding included, as in production) and database-only (embedding precomputed).
4. At the largest size (latency): EXPLAIN ANALYZE of the hybrid query (the statement kb.search sends, captured),
   how many chunks share a word with each question, what a search on a brand-new DB connection costs.
5. ingestion: throughput through the real service (`job_create` + `job_run`, 3 jobs of 100 generated Markdown
   pages) into the knowledge base as it stands (HNSW/GIN inserts against the full-size index), with the time
   per stage and an embedding batch-size sweep.
6. report: a table with the targets and PASS/FAIL; the results as JSON (machine, versions, code hashes of the
   app files measured).

The machine may be shared: timings are taken in groups, and a group during which other processes used more
than --quiet-threshold of the CPUs is thrown away and measured again once quiet (bench/machine.py's QuietGate,
bounded by --quiet-budget seconds). Every phase records how much CPU other processes took.
"""
