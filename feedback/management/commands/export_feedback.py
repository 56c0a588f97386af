from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feedback.datasets import ExportFilters
from feedback.exports import FORMATS, dataset_export


class Command(BaseCommand):
    help = "Export ratings and corrections as a dataset: openai-chat, preference, eval (for `evaluate`) or csv."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument("--out", "--output", required=True, help='the file to write; "-" for standard output')
        parser.add_argument("--since", default="", help="answers from this date (YYYY-MM-DD) or date-time")
        parser.add_argument("--until", default="", help="answers up to this date (inclusive) or date-time")
        parser.add_argument("--rating", default="", choices=["", "up", "down"])
        parser.add_argument("--widget", default="", help="only this widget's conversations (its key)")

    def handle(self, *args, fmt: str, out: str, since: str, until: str, rating: str, widget: str, **options):
        try:
            filters = ExportFilters.parse(since=since, until=until, rating=rating, widget=widget)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        started = time.perf_counter()
        if out == "-":
            result = dataset_export(fmt=fmt, out=self.stdout, filters=filters)
            # The data stream stays clean: the summary goes to standard error.
            self.stderr.write(f"{result.summary()} in {time.perf_counter() - started:.1f} s")
            return
        path = Path(out)
        try:
            with path.open("w", encoding="utf-8", newline="") as stream:
                result = dataset_export(fmt=fmt, out=stream, filters=filters)
        except OSError as exc:
            raise CommandError(f"{out}: {exc.strerror or exc}") from exc
        self.stdout.write(f"{result.summary()} to {path} in {time.perf_counter() - started:.2f} s")
