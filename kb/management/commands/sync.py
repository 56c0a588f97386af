from __future__ import annotations

from django.core.management.base import BaseCommand

from kb import services
from kb.management.commands.ingest import run_with_progress, summary
from kb.models import IngestionJob, Source


class Command(BaseCommand):
    help = "Re-ingest every remembered source; unchanged documents are skipped (content hash, ETag, Last-Modified)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-prune", action="store_true", help="Keep documents that vanished from a source.")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, no_prune: bool, quiet: bool, **options) -> None:
        targets = list(Source.objects.order_by("pk").values_list("location", flat=True))
        if not targets:
            self.stdout.write("No sources yet: add some with `manage.py ingest`.")
            return
        job = services.job_create(targets=targets, prune=not no_prune, kind=IngestionJob.Kind.SYNC)
        self.stdout.write(summary(run_with_progress(job, quiet=quiet)))
