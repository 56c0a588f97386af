from __future__ import annotations

from asgiref.sync import async_to_sync
from celery import shared_task

from supportbot.chat import recovery


@shared_task(acks_late=True)
def answers_sweep_task() -> list[int]:
    """Periodic (Celery beat, every CHAT_SWEEP_SECONDS): answer the questions whose reply nobody is writing any
    more. Safe to run twice at once: each reply is taken by one sweep (recovery.abandoned_take)."""
    return async_to_sync(recovery.answers_sweep)()
