"""Where the chat's database work runs.

Channels' database_sync_to_async sends every call to one shared thread, so with many conversations every
receive, store and retrieval queues behind the others. The chat runs its database work on the shared thread
pool instead (each pool thread keeps its own connection), closing stale connections as Channels does.
"""

from __future__ import annotations

from channels.db import DatabaseSyncToAsync


def in_db_thread(func):
    return DatabaseSyncToAsync(func, thread_sensitive=False)
