"""Entry point: `.venv/bin/python -m bench.chat` (see bench/chat/__init__.py and docs/benchmarks.md)."""

from __future__ import annotations

import os
import time

from bench.chat.fake_model import make_reply, timed_fake_llm
from bench.chat.load import run_websocket_phase
from bench.chat.pipeline import run_pipeline_phase
from bench.chat.report import TARGETS, print_report, targets_judge
from bench.chat.setup import CODE_FILES, build_knowledge_base, parse_args, prepare_environment
from bench.harness import command_announce, database_migrate, log, results_write
from bench.machine import CpuAccount, code_fingerprint, machine_info


def main() -> None:
    args = parse_args()
    run_started = time.perf_counter()
    command = command_announce("bench.chat")
    data_dir, database_url = prepare_environment(args)
    log(f"data directory: {data_dir} (separate embedded Postgres; wiped at start)")
    database_migrate()
    from django.conf import settings

    cpu = CpuAccount(data_dir)
    result: dict = {"command": command, "machine": machine_info(), "args": dict(vars(args))}
    result["machine"]["chat_code_sha256"] = code_fingerprint(CODE_FILES)
    result["targets_definition"] = TARGETS
    log("building the knowledge base ...")
    result["knowledge_base"] = build_knowledge_base(args)

    fake = timed_fake_llm()
    fake.reply = make_reply(args.reply_words)
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, settings.LLM_MODEL = fake.base_url, "bench-key", "fake-model"
    try:
        log(f"\n--- 1. pipeline in process: {args.pipeline_questions} questions, zero-latency fake LLM ---")
        pipeline = run_pipeline_phase(args, fake, cpu)
        result["pipeline"] = pipeline
        llm = pipeline.get("llm", {})
        log(f"  paths {pipeline['paths']}; LLM path outside the model: p50 {llm['outside_model']['p50']} ms, "
            f"p95 {llm['outside_model']['p95']} ms; total p95 {llm['total']['p95']} ms")  # fmt: skip
        pool = pipeline.pop("llm_eval_questions")
        if args.conversations:
            log("\n--- 2. websocket load against daphne ---")
            result["websocket"] = run_websocket_phase(args, data_dir, database_url, fake, cpu, pool)
    finally:
        fake.stop()

    result["targets"] = targets_judge(result)
    result["run_seconds"] = round(time.perf_counter() - run_started, 1)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = results_write(result, args.json_out, data_dir, name="chat")
    print_report(result)
    log(f"JSON written to {out}")


if __name__ == "__main__":
    main()
