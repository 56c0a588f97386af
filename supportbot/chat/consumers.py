"""The visitor's websocket (/ws/chat/?key=WIDGET_KEY&visitor=ID&token=TOKEN&conversation=ID).

Routes each frame on its "type" to one service and forwards what it returns: a message to the turn
(supportbot/chat/turn.py), which yields every frame of the visitor's turn. Opening the connection is
supportbot/chat/session.py. A bad frame gets an error frame and the connection (and conversation) carry on.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import translation

from feedback.services import FeedbackError
from supportbot.chat import chat_metrics, recovery
from supportbot.chat import session as sessions
from supportbot.chat.dbthreads import in_db_thread
from supportbot.chat.services import ChatError
from supportbot.chat.session import Session
from supportbot.chat.turn import turn_run
from supportbot.chat.visitor_language import frame_language, language_supported
from supportbot.client_address import client_address
from supportbot.logs import conversation_id_var, request_id_new, request_id_var

logger = logging.getLogger(__name__)
ROUTE = "chat"
FRAME_TYPES = ("message", "feedback", "escalate", "contact", "ping")  # each handled by on_<type>


class ChatConsumer(AsyncJsonWebsocketConsumer):
    session: Session | None = None
    page_language: str = ""  # the widget's language, `lang` in the socket URL (its page's, or the browser's)
    spoken_language: str = ""  # the language of the visitor's last message
    frame_stored = False  # whether the frame being handled is a message that is stored (frames go one by one)

    async def connect(self) -> None:
        params = {k: v[0] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        headers = {k.decode().lower(): v.decode() for k, v in self.scope.get("headers", [])}
        request_id_var.set(request_id_new())
        await self.accept()
        address = client_address(self.scope)
        try:
            session = await in_db_thread(sessions.session_open)(
                params=params, origin=headers.get("origin", ""), host=headers.get("host", ""), address=address
            )
        except sessions.SessionRefused as refused:
            chat_metrics.socket_refused(ROUTE, refused.frame["code"])
            await self.send_json(refused.frame)
            await self.close(code=refused.close_code)
            return
        self.session, self.page_language = session, language_supported(params.get("lang", ""))
        conversation_id_var.set(str(session.conversation.pk))
        await sessions.group_join(self.channel_layer, session=session, channel_name=self.channel_name)
        # Replies left unfinished (the last connection closed mid-answer, or its server died) are answered before
        # the transcript goes out, and sent again after it for a widget that keeps the transcript it has.
        recovered = await recovery.answers_recover(conversation=session.conversation) if session.resumed else []
        await self.send_json(await in_db_thread(sessions.session_frame)(session))
        for frame in recovered:
            await self.send_json(frame)
        chat_metrics.socket_opened(ROUTE)
        recovery.sweeper_ensure()

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            chat_metrics.socket_closed(ROUTE)
            await sessions.group_leave(self.channel_layer, session=self.session, channel_name=self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if self.session is None:
            return
        # Every log line while this frame is handled names the conversation and the frame.
        conversation_id_var.set(str(self.session.conversation.pk))
        request_id_var.set(request_id_new())
        try:
            content = sessions.frame_parse(text_data)
        except ChatError as exc:
            await self._error(exc.code, exc.detail)
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        handler = getattr(self, f"on_{content.get('type')}", None) if content.get("type") in FRAME_TYPES else None
        if handler is None:
            await self._error("unknown_type", 'type must be "message", "feedback", "escalate" or "contact"')
            return
        language = frame_language(content, page=self.page_language, spoken=self.spoken_language)
        if content.get("type") == "message":
            self.spoken_language = language
        self.frame_stored = False
        try:
            with translation.override(language):
                await handler(content)
        except (ChatError, FeedbackError) as exc:
            await self._error(**exc.as_dict())
        except Exception:  # noqa: BLE001 — the visitor gets a clear error, the connection survives
            logger.exception("chat frame failed in conversation %s", self.session.conversation.pk)
            await self.send_json(sessions.internal_error_frame(content, stored=self.frame_stored))

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    async def on_message(self, content: dict) -> None:
        session = self.session
        frames = turn_run(
            conversation=session.conversation,
            text=content.get("text"),
            client_id=content.get("client_id", ""),
            visitor_id=session.visitor_id,
            address=session.address,
        )
        async with aclosing(frames):
            async for frame in frames:
                await self.send_json(frame)
                self.frame_stored = self.frame_stored or frame["type"] == "received"

    async def on_feedback(self, content: dict) -> None:
        await self.send_json(await in_db_thread(sessions.feedback_frame)(session=self.session, content=content))

    async def on_escalate(self, content: dict) -> None:
        await self.send_json(await in_db_thread(sessions.escalate_frame)(session=self.session, content=content))

    async def on_contact(self, content: dict) -> None:
        await self.send_json(await in_db_thread(sessions.contact_frame)(session=self.session, content=content))

    async def on_ping(self, content: dict) -> None:
        await self.send_json({"type": "pong"})

    async def chat_notice(self, event: dict) -> None:
        """A note from the support side (an agent joined, the bot is back, the conversation closed)."""
        # With the conversation's status: a closed one is when the widget asks for its CSAT rating (issue #15).
        status = await in_db_thread(sessions.conversation_status)(self.session)
        await self.send_json({"type": "notice", "text": event["text"], "status": status})

    async def chat_frame(self, event: dict) -> None:
        """A frame for the visitor from background work: the sweep's answer to a question left unanswered."""
        await self.send_json(event["frame"])

    async def agent_message(self, event: dict) -> None:
        """An agent's reply, delivered through the channel layer to the visitor's socket."""
        await self.send_json({"type": "agent_message", "text": event["text"], "agent": event["agent"]})
