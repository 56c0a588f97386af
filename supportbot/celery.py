"""The Celery app. Without REDIS_URL tasks run eagerly in the calling process (see settings).

With a broker, a task may be delivered twice: after its worker died (acks late: the message goes back to the
queue when the visibility timeout has passed) or, for a job longer than the visibility timeout, while the first
copy still runs. Job tasks therefore run under `job_lock`, and the services resume a half-done job.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")

app = Celery("supportbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
