from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kb.evaluation import EvalFileError, cases_load, retrieval_evaluate


class Command(BaseCommand):
    help = "Measure retrieval quality (hit@1, hit@k, MRR, by document and by section) on a JSONL eval set."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--k", type=int, default=5)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, file: Path, k: int, json: bool, **options) -> None:
        if k < 1:
            raise CommandError("--k must be at least 1")
        try:
            report = retrieval_evaluate(cases_load(file), k=k)
        except EvalFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(_json(report) if json else _table(report))


def _json(report: dict) -> str:
    return json.dumps(report)


def _table(report: dict) -> str:
    k = report["k"]
    columns = [
        "hit@1",
        f"hit@{k}",
        "mrr",
        "section_hit@1",
        f"section_hit@{k}",
        "section_mrr",
        "p50_ms",
        "p95_ms",
    ]
    lines = [f"{report['n']} questions, k={k}", f"{'mode':<8}" + "".join(f"{c:>16}" for c in columns)]
    for mode, metrics in report["modes"].items():
        lines.append(f"{mode:<8}" + "".join(f"{metrics[c]:>16}" for c in columns))
    return "\n".join(lines)
