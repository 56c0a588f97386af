"""The output guard against contradicting sentences: supportbot/evaluation/contradictions/{dev,test}.jsonl.

    .venv/bin/python -m bench.contradictions --split dev [--sweep]    # tune GUARD_CONTRADICTION_THRESHOLD here
    .venv/bin/python -m bench.contradictions --split test             # report; never tune on it
    .venv/bin/python -m bench.contradictions --quick                  # a few rows, checks it runs

Each row is a passage copied from a public package's documentation (PyPI long descriptions we did not write)
and one sentence: a faithful paraphrase, or a contradiction (negation, swapped number, version, platform or
entity). Every sentence goes through the guard's decision as an answer citing that passage would: grounding
(grounding.py: words, every number in the source, embedding similarity), then the contradiction check
(contradiction.py). Reported: the share of contradicting sentences withheld, of faithful ones dropped (goals:
>= 95% and <= 5%), per kind, and the contradiction check's latency per sentence (the NLI model's included).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter

from bench.harness import (
    ROOT,
    args_parse,
    command_announce,
    data_dir_prepare,
    database_migrate,
    results_write,
    stats_ms,
)

SET = ROOT / "supportbot" / "evaluation" / "contradictions"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--threshold", type=float, default=None, help="default: GUARD_CONTRADICTION_THRESHOLD")
    parser.add_argument("--sweep", action="store_true", help="also report every threshold (dev only)")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--data-dir", default="/tmp/supportbot-bench-contradictions")
    parser.add_argument("--json-out", default="")
    args = args_parse(parser, quick={"limit": 8, "data_dir": "/tmp/supportbot-bench-contradictions-quick"})
    if args.sweep and args.split != "dev":
        parser.error("--sweep tunes: dev split only")
    command = command_announce("bench.contradictions")
    data_dir = data_dir_prepare(args.data_dir)
    os.environ["SUPPORTBOT_DATA_DIR"] = str(data_dir)
    database_migrate()
    from django.conf import settings

    from kb.embeddings import embedder
    from supportbot.guards.contradiction import _names_and_numbers, contradiction_find
    from supportbot.guards.grounding import sentence_support

    threshold = settings.GUARD_CONTRADICTION_THRESHOLD if args.threshold is None else args.threshold
    rows = [json.loads(line) for line in (SET / f"{args.split}.jsonl").read_text().splitlines() if line.strip()]
    rows = rows[: args.limit] if args.limit else rows
    contradiction_find(sentence="Warm up.", passages=["The model loads once."])  # load outside the timings
    verdicts, timings = [], []
    for row in rows:
        passage, sentence = row["passage"], row["sentence"]
        vectors = embedder().embed([passage, sentence])
        support = sentence_support(sentence, vectors[1], [passage], vectors[:1])
        started = time.perf_counter()
        # The guard's own work: the rules, then the model where they find nothing (its margin kept for sweeps).
        certain = _names_and_numbers(" ".join(sentence.split()), [passage])
        rule = certain or contradiction_find(sentence=sentence, passages=[passage], use_model=False)
        margin = _margin(sentence, passage) if certain is None else float("inf")
        timings.append((time.perf_counter() - started) * 1000)
        verdicts.append({**row, "grounded": support.supported, "rule": rule.kind if rule else None, "margin": margin})
    confirm = settings.GUARD_CONTRADICTION_CONFIRM
    report = _report(verdicts, threshold, confirm)
    report.update(command=command, split=args.split, threshold=threshold, confirm=confirm, latency_ms=stats_ms(timings))
    report["rows"] = [{k: v[k] for k in ("id", "label", "kind", "grounded", "rule", "margin")} for v in verdicts]
    if args.sweep:
        report["sweep"] = [_report(verdicts, t / 4, confirm) | {"threshold": t / 4} for t in range(8, 25)]
        for r in report["sweep"]:
            print(f"threshold {r['threshold']:5.2f}: withheld {r['withheld']:.3f}  dropped {r['dropped']:.3f}")
    out = results_write(report, args.json_out, data_dir, name=f"contradictions-{args.split}")
    print(json.dumps({k: v for k, v in report.items() if k not in ("sweep", "misses", "rows")}, indent=1))
    for miss in report["misses"]:
        print("MISS", miss)
    print(f"written to {out}")


def _margin(sentence: str, passage: str) -> float:
    from supportbot.guards.contradiction import _is_latin, _premise, _verbatim
    from supportbot.guards.nli_model import not_backed_margins

    if _verbatim(sentence, [passage]) or not _is_latin(sentence):
        return float("-inf")
    return not_backed_margins(pairs=[(_premise(sentence, passage), sentence)])[0]


def _report(verdicts: list[dict], threshold: float, confirm: float) -> dict:
    def blocked(v: dict) -> bool:
        return by(v) != "passed"

    def by(v: dict) -> str:
        # As contradiction_find decides: names/numbers alone, other rules confirmed by the model, or the model.
        if not v["grounded"]:
            return "grounding"
        if v["rule"] and (v["rule"] in ("unnamed term", "number") or v["margin"] >= confirm):
            return v["rule"]
        return "model" if v["margin"] >= threshold else "passed"

    bad = [v for v in verdicts if v["label"] == "contradiction"]
    good = [v for v in verdicts if v["label"] == "faithful"]
    kinds = Counter(v["kind"] for v in bad)
    caught = Counter(v["kind"] for v in bad if blocked(v))
    return {
        "contradictions": len(bad),
        "faithful": len(good),
        "withheld": round(sum(map(blocked, bad)) / max(len(bad), 1), 3),
        "dropped": round(sum(map(blocked, good)) / max(len(good), 1), 3),
        "withheld_by_kind": {k: f"{caught[k]}/{n}" for k, n in sorted(kinds.items())},
        "caught_by": dict(Counter(by(v) for v in bad)),
        "faithful_dropped_by": dict(Counter(by(v) for v in good if blocked(v))),
        "misses": [
            f"{v['id']} {v['label']} ({by(v)}, margin {v['margin']:.2f}): {v['sentence']}"
            for v in verdicts
            if blocked(v) != (v["label"] == "contradiction")
        ],
    }


if __name__ == "__main__":
    main()
