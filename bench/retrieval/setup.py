"""Set-up step: the command line and the data directory of the benchmark's own embedded Postgres."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.harness import args_parse, data_dir_prepare

# calibrated: pairwise similarities like MiniLM's on the bundled help pages (bench/synth.py's defaults).
# islands: well separated topics with nothing in common (no shared direction) — a harder case for HNSW.
VECTOR_PROFILES = {
    "calibrated": {},
    "islands": {"global_weight": 0.0, "shared_weight": 0.0, "doc_spread": 0.7, "chunk_spread": 0.5, "iso_noise": 0.3},
}
# --quick: one small size, few questions and pages; checks the benchmark runs, measures nothing.
QUICK = {
    "sizes": "2000",
    "queries": 20,
    "warmup": 5,
    "ingest_docs": 6,
    "quiet_budget": 0,  # no waiting for a quiet machine: the numbers are not kept
    "data_dir": "/tmp/supportbot-bench-quick",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Knowledge-base benchmarks: search latency, HNSW recall, ingestion")
    parser.add_argument("--sizes", default="10000,100000", help="total chunk counts to measure at, ascending")
    parser.add_argument(
        "--keyword-only-sizes",
        default="",
        help="larger chunk counts measured for keyword search only, after --sizes (e.g. 1000000): no vectors, no HNSW",
    )
    parser.add_argument("--no-ingestion", action="store_true", help="skip the ingestion throughput run")
    parser.add_argument("--queries", type=int, default=200, help="text queries and query vectors per size")
    parser.add_argument("--json-out", default="bench/results/kb.json")
    parser.add_argument("--data-dir", default="/tmp/supportbot-bench", help="wiped at start; never the dev data")
    parser.add_argument("--ingest-docs", type=int, default=300, help="Markdown documents for the ingestion run")
    parser.add_argument("--warmup", type=int, default=30, help="untimed queries per mode before timing")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--vector-profile",
        choices=sorted(VECTOR_PROFILES),
        default="calibrated",
        help="synthetic vector distribution (see bench/synth.py and docs/benchmarks.md)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.15,
        help="re-measure a group of timings when other processes used more than this share of the CPUs",
    )
    parser.add_argument("--quiet-budget", type=float, default=300, help="total seconds the re-measuring may wait")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        help="first wait up to N s until other processes use at most 10%% of the CPUs",
    )
    args = args_parse(parser, quick=QUICK)
    args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    args.keyword_only_sizes = sorted({int(s.replace("_", "")) for s in args.keyword_only_sizes.split(",") if s.strip()})
    if args.keyword_only_sizes and args.sizes and args.keyword_only_sizes[0] <= args.sizes[-1]:
        parser.error("--keyword-only-sizes must all be larger than --sizes")
    return args


def environment_prepare(args: argparse.Namespace) -> Path:
    """A wiped data directory for the benchmark's own embedded Postgres (DATABASE_URL is ignored on purpose)."""
    data_dir = data_dir_prepare(args.data_dir)
    os.environ["SUPPORTBOT_DATA_DIR"] = str(data_dir)
    return data_dir
