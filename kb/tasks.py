from __future__ import annotations

from celery import shared_task

from kb import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ingestion_job_task(job_id: int) -> str:
    """Run one ingestion job; a redelivered task for a finished job is a no-op (see job_run)."""
    return services.job_run(job_id=job_id).status


@shared_task(acks_late=True)
def sources_sync_task() -> str:
    """The periodic re-ingest of every remembered source (interval: KB_SYNC_INTERVAL_MINUTES)."""
    return services.sources_sync().status
