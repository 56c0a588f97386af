"""Phase 2, the load: many websocket conversations against a real daphne server, each visitor fetching a widget
session token, connecting, and asking its questions at a visitor's pace; every frame is recorded. The scale-out
benchmark (bench/scale.py) drives several servers with the same clients."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.chat.fake_model import fake_lateness
from bench.chat.report import websocket_summary, words_count
from bench.harness import daphne_start, free_port, log, server_env, server_stop
from bench.machine import CpuAccount


def server_start(data_dir: Path, database_url: str, fake) -> tuple[subprocess.Popen, int, Path]:
    """One daphne, as `make run` serves, on the benchmark database, its LLM the fake one in this process."""
    port = free_port()
    env = server_env(database_url=database_url, data_dir=data_dir, llm_base_url=fake.base_url, port=port)
    process, log_path = daphne_start(env, port, data_dir / "server.log", timeout=60)
    return process, port, log_path


TOKEN_RETRIES = [0]  # token requests the client had to repeat, over the whole run


async def _session_token(url: str, *, origin: str) -> tuple[str, str]:
    """What the widget does on a first visit: a session token for its key and page origin; the visitor id the
    server issues with it, and the token."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    key = parse_qs(parts.query)["key"][0]
    endpoint = f"http://{parts.netloc}/api/widget/session"
    # Like the widget, which reconnects with backoff when it could not get a token (a refused or reset
    # connection when hundreds of visitors arrive at once); an HTTP error status is not retried.
    for attempt in range(4):
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                response = await client.post(endpoint, json={"key": key}, headers={"Origin": origin})
            break
        except httpx.TransportError:
            if attempt == 3:
                raise
            TOKEN_RETRIES[0] += 1
            await asyncio.sleep(2**attempt)
    response.raise_for_status()
    return response.json()["visitor_id"], response.json()["token"]


async def conversation_run(
    index: int, texts: list[str], *, url: str, origin: str, args, rng: random.Random, gate: dict
) -> dict:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    rec: dict = {"index": index, "questions": [], "errors": [], "stray_frames": Counter()}
    await asyncio.sleep(rng.uniform(0, args.connect_ramp))
    try:
        started = time.perf_counter()
        visitor, token = await _session_token(url, origin=origin)
        async with connect(
            f"{url}&visitor={visitor}&token={token}",
            origin=origin,
            open_timeout=60,
            ping_interval=None,
            close_timeout=5,
            max_queue=None,
        ) as ws:
            async with asyncio.timeout(60):
                first = json.loads(await ws.recv())
            rec["connect_ms"] = (time.perf_counter() - started) * 1000
            if first.get("type") != "session":
                rec["errors"].append({"kind": "error_frame", "at": "connect", "frame": first})
                return rec
            gate["arrived"]()
            await gate["go"].wait()
            await asyncio.sleep(rng.uniform(0, args.jitter))
            for position, text in enumerate(texts):
                if position:
                    await asyncio.sleep(rng.uniform(*args.think))
                client_id = f"bench-{index:05d}-{position}"
                q = {"position": position, "text": text, "received": 0, "answers": 0, "tokens": 0, "other": []}
                q["sent"] = time.perf_counter()
                await ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
                # A question not answered within --question-timeout is an error; its answer is still awaited
                # (up to three times as long) so a late answer can be told from a lost one.
                deadline = q["sent"] + args.question_timeout
                try:
                    async with asyncio.timeout(3 * args.question_timeout):
                        while True:
                            frame = json.loads(await ws.recv())
                            now = time.perf_counter()
                            kind = frame.get("type")
                            if kind == "received":
                                q["received"] += 1
                                q["received_at"] = now
                                if frame.get("client_id") != client_id:
                                    rec["stray_frames"]["received_other_client_id"] += 1
                            elif kind == "token":
                                q["tokens"] += 1
                                if "first_token" not in q:
                                    q["first_token"] = now
                                    q["first_token_words"] = words_count(str(frame.get("text", "")))
                            elif kind == "answer":
                                if not q["received"]:
                                    rec["stray_frames"]["answer_before_received"] += 1
                                q["answers"] += 1
                                q["answered"] = now
                                q["answer_chars"] = len(frame.get("text", ""))
                                break
                            elif kind == "error":
                                rec["errors"].append({"kind": "error_frame", "at": position, "frame": frame})
                                break
                            else:
                                q["other"].append(kind)
                except TimeoutError:
                    rec["errors"].append({"kind": "timeout", "at": position, "answer": "never"})
                    rec["questions"].append(q)
                    break
                if q.get("answered", time.perf_counter()) > deadline:
                    rec["errors"].append({"kind": "timeout", "at": position, "answer": "late"})
                rec["questions"].append(q)
            # Anything after the last answer (a duplicate answer, an escalation notice) is counted too.
            try:
                async with asyncio.timeout(0.5):
                    while True:
                        frame = json.loads(await ws.recv())
                        rec["stray_frames"][f"after_last_{frame.get('type')}"] += 1
            except TimeoutError:
                pass
    except ConnectionClosed as exc:
        rec["errors"].append({"kind": "disconnect", "detail": str(exc)})
    except (InvalidStatus, OSError, TimeoutError, httpx.HTTPError) as exc:
        rec["errors"].append({"kind": "connect_failed", "detail": f"{type(exc).__name__}: {exc}"})
    finally:
        if "connect_ms" not in rec:
            gate["arrived"]()
    return rec


async def websocket_load(args, plans: list[list[str]], urls: list[str], origin: str) -> tuple[list[dict], dict]:
    """Run one conversation per plan (on urls[i]); all connect first, then the questions start together."""
    go = asyncio.Event()
    state = {"arrived": 0, "go_at": None}

    def arrived() -> None:
        state["arrived"] += 1
        if state["arrived"] == len(plans):
            state["go_at"] = time.perf_counter()
            go.set()

    gate = {"arrived": arrived, "go": go}
    started = time.perf_counter()
    records = await asyncio.gather(
        *[
            conversation_run(
                i, texts, url=urls[i], origin=origin, args=args, rng=random.Random(args.seed * 1000 + i), gate=gate
            )
            for i, texts in enumerate(plans)
        ]
    )
    ended = time.perf_counter()
    return records, {"started": started, "go_at": state["go_at"] or ended, "ended": ended}


def run_websocket_phase(args, data_dir: Path, database_url: str, fake, cpu: CpuAccount, pool: list[str]) -> dict:
    from supportbot.chat.models import Widget
    from supportbot.chat.services import wants_human

    pool = [q for q in pool if not wants_human(q)]
    if len(pool) < args.questions:
        raise RuntimeError(f"only {len(pool)} evaluation questions took the LLM path; need {args.questions}")
    process, port, log_path = server_start(data_dir, database_url, fake)
    cpu.server_pid = process.pid
    origin = f"http://127.0.0.1:{port}"
    try:
        # One widget per conversation (200 sites, one visitor each): the per-widget semantic cache then cannot
        # answer the 5 questions a conversation draws from the same ~60-question pool; every answer is fresh.
        Widget.objects.bulk_create(
            [
                Widget(key=f"bench-ws-{i:05d}", name=f"bench site {i}", allowed_origins=[origin])
                for i in range(args.conversations)
            ]
            + [Widget(key="bench-ws-warm", name="bench warm-up", allowed_origins=[origin])]
        )
        rng = random.Random(args.seed)
        plans = [rng.sample(pool, args.questions) for _ in range(args.conversations)]

        # Warm-up (not measured): the server loads the embedding model and opens its connections.
        fake.token_delay, fake.first_token_delay = 0.0, 0.0
        warm_args = argparse.Namespace(
            **{**vars(args), "connect_ramp": 0, "jitter": 0, "think": (0, 0), "question_timeout": 120.0}
        )
        warm_urls = [f"ws://127.0.0.1:{port}/ws/chat/?key=bench-ws-warm"] * 2
        warm_records, _ = asyncio.run(websocket_load(warm_args, [pool[:3], pool[3:6]], warm_urls, origin))
        warm_errors = [e for r in warm_records for e in r["errors"]]
        if warm_errors:
            raise RuntimeError(f"warm-up failed: {warm_errors[:3]}\n{log_path.read_text()[-3000:]}")

        fake.token_delay, fake.first_token_delay = args.token_delay, args.first_token_delay
        fake_since = len(fake.timings)
        log(f"  {args.conversations} conversations x {args.questions} questions; fake LLM {args.first_token_delay} s "
            f"to first token, {args.token_delay} s per token, ~{args.reply_words} words per answer ...")  # fmt: skip
        before = cpu.snapshot()
        urls = [f"ws://127.0.0.1:{port}/ws/chat/?key=bench-ws-{i:05d}" for i in range(args.conversations)]
        records, clock = asyncio.run(websocket_load(args, plans, urls, origin))
        phase_cpu = cpu.since(before, cpu.snapshot())
        lateness = fake_lateness(fake, fake_since)
        server_alive = process.poll() is None
    finally:
        server_stop(process)
        cpu.server_pid = None

    by_role, stored_ids, app_timings = stored_for("bench-ws-")
    guard_failures, labels = stored_verdicts("bench-ws-")

    condensed = {t.get("question") for t in fake.timings if t.get("kind") == "condense"}
    summary = websocket_summary(args, records, clock, by_role, stored_ids, app_timings, phase_cpu, lateness,
                                 server_alive, log_path, condensed)  # fmt: skip
    summary["guard_failures"] = guard_failures
    summary["confidence_labels"] = labels
    return summary


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


def stored_verdicts(prefix: str) -> tuple[dict, dict]:
    """The bots' answers of one run as the output guard and the confidence score judged them."""
    from django.db import connection

    join = (
        "FROM chat_message AS m JOIN chat_conversation AS c ON c.id = m.conversation_id "
        "JOIN chat_widget AS w ON w.id = c.widget_id "
        "CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(m.guard_results) WHEN 'array' "
        "THEN m.guard_results ELSE '[]'::jsonb END) AS e "
    )
    like, warm = prefix.replace("_", "\\_") + "%", f"{prefix}warm"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e->>'validator', e->>'action', count(*) {join} WHERE w.key LIKE %s AND w.key <> %s "
            "AND m.role = 'bot' AND e->>'outcome' = 'fail' GROUP BY 1, 2",
            [like, warm],
        )
        guard_failures = {f"{v}:{a}": n for v, a, n in cursor.fetchall()}
        cursor.execute(
            "SELECT m.confidence_label, count(*) FROM chat_message AS m "
            "JOIN chat_conversation AS c ON c.id = m.conversation_id JOIN chat_widget AS w ON w.id = c.widget_id "
            "WHERE w.key LIKE %s AND w.key <> %s AND m.role = 'bot' GROUP BY 1",
            [like, warm],
        )
        labels = dict(cursor.fetchall())
    return guard_failures, labels
