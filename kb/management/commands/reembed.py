from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from kb.reembedding import documents_reembed


class Command(BaseCommand):
    help = "Re-embed every chunk with the configured embedding model (after changing KB_EMBEDDING_*)."

    def handle(self, *args, **options) -> None:
        bar = tqdm(unit="chunk", desc="re-embedding", disable=options["verbosity"] == 0, leave=False)

        def show(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        state = documents_reembed(on_progress=show)
        bar.close()
        self.stdout.write(
            f"Re-embedded {bar.n} chunks with {state.embedding_model} ({state.embedding_dimensions} dimensions)."
        )
