"""The one seam for background jobs: enqueue after commit, and one lock per running job.

Every job starts the same way: a service writes the job's row, then `job_enqueue_on_commit` queues its Celery
task once that row is committed (a worker that picks the task up before the commit would find no row). Without a
broker (Celery eager mode) the task runs in this process: right here, or — for a request that must return at
once and let the page follow the job's progress — in a background thread (`in_background`).

With a broker, a task may be delivered twice: after its worker died (acks late: the message goes back to the
queue when the visibility timeout has passed) or, for a job longer than the visibility timeout, while the first
copy still runs. Job tasks therefore run under `job_lock`, and the services resume a half-done job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections, connections, models, transaction
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)
CrashHandler = Callable[[int, Exception], None]


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    PARTIAL = "partial", _("Finished with errors")
    FAILED = "failed", _("Failed")


JOB_FINISHED = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)


class BackgroundJob(models.Model):
    """What every background job records: where it stands and when it ran (ingestion, exports)."""

    Status = JobStatus

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_finished(self) -> bool:
        return self.status in JOB_FINISHED


def job_enqueue_on_commit(
    task, job_id: int, *, in_background: bool = False, on_crash: CrashHandler | None = None
) -> None:
    """`job_enqueue` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: job_enqueue(task, job_id, in_background=in_background, on_crash=on_crash))


def job_enqueue(task, job_id: int, *, in_background: bool = False, on_crash: CrashHandler | None = None) -> None:
    """The Celery task with a broker; in eager mode the same task here, or in a thread when `in_background`, so
    the caller does not wait. `on_crash` marks the job when the thread's run raises (nobody else would)."""
    if in_background and settings.CELERY_TASK_ALWAYS_EAGER:
        background_start(task, job_id, on_crash=on_crash)
        return
    task.delay(job_id)


def background_start(task, job_id: int, *, on_crash: CrashHandler | None = None) -> None:
    name = f"{task.name}-{job_id}"
    threading.Thread(target=job_run_in_thread, args=(task, job_id, on_crash), name=name, daemon=True).start()


def job_run_in_thread(task, job_id: int, on_crash: CrashHandler | None = None) -> None:
    close_old_connections()
    try:
        task(job_id)
    except Exception as exc:  # noqa: BLE001 — a thread has no one to raise to: log it, mark the job
        logger.exception("background job %s (%s) failed", job_id, task.name)
        if on_crash:
            on_crash(job_id, exc)
    finally:
        connections.close_all()


@contextmanager
def job_lock(kind: str, job_id: int) -> Iterator[bool]:
    """Yield whether this process now holds the lock of one job (another worker may be running it).

    A Postgres session-level advisory lock: it needs no table, and when a worker dies — even by SIGKILL — its
    connection ends and Postgres releases the lock, so the redelivered task can take the job over.
    """
    from django.db import DatabaseError, connection

    key = (kind, job_id % 2**31)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s), %s)", key)
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(hashtext(%s), %s)", key)
            except DatabaseError:
                pass  # the connection is gone, and the lock with it
