# The Celery app is imported here so every process that sends tasks uses it (not Celery's amqp default).
from supportbot.celery import app as celery_app

__all__ = ["celery_app"]
