"""Entry point: `.venv/bin/python -m bench.retrieval` (see bench/retrieval/__init__.py and docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from bench.harness import command_announce, database_migrate, fmt_stats, log, results_write, seconds_to_ms, stats_ms
from bench.machine import CpuMeter, QuietGate, machine_info, wait_for_idle
from bench.retrieval.ingestion import embedding_batch_sweep, measure_ingestion
from bench.retrieval.latency import MODES, diagnostics, measure_keyword_latency, measure_latency, time_embeddings
from bench.retrieval.load import chunk_count, load_synthetic
from bench.retrieval.recall import measure_recall
from bench.retrieval.report import TARGETS, print_report, targets_judge
from bench.retrieval.setup import VECTOR_PROFILES, environment_prepare, parse_args
from bench.synth import Corpus, VectorSpace


class Phases:
    """Every phase's share of the CPUs other processes took (whole phase, waiting for quiet included)."""

    def __init__(self, meter: CpuMeter):
        self.meter, self.shares = meter, {}

    def run(self, name: str, fn):
        start = self.meter.snapshot()
        value = fn()
        self.shares[name] = self.meter.others_share(start)
        return value


def embeddings_warm(queries: list[str], result: dict) -> dict:
    """Load the model, warm it up, and embed every question once (the database-only timings look them up)."""
    from kb.embeddings import embed_query, embedder

    log("loading the embedding model and embedding the queries ...")
    started = time.perf_counter()
    embedder()
    embed_query("warm-up")
    result["model_load_s"] = round(time.perf_counter() - started, 2)
    for q in queries[:20]:
        embed_query(q)
    return {q: embed_query(q) for q in queries}


def size_measure(size: int, args, data: dict, gate: QuietGate, phases: Phases) -> dict:
    """Grow the knowledge base to `size` chunks, then measure recall and search latency at that size."""
    log(f"\n--- {size:,} chunks ---")
    started = time.perf_counter()
    load = load_synthetic(size, data["corpus"], data["space"], args.seed, total_docs_before=data["docs_so_far"])
    data["docs_so_far"] += load.get("added_documents", 0)
    load["total_s"] = round(time.perf_counter() - started, 2)
    log(f"  bulk load: {load}")
    entry = {"chunks": chunk_count(), "load": load}
    log("  recall@10 (exact search for every query vector, then HNSW at several ef_search) ...")
    entry["recall"] = phases.run(f"recall_{size}", lambda: measure_recall(data["recall_texts"]))
    log(f"  recall@10 at the app's ef_search={entry['recall']['app_ef_search']}: {entry['recall']['recall_at_10']}")
    log("  search latency ...")
    latency = phases.run(
        f"latency_{size}", lambda: measure_latency(data["queries"], data["vectors"], args.warmup, gate)
    )
    latency["other_processes_cpu_share"] = phases.shares[f"latency_{size}"]
    entry["latency"] = latency
    for mode in MODES:
        log(f"  {mode:<8} e2e {fmt_stats(latency[f'{mode}_e2e'])}")
    log(f"  hybrid   db  {fmt_stats(latency['hybrid_db'])}")
    return entry


def keyword_size_measure(size: int, args, data: dict, gate: QuietGate, phases: Phases) -> dict:
    """Grow the knowledge base to `size` chunks without vectors, then measure keyword search only."""
    log(f"\n--- {size:,} chunks (keyword only) ---")
    started = time.perf_counter()
    load = load_synthetic(
        size, data["corpus"], data["space"], args.seed, total_docs_before=data["docs_so_far"], vectors=False
    )
    data["docs_so_far"] += load.get("added_documents", 0)
    load["total_s"] = round(time.perf_counter() - started, 2)
    log(f"  bulk load: {load}")
    latency = phases.run(f"keyword_{size}", lambda: measure_keyword_latency(data["queries"], args.warmup, gate))
    latency["other_processes_cpu_share"] = phases.shares[f"keyword_{size}"]
    log(f"  keyword  e2e {fmt_stats(latency['keyword_e2e'])}")
    return {"chunks": chunk_count(), "load": load, "latency": latency}


def ingestion_measure(args, data_dir: Path, corpus: Corpus, gate: QuietGate, phases: Phases) -> dict:
    log("\n--- ingestion ---")
    before = chunk_count()
    # Under uploads/: ingestion refuses the rest of the data directory (kb.targets, issue #13).
    folder = data_dir / "uploads" / "ingest-docs"
    ingestion = phases.run(
        "ingestion", lambda: measure_ingestion(folder, corpus, args.ingest_docs, args.seed + 1, gate)
    )
    ingestion["other_processes_cpu_share"] = phases.shares["ingestion"]
    ingestion["kb_chunks_before"] = before
    texts = ingestion.pop("_texts")
    sweep_texts = texts[:: max(1, len(texts) // 128)][:128]
    log(f"  {ingestion['chunks_written']} chunks in {ingestion['wall_s']} s; embedding batch-size sweep ...")
    ingestion["embed_batch_sweep"] = embedding_batch_sweep(sweep_texts, gate)
    ingestion["sweep_texts"] = len(sweep_texts)
    return ingestion


def benchmark_data(args: argparse.Namespace) -> dict:
    """The corpus, the vector space, the text questions and the held-out recall vectors (all seeded)."""
    from pgvector import Vector

    corpus, space = Corpus(), VectorSpace(**VECTOR_PROFILES[args.vector_profile])
    rng = np.random.default_rng(args.seed)
    queries = [q for _, q in corpus.queries(args.queries, rng)]
    recall_vectors, _ = space.queries(args.queries, rng)
    recall_texts = [Vector(v.tolist()).to_text() for v in recall_vectors]
    return {"corpus": corpus, "space": space, "queries": queries, "recall_texts": recall_texts, "docs_so_far": 0}


def main() -> None:
    args = parse_args()
    run_started = time.perf_counter()
    command = command_announce("bench.retrieval")
    data_dir = environment_prepare(args)
    log(f"data directory: {data_dir} (separate embedded Postgres; wiped at start)")
    meter = CpuMeter(data_dir)
    gate = QuietGate(meter, threshold=args.quiet_threshold, budget_s=args.quiet_budget)
    phases = Phases(meter)
    waited = time.perf_counter()
    idle_share = wait_for_idle(meter, args.wait_idle)
    waited = time.perf_counter() - waited
    database_migrate()
    from kb.embeddings import embed_query

    result: dict = {"command": command, "machine": machine_info()}
    result["machine"]["other_processes_cpu_share_before_start"] = idle_share
    result["other_processes_cpu_share"] = phases.shares
    result["targets_definition"] = TARGETS
    result["vector_profile"] = {"name": args.vector_profile, **VECTOR_PROFILES[args.vector_profile]}
    data = benchmark_data(args)
    data["vectors"] = embeddings_warm(data["queries"], result)
    result["query_embedding"] = phases.run(
        "query_embedding", lambda: stats_ms(seconds_to_ms(time_embeddings(data["queries"], embed_query, gate)))
    )
    log(f"  query embedding: {fmt_stats(result['query_embedding'])}")

    result["sizes"] = [size_measure(size, args, data, gate, phases) for size in args.sizes]
    largest = result["sizes"][-1]
    log(f"\n--- diagnostics at {largest['chunks']:,} chunks ---")
    result["diagnostics"] = diagnostics(data["queries"], largest)
    log(result["diagnostics"]["explain_slowest_query"]["text"])
    if not args.no_ingestion:
        result["ingestion"] = ingestion_measure(args, data_dir, data["corpus"], gate, phases)
    # Last: these sizes have no vectors and no HNSW index, so nothing else can be measured after them.
    result["keyword_only_sizes"] = [
        keyword_size_measure(size, args, data, gate, phases) for size in args.keyword_only_sizes
    ]

    result["targets"] = targets_judge(largest, result.get("ingestion"), result["keyword_only_sizes"])
    result["quiet_gate"] = gate.summary()
    result["run_seconds"] = round(time.perf_counter() - run_started - waited, 1)
    result["waited_for_idle_seconds"] = round(waited, 1)
    result["measuring_seconds"] = round(result["run_seconds"] - gate.waited, 1)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for entry in result["sizes"]:
        entry["latency"].pop("_raw_hybrid_e2e_ms", None)
        entry["latency"].pop("_raw_keyword_ms", None)
    out = results_write(result, args.json_out, data_dir, name="kb")
    print_report(result)
    log(f"JSON written to {out}")
    log(f"The benchmark database stays in {data_dir} (its server stops with this process; the next run wipes it).")


if __name__ == "__main__":
    main()
