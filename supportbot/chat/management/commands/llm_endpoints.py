from __future__ import annotations

import asyncio
import json

from django.core.management.base import BaseCommand, CommandError

from supportbot.llm import endpoints_configured, endpoints_probe, pool_status


class Command(BaseCommand):
    help = (
        "Show the LLM endpoint pool (LLM_ENDPOINTS, or the single OPENAI_* endpoint) and its live state in this "
        "process; --probe first asks every endpoint for a tiny reply and fails if any endpoint does not answer."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--probe", action="store_true", help="Send a tiny request to every endpoint first.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, probe: bool, json: bool, **options) -> None:
        if not endpoints_configured():
            raise CommandError("No LLM endpoint is configured (set LLM_ENDPOINTS or OPENAI_BASE_URL/OPENAI_API_KEY).")
        probes = asyncio.run(endpoints_probe()) if probe else []
        status = pool_status()
        if json:
            self.stdout.write(_dumps({"endpoints": status, "probes": probes}))
        else:
            self._print(status, probes)
        if failed := [p["endpoint"] for p in probes if not p["ok"]]:
            raise CommandError(f"{len(failed)} of {len(probes)} endpoints failed the probe: {', '.join(failed)}")

    def _print(self, status: list[dict], probes: list[dict]) -> None:
        by_name = {p["endpoint"]: p for p in probes}
        for row in status:
            ttft = "-" if row["ttft_ema_ms"] is None else f"{row['ttft_ema_ms']:.0f} ms"
            self.stdout.write(
                f"{row['name']}: {row['state']} ({row['model']}, region {row['region'] or '-'}, "
                f"priority {row['priority']}, weight {row['weight']:g}) requests {row['requests']}, "
                f"errors {row['errors'] or 0}, first token {ttft}, cost ${row['cost_usd']:.4f}"
            )
            if probe := by_name.get(row["name"]):
                verdict = f"ok in {probe['ms']:.0f} ms" if probe["ok"] else f"FAILED: {probe['error']}"
                self.stdout.write(f"  probe: {verdict}")


def _dumps(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, indent=2)
