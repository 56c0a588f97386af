"""Where the chat's database work runs.

Channels' database_sync_to_async sends every call to one shared thread, so with many conversations every
receive, store and retrieval queues behind the others. The chat runs its database work on the shared thread
pool instead. Connections come from the pool in settings and go back to it when the call ends: closed inside
the call itself, where the connection was opened (Channels' own clean-up after the call did not return them,
and each test's event loop then leaked one).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import close_old_connections

# The event loop's default pool has cpu + 4 threads (6 here): with 200 conversations each waiting on the database
# a turn at a time, a visitor's acknowledgement queued behind other conversations' waits. The work itself needs
# little CPU, so more threads than cores pay off; keep DATABASE_POOL_MAX_SIZE at least this large.
CHAT_EXECUTOR = ThreadPoolExecutor(max_workers=settings.CHAT_THREADS, thread_name_prefix="chat")


def in_db_thread(func):
    @functools.wraps(func)
    def call(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return DatabaseSyncToAsync(call, thread_sensitive=False, executor=CHAT_EXECUTOR)


def in_chat_thread(func):
    """For work that does not touch the database (guard checks, embeddings): the same pool, no clean-up."""
    from asgiref.sync import SyncToAsync

    return SyncToAsync(func, thread_sensitive=False, executor=CHAT_EXECUTOR)
