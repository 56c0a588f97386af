"""The console's websocket (/ws/console/): staff only.

In: `heartbeat` (keeps the agent's presence fresh, so widgets offer a live human), `watch` (follow one
conversation's messages), `take_over`, `reply`, `hand_back`, `close`. Out: `hello`, `conversation` (an inbox row
changed), `escalated` (a conversation was handed to humans), `transcript` (on watch), `message` (said in the
watched conversation), `done` (an action succeeded), `error`.

Events come from the channel layer groups that supportbot.chat.broadcasts names and sends to: "agents" for every
console, "watch.<conversation id>" for consoles that have that conversation open.
"""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from supportbot.chat import chat_metrics, takeover
from supportbot.chat.broadcasts import AGENTS_GROUP, watch_group
from supportbot.chat.services import ChatError
from supportbot.console import inbox
from supportbot.console.access import is_console_agent

logger = logging.getLogger(__name__)
CLOSE_FORBIDDEN = 4403
ROUTE = "console"
ACTIONS = {
    "take_over": takeover.conversation_take_over,
    "hand_back": takeover.conversation_hand_back,
    "close": takeover.conversation_close,
}


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    user = None
    watching: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not await database_sync_to_async(is_console_agent)(user):
            chat_metrics.socket_refused(ROUTE, "forbidden")
            await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake is refused
            return
        self.user = user
        await self.accept()
        chat_metrics.socket_opened(ROUTE)
        await self.channel_layer.group_add(AGENTS_GROUP, self.channel_name)
        await database_sync_to_async(takeover.agent_presence_touch)(user=user, channel_name=self.channel_name)
        waiting = await database_sync_to_async(inbox.escalations_waiting)()
        await self.send_json({"type": "hello", "user_id": user.pk, "waiting": waiting})

    async def disconnect(self, code: int) -> None:
        if self.user is None:
            return
        chat_metrics.socket_closed(ROUTE)
        await self.channel_layer.group_discard(AGENTS_GROUP, self.channel_name)
        if self.watching:
            await self.channel_layer.group_discard(watch_group(self.watching), self.channel_name)
        await database_sync_to_async(takeover.agent_presence_leave)(channel_name=self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            await self._error("malformed_frame", "frames must be JSON objects")
            return
        kind = content.get("type")
        handler = {"heartbeat": self.on_heartbeat, "watch": self.on_watch, "reply": self.on_reply}.get(kind)
        if handler is None and kind in ACTIONS:
            handler = self.on_action
        if handler is None:
            await self._error("unknown_type", f"unknown frame type {kind!r}")
            return
        try:
            await handler(content)
        except ChatError as exc:
            await self._error(**exc.as_dict())
        except Exception:  # noqa: BLE001 — the agent gets an error frame, the console stays connected
            logger.exception("console frame %r failed", kind)
            await self._error("internal_error", "something went wrong on our side")

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    async def on_heartbeat(self, content: dict) -> None:
        await database_sync_to_async(takeover.agent_presence_touch)(user=self.user, channel_name=self.channel_name)
        await self.send_json({"type": "heartbeat"})

    async def on_watch(self, content: dict) -> None:
        row = await database_sync_to_async(inbox.inbox_row_for)(content.get("conversation_id", ""))
        if row is None:
            raise ChatError("unknown_conversation", "no such conversation")
        if self.watching:
            await self.channel_layer.group_discard(watch_group(self.watching), self.channel_name)
        self.watching = row["id"]
        await self.channel_layer.group_add(watch_group(self.watching), self.channel_name)
        # Subscribed first, then the transcript: whatever was said before is in it, whatever comes after arrives.
        messages = await database_sync_to_async(inbox.agent_transcript_for)(self.watching)
        await self.send_json({"type": "conversation", "row": row})
        await self.send_json({"type": "transcript", "conversation_id": self.watching, "messages": messages})

    async def on_action(self, content: dict) -> None:
        action = ACTIONS[content["type"]]
        conversation_id = self._conversation_id(content)
        await database_sync_to_async(action)(conversation_id=conversation_id, agent=self.user)
        await self.send_json({"type": "done", "action": content["type"], "conversation_id": conversation_id})

    async def on_reply(self, content: dict) -> None:
        text = content.get("text")
        if not isinstance(text, str):
            raise ChatError("malformed_frame", "text must be a string")
        conversation_id = self._conversation_id(content)
        await database_sync_to_async(takeover.agent_reply)(conversation_id=conversation_id, agent=self.user, text=text)
        chat_metrics.message_count("agent")
        await self.send_json({"type": "done", "action": "reply", "conversation_id": conversation_id})

    @staticmethod
    def _conversation_id(content: dict) -> str:
        conversation_id = content.get("conversation_id")
        if not isinstance(conversation_id, str) or not inbox.is_conversation_id(conversation_id):
            raise ChatError("unknown_conversation", "no such conversation")
        return conversation_id

    # --- Channel layer events ---------------------------------------------------------------------------

    async def conversation_updated(self, event: dict) -> None:
        row = await database_sync_to_async(inbox.inbox_row_for)(event["conversation_id"])
        if row is not None:
            waiting = await database_sync_to_async(inbox.escalations_waiting)()
            await self.send_json({"type": "conversation", "row": row, "waiting": waiting})

    async def conversation_escalated(self, event: dict) -> None:
        row = await database_sync_to_async(inbox.inbox_row_for)(event["conversation_id"])
        if row is not None:
            waiting = await database_sync_to_async(inbox.escalations_waiting)()
            await self.send_json(
                {"type": "escalated", "row": row, "reason": event.get("reason", ""), "waiting": waiting}
            )

    async def conversation_message(self, event: dict) -> None:
        message_id = event.get("message", {}).get("message_id")
        detail = await database_sync_to_async(inbox.message_detail_for)(message_id)
        if detail is not None and self.watching:
            await self.send_json({"type": "message", "conversation_id": self.watching, "message": detail})
