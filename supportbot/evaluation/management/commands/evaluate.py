from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from supportbot.evaluation.cases import EvalFileError, cases_load
from supportbot.evaluation.comparison import floor_parse, floors_check, runs_compare
from supportbot.evaluation.services import (
    ANSWER_CHOICES,
    EvalRunNotFound,
    eval_run_find,
    evaluation_run,
    report_write,
)


class Command(BaseCommand):
    help = (
        "Measure retrieval (hit@1, hit@k, MRR per mode and per document) on a JSONL eval set and, for questions "
        "with a reference answer or marked unanswerable, the answers of the whole chat pipeline; store the run."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--k", type=int, default=5)
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--html", type=Path, help="write the HTML report (one self-contained file) here")
        parser.add_argument("--unanswerable", type=Path, help="a JSONL file of questions the bot should decline")
        parser.add_argument(
            "--answers",
            choices=ANSWER_CHOICES,
            default="auto",
            help="answer questions with a reference (auto), every question (all) or none",
        )
        parser.add_argument("--limit", type=int, help="answer at most this many questions, spread through the file")
        parser.add_argument("--judge-samples", type=int, default=1, help="LLM judge samples per answer; 0 = off")
        parser.add_argument("--compare", metavar="RUN_ID", help="show the difference from a stored run (or last)")
        parser.add_argument(
            "--fail-under", action="append", default=[], metavar="METRIC=VALUE", help="e.g. hybrid.hit@5=0.9"
        )
        parser.add_argument("--documents", action="store_true", help="also print hit rates per document")

    def handle(self, *args, file: Path, k: int, **options) -> None:
        if k < 1 or (options["limit"] is not None and options["limit"] < 1) or options["judge_samples"] < 0:
            raise CommandError("--k and --limit must be at least 1, --judge-samples at least 0")
        try:
            floors = [floor_parse(text) for text in options["fail_under"]]
            baseline = eval_run_find(options["compare"]) if options["compare"] else None
            cases, source = self._cases(file, options["unanswerable"])
            run = evaluation_run(
                cases=cases,
                source=source,
                k=k,
                answers=options["answers"],
                limit=options["limit"],
                judge_samples=options["judge_samples"],
                on_progress=self._progress if options["verbosity"] else None,
            )
        except (EvalFileError, EvalRunNotFound, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        comparison = runs_compare(before=baseline.metrics, after=run.metrics) if baseline else None
        if options["html"]:
            report_write(run=run, path=options["html"], comparison=comparison, baseline=baseline)
        if options["json"]:
            self.stdout.write(_json(run, comparison))
        else:
            self.stdout.write(_text(run.metrics, comparison, documents=options["documents"], baseline=baseline))
        self.stderr.write(f"Stored as evaluation run {run.pk} (compare with --compare {run.pk}).")
        if failures := floors_check(run.metrics, floors):
            raise CommandError("below the floor: " + "; ".join(failures))

    def _cases(self, file: Path, unanswerable: Path | None):
        cases = cases_load(file)
        if unanswerable is None:
            return cases, str(file)
        return cases + cases_load(unanswerable, unanswerable=True), f"{file} + {unanswerable}"

    def _progress(self, done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            self.stderr.write(f"answered {done} of {total}")


def _json(run, comparison: list[dict] | None) -> str:
    payload = {**run.metrics, "run_id": run.pk}
    if comparison is not None:
        payload["comparison"] = comparison
    return json.dumps(payload)


def _cell(value) -> str:
    return "—" if value is None else str(value)


def _text(metrics: dict, comparison: list[dict] | None, *, documents: bool, baseline=None) -> str:
    lines = _retrieval_table(metrics) if metrics["modes"] else []
    if documents and metrics["documents"]:
        k = metrics["k"]
        lines += ["", f"{'document':<40}{'n':>4}{'hit@1':>10}{f'hit@{k}':>10}{'mrr':>10}   (hybrid)"]
        for name, values in metrics["documents"].items():
            hybrid = values["hybrid"]
            lines.append(f"{name[-40:]:<40}{values['n']:>4}" + "".join(f"{v:>10}" for v in hybrid.values()))
    for block in ("answers", "unanswerable", "answerability"):
        if block in metrics:
            lines += ["", f"{block}:"] + [f"  {name:<28}{_cell(value)}" for name, value in metrics[block].items()]
    if "latency" in metrics:
        lines += ["", "latency (p50 / p95 ms):"]
        lines += [f"  {stage:<22}{v['p50']} / {v['p95']}" for stage, v in metrics["latency"].items()]
    if "calibration" in metrics:
        lines += ["", f"calibration: ECE {_cell(metrics['calibration']['ece'])}"]
    if comparison is not None:
        lines += ["", f"compared with run {baseline.pk} ({baseline.created_at:%Y-%m-%d %H:%M}, {baseline.source})"]
        lines += [f"{'metric':<32}{'before':>12}{'after':>12}{'delta':>10}  change"]
        for row in comparison:
            values = (_cell(row["before"]), _cell(row["after"]), _cell(row["delta"]))
            lines.append(f"{row['metric']:<32}{values[0]:>12}{values[1]:>12}{values[2]:>10}  {row['change']}")
    return "\n".join(lines)


def _retrieval_table(metrics: dict) -> list[str]:
    k = metrics["k"]
    columns = ["hit@1", f"hit@{k}", "mrr", "section_hit@1", f"section_hit@{k}", "section_mrr", "p50_ms", "p95_ms"]
    lines = [f"{metrics['n']} questions, k={k}", f"{'mode':<8}" + "".join(f"{c:>16}" for c in columns)]
    for mode, values in metrics["modes"].items():
        lines.append(f"{mode:<8}" + "".join(f"{values[c]:>16}" for c in columns))
    return lines
