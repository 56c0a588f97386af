from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

import kb
from kb.search_result import CLI_FIELDS


class Command(BaseCommand):
    help = "Search the knowledge base the way the chat does."

    def add_arguments(self, parser) -> None:
        parser.add_argument("query")
        parser.add_argument("--k", type=int, default=5)
        parser.add_argument("--mode", choices=kb.SEARCH_MODES, default="hybrid")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, query: str, k: int, mode: str, json: bool, **options) -> None:
        if k < 1:
            raise CommandError("--k must be at least 1")
        started = time.perf_counter()
        results = kb.search(query, k=k, mode=mode)
        took_ms = (time.perf_counter() - started) * 1000
        if json:
            self.stdout.write(_as_json(results, took_ms))
            return
        for rank, result in enumerate(results, start=1):
            self.stdout.write(f"{rank}. {result.score:.4f}  {result.title} — {result.heading}\n   {result.link}")
            self.stdout.write("   " + result.text[:200].replace("\n", " "))
        self.stdout.write(f"({len(results)} results in {took_ms:.1f} ms)")


def _as_json(results: list[kb.SearchResult], took_ms: float) -> str:
    rows = [result.as_dict(CLI_FIELDS) for result in results]
    return json.dumps({"results": rows, "took_ms": round(took_ms, 2)}, ensure_ascii=False)
