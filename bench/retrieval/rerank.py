"""What the reranker (kb/reranking.py) gains and costs, on the knowledge base in SUPPORTBOT_DATA_DIR.

    SUPPORTBOT_DATA_DIR=/tmp/heldout-en .venv/bin/python -m bench.retrieval.rerank \\
        supportbot/evaluation/heldout/en-dev.jsonl [--candidates 20,30,50] [--json-out bench/results/rerank.json]
    ... --calibrate    # also fit kb.reranking.CALIBRATION on this set (a development split only)

Ingest the set's pages into that data directory first (supportbot/evaluation/heldout/README.md). For every
answerable question: hybrid `kb.search` without the reranker (k=5), then the fused top N for each N in
--candidates re-ordered by the reranker and cut to 5. Reported per N: hit@1, hit@5, MRR and their section
versions against the fused order, and the latency of the reranking stage (wall clock and CPU seconds of this
process, p50/p95) next to the fused search's own. CPU time is the better number on a shared machine; re-run on a
quiet one for wall-clock figures.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.harness import args_parse, command_announce, log, results_write, stats_ms


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Reranker gain (hit@k, MRR, section hit@k) and latency")
    parser.add_argument("file", type=Path, help="a JSONL eval set (a development split to tune on)")
    parser.add_argument("--candidates", default="20,30,50", help="fused candidates the reranker re-orders")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--calibrate", action="store_true", help="fit the logistic calibration of rerank_score")
    parser.add_argument("--json-out", default="bench/results/rerank.json")
    args = args_parse(parser, quick={"candidates": "20"})
    args.candidates = sorted({int(n) for n in args.candidates.split(",") if n.strip()})
    return args


def _first_rank(results, matches) -> int | None:
    return next((rank for rank, result in enumerate(results, start=1) if matches(result)), None)


def _matchers(case):
    from supportbot.evaluation.cases import source_matches

    def page(result) -> bool:
        return source_matches((result.source, result.url), case.source_doc)

    def section(result) -> bool:
        wanted = (case.section or "").strip().lower()
        return page(result) and (not wanted or wanted in (h.strip().lower() for h in result.heading_path))

    return page, section


def _timed(fn, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn(**kwargs)
    return value, (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def _metrics(ranks: dict[str, list[int | None]], k: int) -> dict[str, float]:
    from supportbot.evaluation.retrieval import rank_metrics

    return rank_metrics(ranks["page"], k) | rank_metrics(ranks["section"], k, prefix="section_")


def _calibration_fit(scores: list[float], labels: list[bool]) -> tuple[float, float]:
    """Logistic regression of one feature by Newton's method: (slope, intercept)."""
    x, y = np.array(scores, dtype=float), np.array(labels, dtype=float)
    design = np.stack([x, np.ones_like(x)], axis=1)
    weights = np.zeros(2)
    for _ in range(50):
        p = 1 / (1 + np.exp(-design @ weights))
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        weights -= np.linalg.solve(hessian, design.T @ (p - y))
    return round(float(weights[0]), 3), round(float(weights[1]), 3)


def _auroc(scores: list[float], labels: list[bool]) -> float:
    positives = [s for s, label in zip(scores, labels, strict=True) if label]
    negatives = [s for s, label in zip(scores, labels, strict=True) if not label]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return round(wins / (len(positives) * len(negatives)), 4)


def measure(args: argparse.Namespace) -> dict:
    import kb
    from kb import reranking
    from supportbot.evaluation.cases import cases_load

    cases = [case for case in cases_load(args.file) if not case.unanswerable]
    pool = max(args.candidates)
    reranking.reranker().maxsim("warm-up", ["warm-up"])
    ranks = {"fused": {"page": [], "section": []}} | {n: {"page": [], "section": []} for n in args.candidates}
    timing = {"fused_ms": [], **{f"rerank_{n}_ms": [] for n in args.candidates}}
    timing |= {f"rerank_{n}_cpu_ms": [] for n in args.candidates}
    raw_scores, labels = [], []
    for done, case in enumerate(cases, start=1):
        if done % 10 == 0:
            log(f"  {done} of {len(cases)} questions")
        page, section = _matchers(case)
        fused, fused_ms, _ = _timed(kb.search, query=case.question, k=args.k, rerank=False)
        timing["fused_ms"].append(fused_ms)
        ranks["fused"]["page"].append(_first_rank(fused, page))
        ranks["fused"]["section"].append(_first_rank(fused, section))
        candidates = kb.search(case.question, k=pool, rerank=False)
        for n in args.candidates:
            copies = [replace(result) for result in candidates[:n]]
            top, wall, cpu = _timed(reranking.results_rerank, query=case.question, results=copies, k=args.k)
            timing[f"rerank_{n}_ms"].append(wall)
            timing[f"rerank_{n}_cpu_ms"].append(cpu)
            ranks[n]["page"].append(_first_rank(top, page))
            ranks[n]["section"].append(_first_rank(top, section))
        if args.calibrate:
            texts = [reranking.passage_text(result) for result in candidates]
            raw_scores += [float(s) for s in reranking.reranker().maxsim(case.question, texts)]
            labels += [section(result) for result in candidates]
    result = {
        "file": str(args.file),
        "n": len(cases),
        "k": args.k,
        "fused": _metrics(ranks["fused"], args.k),
        "reranked": {str(n): _metrics(ranks[n], args.k) for n in args.candidates},
        "latency": {name: stats_ms(values) for name, values in timing.items()},
    }
    if args.calibrate:
        slope, intercept = _calibration_fit(raw_scores, labels)
        result["calibration"] = {"slope": slope, "intercept": intercept, "candidates": len(labels)}
        result["calibration"]["auroc_relevant_vs_not"] = _auroc(raw_scores, labels)
    return result


def report(result: dict) -> None:
    k = result["k"]
    columns = ["hit@1", f"hit@{k}", "mrr", "section_hit@1", f"section_hit@{k}", "section_mrr"]
    log(f"\n{result['file']}: {result['n']} questions")
    log(f"{'':<14}" + "".join(f"{c:>15}" for c in columns))
    log(f"{'fused':<14}" + "".join(f"{result['fused'][c]:>15}" for c in columns))
    for n, metrics in result["reranked"].items():
        log(f"{'rerank top ' + n:<14}" + "".join(f"{metrics[c]:>15}" for c in columns))
    log("\nlatency (ms): p50 / p95")
    for name, stats in result["latency"].items():
        log(f"  {name:<22}{stats['p50']} / {stats['p95']}")
    if "calibration" in result:
        log(f"\ncalibration (paste into kb/reranking.py CALIBRATION): {result['calibration']}")


def main() -> None:
    args = _parse_args()
    command = command_announce("bench.retrieval.rerank")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
    import django

    django.setup()
    from django.conf import settings

    result = {"command": command, "data_dir": str(settings.DATA_DIR), **measure(args)}
    report(result)
    if args.json_out:
        results_write(result, args.json_out, settings.DATA_DIR, name="rerank")


if __name__ == "__main__":
    main()
