from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from feedback import drafts, exports, faq, implicit
from supportbot.jobs import job_lock

# Conversations active in this window are re-read each run; older ones have all their signals already.
SIGNALS_LOOKBACK = timedelta(days=2)


@shared_task(acks_late=True)
def implicit_signals_task() -> dict[str, int]:
    """Periodic (Celery beat): derive escalated / rephrased / left signals from recent conversations."""
    return implicit.implicit_signals_collect(since=timezone.now() - SIGNALS_LOOKBACK)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def export_job_task(self, job_id: int) -> str:
    """Run one export job. Redelivered: a finished job is a no-op, an unfinished one is written again from the
    start (see export_job_run); while another worker still writes it, check again later."""
    with job_lock("feedback.export", job_id) as mine:
        if not mine:
            raise self.retry(countdown=settings.CELERY_JOB_BUSY_RETRY_SECONDS, max_retries=None)
        return exports.export_job_run(job_id=job_id).status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def correction_publish_task(correction_id: int) -> int | None:
    """Publish an approved correction as an FAQ document; running it again re-ingests nothing unchanged."""
    return faq.faq_publish(correction_id=correction_id).document_id


# --- Drafts from resolved conversations (issue #15) ---
@shared_task(acks_late=True, reject_on_worker_lost=True)
def article_draft_publish_task(draft_id: int) -> int | None:
    """Publish an approved article draft; running it again re-ingests nothing unchanged."""
    return drafts.article_draft_publish(draft_id=draft_id).document_id
