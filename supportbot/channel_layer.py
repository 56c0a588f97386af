"""The Redis channel layer, made to ride out a Redis restart.

channels-redis raises the connection error out of `receive`, and Channels then ends the consumer: every open
websocket on the server closes with 1011 when Redis restarts. Here `receive` waits for Redis to come back
instead (with a growing pause, at most RECONNECT_MAX_SECONDS), so the sockets stay open and messages flow again
once it is back. Group memberships live in Redis: they survive a restart when Redis keeps an append-only file,
as the deployments in deploy/ configure it. Sends during the outage still fail: broadcasts are logged and the
caller carries on (supportbot/chat/broadcasts.py broadcast_async).
"""

from __future__ import annotations

import asyncio
import logging

from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
RECONNECT_MAX_SECONDS = 2.0


class ReconnectingRedisChannelLayer(RedisChannelLayer):
    async def receive(self, channel: str) -> dict:
        pause = 0.1
        while True:
            try:
                return await super().receive(channel)
            except (RedisConnectionError, RedisTimeoutError, ConnectionError) as exc:
                logger.warning("channel layer: Redis unreachable (%s); retrying in %.1f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)
