"""The channel-layer groups and the one way to send to them.

Groups: "agents" gets a short event for the inbox whenever any conversation changes; "watch.<id>" gets the
full message for consoles that have that conversation open; "conversation.<id>" is the visitor's widget.

Services call `broadcast` (or `conversation_broadcast`), never the channel layer: the event goes out once the
transaction that stored what it announces commits (at once outside one), so no console or widget hears of a
row that is rolled back or not yet visible. Async code that has already committed (the turn, recovery) sends
with the `_async` variants. A channel layer that is down or slow never fails the caller: what was stored
stands, the failure is logged, and consoles catch up when they reload.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)
AGENTS_GROUP = "agents"
# A channel layer slower than this is given up on: consoles miss a live update, the caller carries on.
BROADCAST_TIMEOUT_SECONDS = 2.0


def conversation_group(conversation_id) -> str:
    """The visitor's widget(s) on one conversation."""
    return f"conversation.{conversation_id}"


def watch_group(conversation_id) -> str:
    """Agents' consoles that have one conversation open."""
    return f"watch.{conversation_id}"


def broadcast(group: str, event: dict) -> None:
    """Send `event` to `group` after the current transaction commits; at once outside a transaction."""
    transaction.on_commit(lambda: broadcast_now(group, event))


def broadcast_now(group: str, event: dict) -> bool:
    """broadcast_async from synchronous code, now: whether the layer took the event."""
    layer = get_channel_layer()
    return layer is not None and async_to_sync(broadcast_async)(layer, group, event)


async def broadcast_async(layer, group: str, event: dict) -> bool:
    """Send to a channel-layer group, never failing the caller: what was stored stands, and a visitor's answer is
    never lost or held up because Redis is down or slow (it is logged; consoles catch up when they reload)."""
    try:
        await asyncio.wait_for(layer.group_send(group, event), BROADCAST_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 — any failure of the layer is the same to the caller
        logger.warning("channel layer: could not send %s to %s", event.get("type"), group, exc_info=True)
        return False
    return True


def conversation_broadcast(*, conversation_id, payload: dict | None = None) -> None:
    """Tell consoles that a conversation changed (and, to those watching it, the message `payload`), on commit."""
    broadcast(AGENTS_GROUP, _updated(conversation_id))
    if payload is not None:
        broadcast(watch_group(conversation_id), _message(payload))


async def conversation_broadcast_async(layer, conversation_id, payload: dict) -> None:
    """conversation_broadcast from async code, with the message already serialised: no trip to a thread. A channel
    layer that is down is logged, never raised (broadcast_async); once it failed, the watchers are not tried."""
    if layer is None:
        return
    if await broadcast_async(layer, AGENTS_GROUP, _updated(conversation_id)):
        await broadcast_async(layer, watch_group(conversation_id), _message(payload))


async def visitor_frame_broadcast_async(layer, conversation_id, frame: dict) -> bool:
    """A frame for the visitor's widget, when it is connected (the consumer relays "chat.frame" events)."""
    if layer is None:
        return False
    return await broadcast_async(layer, conversation_group(conversation_id), {"type": "chat.frame", "frame": frame})


def _updated(conversation_id) -> dict:
    return {"type": "conversation.updated", "conversation_id": str(conversation_id)}


def _message(payload: dict) -> dict:
    return {"type": "conversation.message", "message": payload}
