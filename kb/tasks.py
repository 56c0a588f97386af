from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from kb import services
from supportbot.jobs import job_enqueue, job_lock

LOCK = "kb.ingestion"


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def ingestion_job_task(self, job_id: int) -> str:
    """Run one ingestion job. Redelivered: a finished job is a no-op, a half-done one resumes (see job_run); while
    another worker still runs it, check again later — that worker may yet die."""
    with job_lock(LOCK, job_id) as mine:
        if not mine:
            raise self.retry(countdown=settings.CELERY_JOB_BUSY_RETRY_SECONDS, max_retries=None)
        try:
            return services.job_run(job_id=job_id).status
        except SoftTimeLimitExceeded:
            services.job_fail(job_id=job_id, reason="stopped at the time limit (CELERY_TASK_SOFT_TIME_LIMIT)")
            return "failed"


@shared_task(acks_late=True)
def sources_sync_task() -> str:
    """The periodic re-ingest of every remembered source (interval: KB_SYNC_INTERVAL_MINUTES)."""
    job = services.sync_job_create()
    with job_lock(LOCK, job.pk):  # so the recovery sweep never takes it for a lost job
        return services.job_run(job_id=job.pk).status


@shared_task(acks_late=True)
def ingestion_jobs_recover_task() -> list[int]:
    """Periodic: queue again the jobs no worker holds — left running by a dead worker, or whose message was lost
    (a Redis restart without persistence). A duplicate of a job that is only waiting in the queue is harmless."""
    queued_before = timezone.now() - timedelta(seconds=settings.CELERY_JOB_RECOVER_AFTER_SECONDS)
    lost = []
    for job_id in services.jobs_unfinished(queued_before=queued_before):
        with job_lock(LOCK, job_id) as free:
            if free:
                lost.append(job_id)
    for job_id in lost:
        job_enqueue(ingestion_job_task, job_id)
    return lost
