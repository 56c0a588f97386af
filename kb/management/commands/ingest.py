from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from kb import services, tasks
from kb.models import IngestionJob
from supportbot.jobs import job_enqueue


class Command(BaseCommand):
    help = "Ingest files, folders, web pages and sitemaps into the knowledge base."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "targets",
            nargs="+",
            metavar="PATH_OR_URL",
            help="Files and folders (never inside the data directory), http(s) pages and sitemaps.",
        )
        parser.add_argument("--prune", action="store_true", help="Delete documents that vanished from a source.")
        parser.add_argument("--force", action="store_true", help="Re-ingest even unchanged documents.")
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args, targets: list[str], prune: bool, force: bool, quiet: bool, **options) -> None:
        job = services.job_create(targets=targets, prune=prune, force=force)
        job = run_with_progress(job, quiet=quiet or options["verbosity"] == 0)
        self.stdout.write(summary(job))
        if job.status == IngestionJob.Status.FAILED:
            raise CommandError(f"ingestion job {job.pk} failed")


def run_with_progress(job: IngestionJob, *, quiet: bool) -> IngestionJob:
    """In-process (no broker): run here with a live bar. With a broker: enqueue and follow the job row."""
    bar = tqdm(total=0, unit="doc", desc=f"job {job.pk}", disable=quiet, leave=False)

    def show(current: IngestionJob) -> None:
        bar.total = current.total
        bar.n = current.processed
        bar.set_postfix(failed=current.failed, refresh=False)
        bar.refresh()

    if settings.CELERY_TASK_ALWAYS_EAGER:
        job = services.job_run(job_id=job.pk, on_progress=show)
    else:
        job_enqueue(tasks.ingestion_job_task, job.pk)
        while not job.is_finished:
            time.sleep(0.5)
            job.refresh_from_db()
            show(job)
    bar.close()
    return job


def summary(job: IngestionJob) -> str:
    lines = [
        f"Job {job.pk} {job.status}: {job.processed} of {job.total} documents — {job.created} created, "
        f"{job.updated} updated, {job.unchanged} unchanged, {job.failed} failed, {job.deleted} deleted; "
        f"{job.chunks_written} chunks written."
    ]
    lines += [f"  ✗ {error['uri']}: {error['error']}" for error in job.errors]
    return "\n".join(lines)
