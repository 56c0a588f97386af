"""Guard latency per turn: the input guard on the question, the output guard on each sentence of the answer.

    .venv/bin/python -m bench.guards [--questions 70] [--json-out bench/results/guards.json]
    .venv/bin/python -m bench.guards --quick     # a small run that checks it works (numbers mean nothing)

Runs in a private embedded database (--data-dir, wiped first) over the demo knowledge base. For every eval
question: the input guard (length, injection, abuse, secrets, personal data), then the answer's sentences (the
offline answerer's, as a model would cite them) through the output guard, timed in three parts:
- deterministic validators: the fixing Guard (citations, markup, secrets, personal data, banned words) and the
  detecting Guard (system-prompt leak, grounding arithmetic on precomputed vectors);
- model-based: the sentence embedding the grounding check needs (the local ONNX model), listed on its own.
Target: deterministic guard overhead per turn p95 <= 30 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from bench.harness import ROOT, args_parse, command_announce, data_dir_prepare, database_migrate, results_write


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=70)
    parser.add_argument("--data-dir", default="/tmp/supportbot-bench-guards")
    parser.add_argument("--json-out", default="bench/results/guards.json")
    args = args_parse(parser, quick={"questions": 5, "data_dir": "/tmp/supportbot-bench-guards-quick"})
    command = command_announce("bench.guards")
    data_dir = data_dir_prepare(args.data_dir)
    os.environ["SUPPORTBOT_DATA_DIR"] = str(data_dir)
    database_migrate()
    from django.core.management import call_command

    with open(os.devnull, "w") as quiet:
        call_command("demo_setup", stdout=quiet)

    import kb
    from kb.embeddings import embedder
    from supportbot.answering import prompts
    from supportbot.answering.offline import offline_answer
    from supportbot.chat.models import Widget
    from supportbot.guards import output_guard as og
    from supportbot.guards.input_guard import input_check
    from supportbot.guards.runtime import guard_cached, guard_run
    from supportbot.guards.validators import Grounded, SystemPromptLeak

    widget = Widget.objects.get(key="demo")
    questions = [json.loads(line)["question"] for line in (ROOT / "kb/demo/eval.jsonl").read_text().splitlines()]
    questions = (questions * (args.questions // len(questions) + 1))[: args.questions]
    detect = guard_cached(("bench-detect",), lambda: [SystemPromptLeak(on_fail="noop"), Grounded(on_fail="noop")])
    fix = guard_cached(("output-fix", ()), lambda: og._fixers(()))
    turns = []
    for warm in (True, False):
        for question in questions[: 5 if warm else None]:
            t0 = time.perf_counter()
            input_check(text=question, widget=widget)
            input_ms = (time.perf_counter() - t0) * 1000
            vector = embedder().embed([question])[0]
            results = kb.search(question, k=5, vector=vector)
            context = og.output_context(results=results, protected_prompt=prompts.protected_prompt(), banned=())
            sentences = og.SentenceBuffer().feed(offline_answer(vector, results) + " ")
            fix_ms = detect_ms = embed_ms = 0.0
            for sentence in sentences:
                t1 = time.perf_counter()
                fixed = guard_run(fix, sentence, {"citation_count": len(results), "allowed_pii": set()}, fixing=True)
                t2 = time.perf_counter()
                sentence_vector = embedder().embed([fixed.text])[0]
                t3 = time.perf_counter()
                metadata = {
                    "leak_detector": context.leak_detector,
                    "sentence_vector": sentence_vector,
                    "chunk_texts": [r.text for r in results],
                    "chunk_vectors": context.chunk_vectors,
                }
                guard_run(detect, fixed.text, metadata, fixing=False)
                t4 = time.perf_counter()
                fix_ms += (t2 - t1) * 1000
                embed_ms += (t3 - t2) * 1000
                detect_ms += (t4 - t3) * 1000
            if not warm:
                turns.append(
                    {
                        "sentences": len(sentences),
                        "input_ms": input_ms,
                        "output_deterministic_ms": fix_ms + detect_ms,
                        "deterministic_ms": input_ms + fix_ms + detect_ms,
                        "embedding_ms": embed_ms,
                    }
                )
    report = {"command": command, "turns": len(turns)}
    for key in ("input_ms", "output_deterministic_ms", "deterministic_ms", "embedding_ms"):
        values = [t[key] for t in turns]
        report[key] = {"p50": round(_percentile(values, 50), 2), "p95": round(_percentile(values, 95), 2)}
    report["sentences_per_answer"] = round(statistics.mean(t["sentences"] for t in turns), 2)
    report["target_deterministic_p95_ms"] = 30
    report["pass"] = report["deterministic_ms"]["p95"] <= 30
    results_write(report, args.json_out, data_dir, name="guards")
    print(f"{'per turn':34}{'p50 ms':>10}{'p95 ms':>10}")
    for key, label in [
        ("input_ms", "input guard"),
        ("output_deterministic_ms", "output guard (deterministic)"),
        ("deterministic_ms", "all deterministic validators"),
        ("embedding_ms", "grounding embeddings (model)"),
    ]:
        print(f"{label:34}{report[key]['p50']:>10}{report[key]['p95']:>10}")
    verdict = "PASS" if report["pass"] else "FAIL"
    print(f"target: deterministic p95 <= 30 ms -> {verdict}; {report['sentences_per_answer']} sentences per answer")


if __name__ == "__main__":
    main()
