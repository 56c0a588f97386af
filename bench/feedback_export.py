"""Feedback export benchmark: throughput and memory of `export_feedback` at 10k and 100k rated answers.

    .venv/bin/python -m bench.feedback_export [--sizes 10000,100000] [--data-dir /tmp/supportbot-bench-feedback]
                                              [--append-docs]

What it does:

1. Starts a separate embedded Postgres under --data-dir (wiped first, so development data is never touched)
   and migrates it.
2. Stores a small synthetic knowledge base (documents and chunks with random unit vectors: exports read the
   passages' text, never their vectors).
3. For each size (ascending, growing the same database) bulk-creates conversations, each with a visitor
   question and a bot answer carrying retrieved passages with scores and citations, and a rating: 70 % up,
   30 % down with a reason. One question in ten contains an email address or a phone number (so the scrubber
   has work to do); a fifth of the down-rated answers have an approved correction, a tenth an agent's reply
   after a handoff; 2 % are marked as good examples.
4. Runs `manage.py export_feedback --skip-checks --format F --out FILE` for each format as a child process,
   and reads the child's own peak RSS from os.wait4 — a fresh process per export, so nothing from the seeding
   or an earlier export is counted. Rows/s is the rows written (answers/s: written + skipped) over the export's
   own time, which the command prints (wall time includes Django's start-up; an export of the empty database
   is measured for comparison). The export also collects implicit signals over every stored conversation
   first, as it does in production.
5. Prints a table with the peak RSS ratio 100k / 10k per format (flat memory: close to 1) and, with
   --append-docs, appends it as a section to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.harness import ROOT, args_parse, command_announce, data_dir_prepare, database_migrate, log

FORMATS = ("openai-chat", "preference", "eval", "csv")
BATCH = 5000
TOPICS = ["refund", "invoice", "password", "shipping", "widget", "API key", "export", "plan", "team seat", "SSO"]
ACTIONS = ["change", "cancel", "find", "reset", "download", "set up", "remove", "upgrade", "share", "renew"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="rated answers, ascending, comma-separated")
    parser.add_argument("--data-dir", default="/tmp/supportbot-bench-feedback", help="wiped at start")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--append-docs", action="store_true", help="append the results to docs/benchmarks.md")
    args = args_parse(parser, quick={"sizes": "200,400", "data_dir": "/tmp/supportbot-bench-feedback-quick"})
    args.sizes = sorted(int(size) for size in args.sizes.split(","))
    return args


# --- the data -------------------------------------------------------------------------------------------------
def knowledge_base(rng: random.Random) -> list[dict]:
    """50 documents of 4 sections; returns the retrieved-row shape of each chunk."""
    from kb.models import Chunk, Document

    vectors = np.random.default_rng(rng.randrange(2**32)).normal(size=(200, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    for d in range(50):
        topic = TOPICS[d % len(TOPICS)]
        document = Document.objects.create(
            uri=f"/bench/docs/{topic.replace(' ', '-')}-{d}.md",
            title=f"{topic.title()} guide {d}",
            url=f"/help/{topic.replace(' ', '-')}-{d}/",
            format="markdown",
            content_hash=str(d),
            text="",
        )
        for position in range(4):
            text = (
                f"To {ACTIONS[position]} your {topic}, open Settings and choose {topic.title()}. "
                f"Changes apply within {position + 2} minutes and are recorded in the audit log. "
                "If something looks wrong, contact support from the help menu."
            )
            chunk = Chunk.objects.create(
                document=document,
                position=position,
                text=text,
                heading_path=[document.title, f"Section {position}"],
                anchor=f"section-{position}",
                embedding=vectors[d * 4 + position].tolist(),
            )
            rows.append(
                {
                    "chunk_id": chunk.pk,
                    "document_id": document.pk,
                    "title": document.title,
                    "url": f"{document.url}#section-{position}",
                }
            )
    return rows


def question_text(rng: random.Random, n: int) -> str:
    text = f"how do I {rng.choice(ACTIONS)} my {rng.choice(TOPICS)} (case {n})?"
    if n % 10 == 0:
        text += rng.choice([f" my email is user{n}@example.com", f" call me on +44 20 7946 {n % 10000:04d}"])
    return text


def seed(count: int, *, start: int, chunks: list[dict], rng: random.Random) -> None:
    """Add `count` rated answers (in batches, so the seeding itself stays small in memory)."""
    from feedback.models import Correction, GoodExample, Rating
    from supportbot.chat.models import Conversation, Message, Widget

    widget, _ = Widget.objects.get_or_create(key="bench", defaults={"name": "Bench", "allowed_origins": ["self"]})
    for offset in range(0, count, BATCH):
        numbers = range(start + offset, start + min(offset + BATCH, count))
        conversations = Conversation.objects.bulk_create(
            [Conversation(widget=widget, visitor_id=f"visitor-{n:07d}") for n in numbers]
        )
        questions = Message.objects.bulk_create(
            [
                Message(conversation=c, role="visitor", text=question_text(rng, n))
                for c, n in zip(conversations, numbers, strict=True)
            ]
        )
        answers = Message.objects.bulk_create([answer(q, chunks, rng) for q in questions])
        ratings, corrections, extras, goods = [], [], [], []
        for message in answers:
            down = rng.random() < 0.3
            ratings.append(
                Rating(
                    message=message,
                    visitor_id=message.conversation.visitor_id,
                    value="down" if down else "up",
                    reason="wrong" if down else "",
                )
            )
            if down and rng.random() < 0.2:
                corrections.append(
                    Correction(message=message, text="Open Settings, then Billing [1].", status="approved")
                )
            elif down and rng.random() < 0.125:
                extras.append(Message(conversation=message.conversation, role="agent", text="I've fixed it for you."))
            elif not down and rng.random() < 0.03:
                goods.append(GoodExample(message=message))
        Rating.objects.bulk_create(ratings)
        Correction.objects.bulk_create(corrections)
        Message.objects.bulk_create(extras)
        GoodExample.objects.bulk_create(goods)


def answer(question, chunks: list[dict], rng: random.Random):
    from supportbot.chat.models import Message

    picked = rng.sample(chunks, 5)
    retrieved = [
        {**row, "score": round(0.033 - i * 0.001, 4), "vector_score": round(0.7 - i * 0.05, 3)}
        for i, row in enumerate(picked)
    ]
    citations = [
        {
            "n": 1,
            "title": picked[0]["title"],
            "url": picked[0]["url"],
            "snippet": "Open Settings…",
            "chunk_id": picked[0]["chunk_id"],
        }
    ]
    return Message(
        conversation=question.conversation,
        role="bot",
        reply_to=question,
        text="Open Settings and choose the section you need [1]. Changes apply within minutes [1].",
        retrieved=retrieved,
        citations=citations,
        confidence=round(rng.random(), 3),
        confidence_label="medium",
        model="offline-extractive",
        prompt_version="bench",
        guard_results=[],
    )


# --- measuring ------------------------------------------------------------------------------------------------
def run_child(argv: list[str]) -> tuple[float, int, str]:
    """Run a command; return its wall time (s), its own peak RSS (kB) and its output."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f"{shlex.join(argv)} failed:\n{output}")
    return time.perf_counter() - started, usage.ru_maxrss, output


def export_once(fmt: str, out: Path) -> dict:
    # --skip-checks: the system checks import every app's URLs and views; the export needs none of them.
    argv = [sys.executable, "manage.py", "export_feedback", "--skip-checks", "--format", fmt, "--out", str(out)]
    wall, peak_kb, output = run_child(argv)
    match = re.search(r"Wrote (\d+) rows, skipped (\d+).* in ([\d.]+) s", output)
    rows, skipped, net = int(match.group(1)), int(match.group(2)), max(float(match.group(3)), 1e-3)
    return {
        "format": fmt,
        "rows": rows,
        "skipped": skipped,
        "wall_s": round(wall, 2),
        "net_s": round(net, 2),
        "rows_per_s": round(rows / net),
        "answers_per_s": round((rows + skipped) / net),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "file_mb": round(out.stat().st_size / 2**20, 1),
        "summary": output.strip(),
    }


def main() -> None:
    args = parse_args()
    command = command_announce("bench.feedback_export")
    data_dir = data_dir_prepare(args.data_dir)
    os.environ["SUPPORTBOT_DATA_DIR"] = str(data_dir)
    database_migrate()
    rng = random.Random(args.seed)
    chunks = knowledge_base(rng)
    idle = export_once("csv", data_dir / "export-empty.csv")  # the same process with nothing to export
    idle_wall, idle_kb = idle["wall_s"], idle["peak_rss_mb"] * 1024
    log(f"export of an empty database: {idle_wall:.2f} s, peak RSS {idle_kb / 1024:.1f} MB")
    results, stored = {}, 0
    for size in args.sizes:
        started = time.perf_counter()
        seed(size - stored, start=stored, chunks=chunks, rng=rng)
        stored = size
        log(f"\n{size:,} rated answers stored in {time.perf_counter() - started:.1f} s")
        results[size] = [export_once(fmt, data_dir / f"export-{size}.{fmt}") for fmt in FORMATS]
        for row in results[size]:
            log(f"  {row['format']:<12} {row['summary']}")
    report = markdown(results, command, idle_wall, idle_kb)
    log("\n" + report)
    if args.append_docs:
        docs_write(report)
        log("written to docs/benchmarks.md")


def docs_write(report: str) -> None:
    """Append the section to docs/benchmarks.md, or replace this benchmark's own section from an earlier run
    (other sections, written by other benchmarks, are left as they are)."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    heading = report.splitlines()[0]
    if heading in text:
        before, rest = text.split(heading, 1)
        following = re.search(r"^## ", rest, re.MULTILINE)
        text = before + report + ("\n" + rest[following.start() :] if following else "")
    else:
        text += "\n" + report
    path.write_text(text, encoding="utf-8")


def markdown(results: dict, command: str, idle_wall: float, idle_kb: int) -> str:
    small, large = min(results), max(results)
    lines = [
        "## Feedback export (`bench/feedback_export.py`)",
        "",
        f"Measured {dt.date.today().isoformat()} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the end: other work shares the machine), "
        f"Python {platform.python_version()}, embedded Postgres. Command:",
        "",
        f"    {command}",
        "",
        "Each export is `manage.py export_feedback --skip-checks --format F --out FILE` in a fresh process; peak "
        "RSS is that "
        "process's own (os.wait4). Rows/s (rows written) and answers/s (written + skipped) are over the export "
        "time the command prints; wall s is the whole process, start-up included (the same export of an empty "
        f"database: {idle_wall:.2f} s, {idle_kb / 1024:.0f} MB peak RSS; over idle = peak RSS minus that). "
        "The export first collects implicit signals over every stored conversation, as in production.",
        "",
        "| rated answers | format | rows written | skipped | export s | wall s | rows/s | answers/s | peak RSS MB "
        "| over idle MB | file MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, rows in results.items():
        lines += [
            f"| {size:,} | {r['format']} | {r['rows']:,} | {r['skipped']:,} | {r['net_s']} | {r['wall_s']} | "
            f"{r['rows_per_s']:,} | {r['answers_per_s']:,} | {r['peak_rss_mb']} | "
            f"{r['peak_rss_mb'] - idle_kb / 1024:.1f} | {r['file_mb']} |"
            for r in rows
        ]
    if small != large:
        ratios = ", ".join(
            f"{a['format']} {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}"
            for a, b in zip(results[small], results[large], strict=True)
        )
        lines += ["", f"Peak RSS at {large:,} / {small:,} rated answers: {ratios} (1.00 = flat)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
