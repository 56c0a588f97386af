"""The visitor's websocket (/ws/chat/?key=WIDGET_KEY&visitor=ID&conversation=ID).

Routes each frame on its "type" to a small handler; the work happens in services and the answering pipeline.
A bad frame gets an error frame and the connection (and conversation) carry on.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from feedback.services import FeedbackError, feedback_record
from supportbot.chat import services
from supportbot.chat.answering import answer_stream
from supportbot.chat.dbthreads import in_db_thread
from supportbot.chat.models import Conversation, Message
from supportbot.chat.services import ChatError
from supportbot.chat.takeover import conversation_broadcast

logger = logging.getLogger(__name__)
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CLOSE_UNKNOWN_WIDGET, CLOSE_ORIGIN_REFUSED = 4404, 4403


class ChatConsumer(AsyncJsonWebsocketConsumer):
    conversation: Conversation | None = None

    async def connect(self) -> None:
        params = {k: v[0] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        headers = {k.decode().lower(): v.decode() for k, v in self.scope.get("headers", [])}
        await self.accept()
        widget = await in_db_thread(services.widget_for_key)(params.get("key", ""))
        if widget is None:
            await self._refuse("unknown_widget", "no widget has this key", CLOSE_UNKNOWN_WIDGET)
            return
        origin_ok = services.origin_allowed(widget, origin=headers.get("origin", ""), host=headers.get("host", ""))
        if not origin_ok:
            await self._refuse("origin_not_allowed", "this website may not use this widget", CLOSE_ORIGIN_REFUSED)
            return
        visitor = params.get("visitor", "")
        self.visitor_id = visitor if _VISITOR_ID.match(visitor) else secrets.token_urlsafe(16)
        self.conversation = await in_db_thread(services.conversation_open)(
            widget=widget,
            visitor_id=self.visitor_id,
            conversation_id=params.get("conversation", ""),
            origin=headers.get("origin", ""),
        )
        await self.channel_layer.group_add(self._group, self.channel_name)
        await self.send_json(await in_db_thread(self._session)(widget))

    @property
    def _group(self) -> str:
        return f"conversation.{self.conversation.pk}"

    def _session(self, widget) -> dict:
        return {
            "type": "session",
            "conversation_id": str(self.conversation.pk),
            "visitor_id": self.visitor_id,
            "status": self.conversation.status,
            "agents_online": services.agents_online(),
            "widget": {"title": widget.title, "greeting": widget.greeting, "accent_color": widget.accent_color},
            "messages": services.conversation_transcript(self.conversation),
        }

    async def _refuse(self, code: str, detail: str, close_code: int) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})
        await self.close(code=close_code)

    async def disconnect(self, code: int) -> None:
        if self.conversation is not None:
            await self.channel_layer.group_discard(self._group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if self.conversation is None:
            return
        if text_data is None or len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
            detail = "frames must be JSON text" if text_data is None else "the frame is too large"
            await self._error("frame_too_large" if text_data else "malformed_frame", detail)
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("malformed_frame", "the frame is not valid JSON")
            return
        if not isinstance(content, dict):
            await self._error("malformed_frame", "the frame must be a JSON object")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        handler = {
            "message": self.on_message,
            "feedback": self.on_feedback,
            "escalate": self.on_escalate,
            "contact": self.on_contact,
            "ping": self.on_ping,
        }.get(content.get("type"))
        if handler is None:
            await self._error("unknown_type", 'type must be "message", "feedback", "escalate" or "contact"')
            return
        try:
            await handler(content)
        except (ChatError, FeedbackError) as exc:
            await self._error(exc.code, exc.detail)
        except Exception:  # noqa: BLE001 — the visitor gets a clear error, the connection survives
            logger.exception("chat frame failed in conversation %s", self.conversation.pk)
            await self._error("internal_error", "something went wrong on our side; your message was kept")

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    async def on_message(self, content: dict) -> None:
        text, client_id = content.get("text"), content.get("client_id", "")
        if not isinstance(text, str) or not isinstance(client_id, str):
            raise ChatError("malformed_frame", "text must be a string")
        if self.conversation.status == Conversation.Status.CLOSED:
            raise ChatError("conversation_closed", "this conversation is closed; reload to start a new one")
        question, created, verdict = await in_db_thread(services.visitor_message_receive)(
            conversation=self.conversation, text=text, client_id=client_id
        )
        await self.send_json({"type": "received", "message_id": question.pk, "client_id": client_id})
        if not created:
            return  # a retried frame: already stored (and answered, or being answered)
        await in_db_thread(self.conversation.refresh_from_db)(fields=["status", "assigned_agent"])
        await in_db_thread(conversation_broadcast)(conversation_id=self.conversation.pk, message=question)
        if self.conversation.assigned_agent_id:
            return  # an agent holds the conversation: the bot stays silent
        if verdict.action != "allow":
            await self._guard_reply(question, verdict)
        elif services.wants_human(question.text):
            await self.on_escalate({"reason": "visitor_request"})
        else:
            await self._answer(question)

    async def _answer(self, question) -> None:
        async for event in answer_stream(conversation=self.conversation, question=question):
            escalate = event.pop("escalate", False)
            event.pop("from_cache", None)
            await self.send_json(event)
            if event["type"] == "answer":
                await self._broadcast_answer(event["message_id"])
            if escalate:
                await self._escalate(escalate if isinstance(escalate, str) else "low_confidence")

    async def _guard_reply(self, question, verdict) -> None:
        bot, escalate = await in_db_thread(services.guard_reply)(
            conversation=self.conversation, question=question, verdict=verdict
        )
        event = services.message_payload(bot)
        await self.send_json({"type": "answer", **{k: v for k, v in event.items() if k != "role"}})
        await self._broadcast_answer(bot.pk)
        if escalate:
            await self._escalate(f"guard:{verdict.reason}")

    async def _broadcast_answer(self, message_id: int) -> None:
        message = await Message.objects.aget(pk=message_id)
        await in_db_thread(conversation_broadcast)(conversation_id=self.conversation.pk, message=message)

    async def on_feedback(self, content: dict) -> None:
        message_id = content.get("message_id")
        if not isinstance(message_id, int):
            raise ChatError("malformed_frame", "message_id must be an integer")
        rating = await in_db_thread(feedback_record)(
            message_id=message_id,
            conversation_id=self.conversation.pk,
            visitor_id=self.visitor_id,
            rating=str(content.get("rating", "")),
            reason=str(content.get("reason") or ""),
            comment=str(content.get("comment") or ""),
        )
        await self.send_json({"type": "feedback_saved", "message_id": message_id, "rating": rating.value})

    async def on_escalate(self, content: dict) -> None:
        reason = content.get("reason") if content.get("reason") == "visitor_request" else "visitor_button"
        await self._escalate(reason)

    async def _escalate(self, reason: str) -> None:
        event = await in_db_thread(services.conversation_escalate)(conversation=self.conversation, reason=reason)
        await self.send_json(event)

    async def on_contact(self, content: dict) -> None:
        reference = await in_db_thread(services.contact_leave)(
            conversation=self.conversation, email=str(content.get("email", "")).strip()
        )
        await self.send_json({"type": "ticket", "reference": reference})

    async def on_ping(self, content: dict) -> None:
        await self.send_json({"type": "pong"})

    async def chat_notice(self, event: dict) -> None:
        """A note from the support side (an agent joined, the bot is back, the conversation closed)."""
        await self.send_json({"type": "notice", "text": event["text"]})

    async def agent_message(self, event: dict) -> None:
        """An agent's reply, delivered through the channel layer to the visitor's socket."""
        await self.send_json({"type": "agent_message", "text": event["text"], "agent": event["agent"]})
