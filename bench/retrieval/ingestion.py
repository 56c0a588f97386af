"""Ingestion throughput through the real service (`job_create` + `job_run`) into the knowledge base as it stands,
with its wall time split into stages by wrapping (not changing) the service's functions, and an embedding
batch-size sweep."""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import numpy as np

from bench.harness import log
from bench.machine import QuietGate
from bench.retrieval.load import chunk_count
from bench.synth import Corpus


def write_markdown_docs(folder: Path, corpus: Corpus, n_docs: int, seed: int, *, first: int = 0) -> int:
    """`n_docs` help pages (4-7 sections each) in sub-folders of `folder`; returns the bytes written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for n in range(first, first + n_docs):
        topic = int(rng.integers(corpus.n_topics))
        text = corpus.markdown_document(topic, n, rng, sections=int(rng.integers(4, 8)))
        sub = folder / f"area-{n % 12:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"help-page-{n:04d}.md").write_text(text, encoding="utf-8")
        total += len(text.encode())
    return total


class StageTimer:
    """Wraps functions the ingestion service calls to attribute its wall time to stages."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.embedded_texts: list[str] = []
        self._restore: list = []

    def wrap(self, owner, name: str, stage: str, *, keep_texts: bool = False) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started
                self.calls[stage] = self.calls.get(stage, 0) + 1
                if keep_texts and args:
                    self.embedded_texts.extend(args[0])

        setattr(owner, name, timed)
        self._restore.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)


def measure_ingestion(folder: Path, corpus: Corpus, n_docs: int, seed: int, gate: QuietGate, *, jobs: int = 3) -> dict:
    """Ingest `n_docs` generated Markdown pages with the real service, as `jobs` jobs of equal size.

    Each job is one `job_create` + `job_run` over its own folder. A job disturbed by other processes (see
    QuietGate) is run again over a fresh folder of new pages, so every kept job is a "created" run.
    """
    from kb import services
    from kb.embeddings import embedder

    emb = embedder()
    # Warm the model up on chunk-sized inputs (so far it has only seen short queries): steady-state throughput.
    emb.embed(corpus.bodies(np.arange(64) % corpus.n_topics, np.random.default_rng(seed), min_words=60, max_words=150))
    timer = StageTimer()
    timer.wrap(services, "extract", "extract_and_chunk")
    timer.wrap(emb, "embed", "embed", keep_texts=True)
    timer.wrap(services, "_store", "store")
    if hasattr(services, "keyword_stats_refresh"):
        timer.wrap(services, "keyword_stats_refresh", "keyword_stats_refresh")
    per_job = math.ceil(n_docs / jobs)
    attempts = 0

    def one_job(index: int) -> dict:
        nonlocal attempts
        attempts += 1
        job_folder = folder / f"job-{index}-attempt-{attempts}"
        size = write_markdown_docs(job_folder, corpus, per_job, seed + attempts, first=index * per_job)
        timer.seconds = {}
        texts_before = len(timer.embedded_texts)
        started = time.perf_counter()
        job = services.job_create(targets=[str(job_folder)])
        job = services.job_run(job_id=job.pk)
        wall = time.perf_counter() - started
        return {"wall": wall, "bytes": size, "job": job, "stages": dict(timer.seconds), "texts": texts_before}

    before = chunk_count()
    kept = []
    try:
        for index in range(jobs):
            kept.append(gate.run(lambda index=index: one_job(index)))
    finally:
        timer.restore()
    wall = sum(k["wall"] for k in kept)
    chunks = sum(k["job"].chunks_written for k in kept)
    stages: dict[str, float] = {}
    for k in kept:
        for name, seconds in k["stages"].items():
            stages[name] = stages.get(name, 0.0) + seconds
    stages = {name: round(v, 2) for name, v in stages.items()}
    stages["other"] = round(wall - sum(stages.values()), 2)
    token_counts = []
    if hasattr(emb, "tokenizer"):  # the local model: tokens the model saw per chunk (truncated at 256)
        token_counts = [int(np.sum(e.attention_mask)) for e in emb.tokenizer.encode_batch(timer.embedded_texts)]
    statuses = sorted({k["job"].status for k in kept})
    return {
        "documents": per_job * jobs,
        "jobs": jobs,
        "job_attempts": attempts,
        "bytes": sum(k["bytes"] for k in kept),
        "status": statuses[0] if len(statuses) == 1 else "/".join(statuses),
        "job_errors": [e for k in kept for e in k["job"].errors][:5],
        "documents_created": sum(k["job"].created for k in kept),
        "chunks_written": chunks,
        "chunks_added_to_table": chunk_count() - before,
        "wall_s": round(wall, 2),
        "per_job_chunks_per_s": [round(k["job"].chunks_written / k["wall"], 1) for k in kept],
        "chunks_per_s": round(chunks / wall, 1),
        "documents_per_s": round(per_job * jobs / wall, 1),
        "stage_seconds": stages,
        "embed_only_chunks_per_s": round(chunks / stages.get("embed", math.inf), 1),
        "mean_tokens_per_chunk_embedded": round(statistics.mean(token_counts), 1) if token_counts else None,
        "embed_batch_size_setting": getattr(emb, "batch_size", None),
        "_texts": timer.embedded_texts,
    }


def embedding_batch_sweep(texts: list[str], gate: QuietGate, sizes=(1, 4, 8, 32)) -> dict:
    """Embedding throughput of the same chunk texts at several batch sizes (diagnostic)."""
    from kb.embeddings import embedder

    emb = embedder()
    if not hasattr(emb, "batch_size"):
        return {}
    original = emb.batch_size
    out = {}

    def rate() -> float:
        def once() -> float:
            started = time.perf_counter()
            emb.embed(texts)
            return round(len(texts) / (time.perf_counter() - started), 1)

        return gate.run(once)

    try:
        emb.embed(texts[:16])
        for bs in sizes:
            emb.batch_size = bs
            out[f"batch {bs}"] = rate()
        # What-ifs for the ONNX Runtime session (not the app's configuration): one intra-op thread, and two
        # threads without spin-waiting. Spinning threads lose badly when Postgres or anything else wants a core.
        session = getattr(emb, "session", None)
        if session is not None:
            import onnxruntime

            model_path = session._model_path if hasattr(session, "_model_path") else None
            if model_path:
                emb.batch_size = 8
                for label, threads, spin in (("batch 8, 1 thread", 1, "1"), ("batch 8, no spinning", 0, "0")):
                    options = onnxruntime.SessionOptions()
                    if threads:
                        options.intra_op_num_threads = threads
                    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
                    emb.session = onnxruntime.InferenceSession(
                        model_path, sess_options=options, providers=["CPUExecutionProvider"]
                    )
                    emb.embed(texts[:16])
                    out[label] = rate()
                emb.session = session
    finally:
        emb.batch_size = original
        if getattr(emb, "session", None) is not session and session is not None:
            emb.session = session
    return out


# --- ingestion against the model's raw rate (issue #18, "embed"): `python -m bench.retrieval.ingestion` ---------


def ingestion_against_model(folder: Path, corpus: Corpus, n_docs: int, seed: int, *, rounds: int = 3) -> dict:
    """Chunks per second of the real ingestion service next to the embedding model alone on the same texts.

    Each round ingests fresh pages with `job_create` + `job_run` (every document "created"), then embeds the very
    texts that ingestion embedded, in the same calls (so the same batches), with nothing else around it. The
    rounds interleave the two so load from other processes falls on both alike; the medians are reported.
    """
    from kb import services
    from kb.embeddings import embedder

    emb = embedder()
    emb.embed(corpus.bodies(np.arange(64) % corpus.n_topics, np.random.default_rng(seed), min_words=60, max_words=150))
    calls: list[list[str]] = []
    original = emb.embed

    def recording(texts, **kwargs):
        calls.append(list(texts))
        return original(texts, **kwargs)

    ingest_rates, raw_rates, chunks_total = [], [], 0
    for index in range(rounds):
        job_folder = folder / f"round-{index}"
        write_markdown_docs(job_folder, corpus, n_docs, seed + index, first=index * n_docs)
        calls.clear()
        emb.embed = recording
        try:
            started = time.perf_counter()
            job = services.job_run(job_id=services.job_create(targets=[str(job_folder)]).pk)
            wall = time.perf_counter() - started
        finally:
            del emb.embed  # back to the class's method
        chunks = sum(len(c) for c in calls)
        if job.created != n_docs or job.chunks_written != chunks:
            raise SystemExit(f"ingestion did not create every page: {job.status} {job.errors[:3]}")
        started = time.perf_counter()
        for texts in calls:
            emb.embed(texts)
        raw = time.perf_counter() - started
        ingest_rates.append(chunks / wall)
        raw_rates.append(chunks / raw)
        chunks_total += chunks
        log(f"  round {index + 1}: {chunks} chunks, ingestion {chunks / wall:.1f}/s, model alone {chunks / raw:.1f}/s")
    ingest, raw = statistics.median(ingest_rates), statistics.median(raw_rates)
    return {
        "model": emb.model_name,
        "batch_size": getattr(emb, "batch_size", None),
        "documents_per_round": n_docs,
        "chunks_per_round": chunks_total // rounds,
        "embed_calls_per_round": len(calls),
        "ingestion_chunks_per_s": round(ingest, 1),
        "model_chunks_per_s": round(raw, 1),
        "ingestion_to_model_ratio": round(ingest / raw, 3),
        "overhead_outside_model": round(1 - ingest / raw, 3),
        "rounds": {"ingestion": [round(r, 1) for r in ingest_rates], "model": [round(r, 1) for r in raw_rates]},
    }


def main() -> None:
    import argparse
    import json
    import os

    from bench.harness import args_parse, command_announce, data_dir_prepare, database_migrate

    parser = argparse.ArgumentParser(description="Ingestion chunks/s against the embedding model's own rate")
    parser.add_argument("--docs", type=int, default=120, help="Markdown pages per round (about 7 chunks each)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="", help="KB_EMBEDDING_MODEL for this run (default: the setting)")
    parser.add_argument("--data-dir", default="/tmp/supportbot-bench-ingestion", help="wiped at start")
    parser.add_argument("--seed", type=int, default=2026)
    args = args_parse(parser, quick={"docs": 8, "rounds": 1, "data_dir": "/tmp/supportbot-bench-ingestion-quick"})
    command_announce("bench.retrieval.ingestion")
    if args.model:
        os.environ["KB_EMBEDDING_MODEL"] = args.model
    data_dir = data_dir_prepare(args.data_dir)
    os.environ["SUPPORTBOT_DATA_DIR"] = str(data_dir)
    database_migrate()
    result = ingestion_against_model(
        data_dir / "uploads" / "ingest", Corpus(), args.docs, args.seed, rounds=args.rounds
    )
    result["cpus"], result["load_average_at_end"] = os.cpu_count(), [round(x, 2) for x in os.getloadavg()]
    log(json.dumps(result, indent=2))
    log(
        f"ingestion {result['ingestion_chunks_per_s']} chunks/s, model alone {result['model_chunks_per_s']} chunks/s "
        f"({result['model']}, batch {result['batch_size']}): ratio {result['ingestion_to_model_ratio']}, "
        f"overhead outside the model {result['overhead_outside_model']:.0%} (goal under 20%)"
    )


if __name__ == "__main__":
    main()
