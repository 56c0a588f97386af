from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from kb.retrieval import MODES, timed_search


class Command(BaseCommand):
    help = "Search the knowledge base the way the chat does."

    def add_arguments(self, parser) -> None:
        parser.add_argument("query")
        parser.add_argument("--k", type=int, default=5)
        parser.add_argument("--mode", choices=MODES, default="hybrid")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, query: str, k: int, mode: str, json: bool, **options) -> None:
        if k < 1:
            raise CommandError("--k must be at least 1")
        results, took_ms = timed_search(query, k=k, mode=mode)
        if json:
            self.stdout.write(_as_json(results, took_ms))
            return
        for rank, result in enumerate(results, start=1):
            self.stdout.write(f"{rank}. {result.score:.4f}  {result.title} — {result.heading}\n   {result.link}")
            self.stdout.write("   " + result.text[:200].replace("\n", " "))
        self.stdout.write(f"({len(results)} results in {took_ms:.1f} ms)")


def _as_json(results, took_ms: float) -> str:
    rows = [
        {
            "chunk_id": r.chunk_id,
            "document_id": r.document_id,
            "title": r.title,
            "source": r.source,
            "url": r.link,
            "heading": r.heading,
            "text": r.text,
            "score": r.score,
        }
        for r in results
    ]
    return json.dumps({"results": rows, "took_ms": round(took_ms, 2)}, ensure_ascii=False)
