"""Set-up step: the command line, the benchmark's own embedded Postgres (reached through DATABASE_URL by this
process and the daphne server alike), and the knowledge base: the real demo help centre through the ingestion
service, then synthetic chunks up to --chunks through bench/retrieval/load.py (indexed as `kb.services` indexes)."""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

from bench.harness import ROOT, args_parse, data_dir_prepare, log
from bench.retrieval.load import load_synthetic
from bench.synth import Corpus, VectorSpace

DEMO_DOCS = ROOT / "kb" / "demo" / "docs"
EVAL_FILE = ROOT / "kb" / "demo" / "eval.jsonl"
UNANSWERABLE_FILE = ROOT / "kb" / "demo" / "unanswerable.jsonl"
# --quick: a small knowledge base, few questions and conversations; checks the benchmark runs, measures nothing.
QUICK = {
    "chunks": 1000,
    "conversations": 4,
    "questions": 2,
    "pipeline_questions": 20,
    "jitter": 1.0,
    "think": "0.5,1",
    "data_dir": "/tmp/supportbot-chatbench-quick",
}
CODE_FILES = [
    "supportbot/answering/pipeline.py",
    "supportbot/chat/consumers.py",
    "supportbot/llm/stream.py",
    "supportbot/llm/pool.py",
    "supportbot/answering/semantic_cache.py",
    "supportbot/chat/services.py",
    "supportbot/answering/confidence.py",
    "kb/retrieval.py",
    "kb/embeddings.py",
    "supportbot/settings.py",
    "tests/fake_llm.py",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Chat benchmarks: the pipeline's own overhead, websocket load")
    parser.add_argument("--chunks", type=int, default=10_000, help="knowledge-base size (demo docs + synthetic)")
    parser.add_argument("--conversations", type=int, default=200, help="concurrent websocket conversations")
    parser.add_argument("--questions", type=int, default=5, help="questions per websocket conversation")
    parser.add_argument("--json-out", default="bench/results/chat.json")
    parser.add_argument("--data-dir", default="/tmp/supportbot-chatbench", help="wiped at start; never the dev data")
    parser.add_argument("--pipeline-questions", type=int, default=300, help="distinct questions, in-process phase")
    # Connections now come from a pool (settings: CONN_MAX_AGE is 0 with it), so this pass is off by default.
    parser.add_argument("--conn-age-0-questions", type=int, default=0, help="of those, re-asked with CONN_MAX_AGE=0")
    parser.add_argument("--token-delay", type=float, default=0.025, help="websocket phase: fake LLM s per token")
    parser.add_argument("--first-token-delay", type=float, default=0.3, help="websocket phase: fake LLM s to 1st")
    parser.add_argument("--reply-words", type=int, default=40, help="words in the fake LLM's answers")
    parser.add_argument("--connect-ramp", type=float, default=3.0, help="s over which the clients connect")
    # Visitors read an answer (~40 words, 10 s) and type the next question (10-20 s): 10-30 s between questions,
    # and the 200 conversations open over 20 s. `--think 0.5,2 --jitter 2` is the stress pace (capacity, not users).
    parser.add_argument("--jitter", type=float, default=20.0, help="max random s before a conversation's 1st question")
    parser.add_argument("--think", default="10,30", help="min,max s a visitor waits before the next question")
    parser.add_argument("--question-timeout", type=float, default=60.0, help="s for one question to be answered")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="cProfile the pipeline phase; print the top")
    args = args_parse(parser, quick=QUICK)
    think = [float(x) for x in args.think.split(",")]
    args.think = (think[0], think[-1])
    return args


def prepare_environment(args: argparse.Namespace) -> tuple[Path, str]:
    """A wiped data directory with our own embedded Postgres, reached through DATABASE_URL by this process and by
    the daphne server alike; no configured Redis or LLM (the fake one is started later)."""
    from supportbot.embedded_postgres import ensure_running

    ignored = ("DATABASE_URL", "REDIS_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY")
    data_dir = data_dir_prepare(args.data_dir, ignored=ignored)
    socket_dir = ensure_running(data_dir)  # stops when this process exits
    # The app reaches it through DATABASE_URL, as a deployment with its own Postgres does (conn_max_age=60);
    # the daphne subprocess gets the same URL, so both see one database.
    database_url = f"postgresql://postgres@{quote(socket_dir, safe='')}/postgres"
    os.environ["DATABASE_URL"] = database_url
    os.environ["SUPPORTBOT_DATA_DIR"] = str(data_dir / "app")
    return data_dir, database_url


def build_knowledge_base(args: argparse.Namespace) -> dict:
    from django.db import connection

    from kb import services

    out: dict = {}
    started = time.perf_counter()
    job = services.job_create(targets=[str(DEMO_DOCS)], prune=True)
    job = services.job_run(job_id=job.pk)
    if job.status != "succeeded":
        raise RuntimeError(f"demo ingestion failed: {job.status} {job.errors[:3]}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kb_chunk")
        demo_chunks = cursor.fetchone()[0]
    out["demo"] = {"documents": job.created, "chunks": demo_chunks, "s": round(time.perf_counter() - started, 1)}
    log(f"  demo help centre: {job.created} documents, {demo_chunks} chunks in {out['demo']['s']} s")
    started = time.perf_counter()
    out["synthetic"] = load_synthetic(args.chunks, Corpus(), VectorSpace(), args.seed, total_docs_before=0)
    out["synthetic"]["total_s"] = round(time.perf_counter() - started, 1)
    services.keyword_stats_refresh()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT document_id) FROM kb_chunk")
        out["chunks"], out["documents"] = cursor.fetchone()
    log(f"  synthetic bulk load: {out['synthetic'].get('added_chunks', 0)} chunks in {out['synthetic']['total_s']} s;"
        f" knowledge base now {out['chunks']:,} chunks in {out['documents']:,} documents")  # fmt: skip
    return out


def pipeline_questions(n: int, seed: int) -> list[tuple[str, str]]:
    """(kind, text): the demo evaluation questions, the demo's unanswerable ones, then generated ones."""
    evals = [("eval", json.loads(line)["question"]) for line in EVAL_FILE.read_text().splitlines() if line.strip()]
    unans = [
        ("unanswerable", json.loads(line)["question"])
        for line in UNANSWERABLE_FILE.read_text().splitlines()
        if line.strip()
    ]
    questions = (evals + unans)[:n]
    seen = {t for _, t in questions}
    rng = np.random.default_rng(seed + 7)
    for _, text in Corpus().queries(max(0, n - len(questions)) + 50, rng):
        if len(questions) >= n:
            break
        if text not in seen:
            seen.add(text)
            questions.append(("generated", text))
    random.Random(seed).shuffle(questions)
    return questions
