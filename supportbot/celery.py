"""The Celery app. Without REDIS_URL tasks run eagerly in the calling process (see settings).

How jobs are enqueued (after commit) and locked against a second delivery: supportbot/jobs.py.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")

app = Celery("supportbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
