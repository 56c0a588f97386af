"""The visitor's websocket (/ws/chat/?key=WIDGET_KEY&visitor=ID&token=TOKEN&conversation=ID).

Routes each frame on its "type" to a small handler; the work happens in services and the answering pipeline.
A bad frame gets an error frame and the connection (and conversation) carry on. Connecting takes a session token
from POST /api/widget/session (supportbot/chat/tokens.py); rate limits and the daily token budget are in
supportbot/chat/limits.py.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import transaction
from django.utils import translation

from feedback.services import FeedbackError, feedback_record
from supportbot.chat import chat_metrics, limits, recovery, services
from supportbot.chat.dbthreads import in_db_thread
from supportbot.chat.llm import llm_configured
from supportbot.chat.models import Conversation, Message, Widget
from supportbot.chat.services import ChatError
from supportbot.chat.takeover import conversation_broadcast_async
from supportbot.chat.tokens import TokenError, session_token_check
from supportbot.chat.visitor_language import frame_language, language_supported
from supportbot.guards.input_guard import InputVerdict
from supportbot.logcontext import conversation_id_var, request_id_new, request_id_var
from supportbot.metrics import ANSWER_FIRST_TOKEN_SECONDS, ANSWER_SECONDS

logger = logging.getLogger(__name__)
CLOSE_UNKNOWN_WIDGET, CLOSE_ORIGIN_REFUSED = 4404, 4403
CLOSE_TOKEN_REFUSED, CLOSE_RATE_LIMITED = 4401, 4429
ROUTE = "chat"


@dataclass
class Intake:
    """A visitor's message after the rate limits, the input guard and storage."""

    refusal: limits.Refusal | None = None
    question: Message | None = None
    created: bool = False
    verdict: InputVerdict | None = None
    payload: dict = field(default_factory=dict)
    budget: limits.Refusal | None = None  # the widget's daily token budget is spent
    reply: Message | None = None  # the bot's reply, stored with the question: the guard's, or pending an answer
    escalate: bool = False  # the guard's reply hands the conversation to a human


class ChatConsumer(AsyncJsonWebsocketConsumer):
    conversation: Conversation | None = None
    widget: Widget | None = None
    spoken_language: str = ""  # the language of the visitor's last message
    frame_stored = False  # whether the frame being handled is a message that is stored (frames go one by one)
    resumed = False  # the visitor came back to a conversation (it may have replies left unfinished)

    async def connect(self) -> None:
        params = {k: v[0] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        headers = {k.decode().lower(): v.decode() for k, v in self.scope.get("headers", [])}
        request_id_var.set(request_id_new())
        await self.accept()
        origin = headers.get("origin", "")
        authorized = await self._authorized_widget(params, origin=origin, host=headers.get("host", ""))
        if authorized is None:
            return
        # The visitor is the one the token was issued to (a server-issued id), never the query string's word.
        widget, self.visitor_id = authorized
        self.widget = widget
        self.address = limits.client_address(self.scope)
        self.conversation = await self._conversation_open(params.get("conversation", ""), origin=origin)
        if self.conversation is None:
            return
        conversation_id_var.set(str(self.conversation.pk))
        await self._group_join()
        # Replies left unfinished (the last connection closed mid-answer, or its server died) are answered before
        # the transcript goes out, and sent again after it for a widget that keeps the transcript it has.
        recovered = await recovery.answers_recover(conversation=self.conversation) if self.resumed else []
        await self.send_json(await in_db_thread(self._session)(widget))
        for frame in recovered:
            await self.send_json(frame)
        chat_metrics.socket_opened(ROUTE)
        recovery.sweeper_ensure()

    async def _group_join(self) -> None:
        """Agents' messages come through the channel layer; with it down the visitor still talks to the bot."""
        try:
            await self.channel_layer.group_add(self._group, self.channel_name)
        except Exception:  # noqa: BLE001 — Redis away: no live agent messages until the next connection
            logger.warning("channel layer: could not join %s", self._group, exc_info=True)

    async def _conversation_open(self, conversation_id: str, *, origin: str) -> Conversation | None:
        """The visitor's open conversation, or a new one unless that is over an hourly limit (then refused)."""
        conversation = await in_db_thread(services.conversation_resume)(
            widget=self.widget, visitor_id=self.visitor_id, conversation_id=conversation_id
        )
        if conversation is not None:
            self.resumed = True
            return conversation  # coming back to a conversation never counts against the limits
        refusal = await in_db_thread(limits.hits_take)(
            "conversations", widget=self.widget, visitor_id=self.visitor_id, address=self.address
        )
        if refusal is not None:
            await self._refuse_with(refusal.frame(), CLOSE_RATE_LIMITED)
            return None
        return await in_db_thread(services.conversation_start)(
            widget=self.widget, visitor_id=self.visitor_id, origin=origin
        )

    async def _authorized_widget(self, params: dict, *, origin: str, host: str) -> tuple[Widget, str] | None:
        """The widget and the token's visitor, when the key is known, the page's origin is allowed and the session
        token fits."""
        widget = await in_db_thread(services.widget_for_key)(params.get("key", ""))
        if widget is None:
            await self._refuse("unknown_widget", "no widget has this key", CLOSE_UNKNOWN_WIDGET)
            return None
        if not services.origin_allowed(widget, origin=origin, host=host):
            await self._refuse("origin_not_allowed", "this website may not use this widget", CLOSE_ORIGIN_REFUSED)
            return None
        try:
            visitor_id = session_token_check(
                params.get("token", ""), widget_key=widget.key, origin=origin, visitor_id=params.get("visitor", "")
            )
        except TokenError as exc:
            await self._refuse(exc.code, exc.detail, CLOSE_TOKEN_REFUSED)
            return None
        return widget, visitor_id

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
        await self._refuse_with({"type": "error", "code": code, "detail": detail}, close_code)

    async def _refuse_with(self, frame: dict, close_code: int) -> None:
        chat_metrics.socket_refused(ROUTE, frame["code"])
        await self.send_json(frame)
        await self.close(code=close_code)

    async def disconnect(self, code: int) -> None:
        if self.conversation is not None:
            chat_metrics.socket_closed(ROUTE)
            try:
                await self.channel_layer.group_discard(self._group, self.channel_name)
            except Exception:  # noqa: BLE001 — Redis away: its group expiry forgets this channel
                logger.warning("channel layer: could not leave %s", self._group, exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        if self.conversation is None:
            return
        # Every log line while this frame is handled names the conversation and the frame.
        conversation_id_var.set(str(self.conversation.pk))
        request_id_var.set(request_id_new())
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
        language = frame_language(content, page=self._page_language, spoken=self.spoken_language)
        if content.get("type") == "message":
            self.spoken_language = language
        self.frame_stored = False
        try:
            with translation.override(language):
                await handler(content)
        except (ChatError, FeedbackError) as exc:
            await self._error(exc.code, exc.detail)
        except Exception:  # noqa: BLE001 — the visitor gets a clear error, the connection survives
            logger.exception("chat frame failed in conversation %s", self.conversation.pk)
            await self._error_internal(content)

    @property
    def _page_language(self) -> str:
        """The widget's language, `lang` in the socket URL (its page's, or the browser's)."""
        params = parse_qs(self.scope.get("query_string", b"").decode())
        return language_supported(params.get("lang", [""])[0])

    async def _error_internal(self, content: dict) -> None:
        """Say whether the visitor's message is safe: a message is kept once "received" was sent for it (the
        widget resends what was never acknowledged, and puts a message refused with stored=false back)."""
        client_id = content.get("client_id") if isinstance(content.get("client_id"), str) else ""
        if content.get("type") != "message" or self.frame_stored:
            await self._error("internal_error", "something went wrong on our side; your message was kept")
            return
        frame = {"type": "error", "code": "internal_error", "stored": False, "client_id": client_id}
        await self.send_json({**frame, "detail": "something went wrong on our side; please send your message again"})

    async def _error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    async def on_message(self, content: dict) -> None:
        text, client_id = content.get("text"), content.get("client_id", "")
        if not isinstance(text, str) or not isinstance(client_id, str):
            raise ChatError("malformed_frame", "text must be a string")
        if self.conversation.status == Conversation.Status.CLOSED:
            raise ChatError("conversation_closed", "this conversation is closed; reload to start a new one")
        # One trip to a worker thread up to the acknowledgement: under load every trip back to the event loop
        # waits behind the other conversations' work, and this is all before the visitor's first word.
        intake = await in_db_thread(self._intake)(text, client_id)
        if intake.refusal is not None:  # refused before anything was stored: the widget puts the text back
            await self.send_json(intake.refusal.frame(client_id=client_id))
            return
        question, verdict = intake.question, intake.verdict
        stored_at = time.perf_counter()
        await self.send_json({"type": "received", "message_id": question.pk, "client_id": client_id})
        self.frame_stored = True
        if not intake.created:
            return  # a retried frame: already stored (and answered, or being answered)
        chat_metrics.message_count(Message.Role.VISITOR)
        chat_metrics.guard_trips_count(question.guard_results)
        await conversation_broadcast_async(self.channel_layer, self.conversation.pk, intake.payload)
        if self.conversation.assigned_agent_id:
            return  # an agent holds the conversation: the bot stays silent
        if verdict.action != "allow":
            await self._guard_reply(intake.reply, verdict, stored_at, escalate=intake.escalate)
        elif intake.reply is None:  # the visitor asked for a human: the escalation is the reply
            await self.on_escalate({"reason": "visitor_request"})
        else:
            await self._answer(question, intake.reply, stored_at, budget=intake.budget)

    def _intake(self, text: str, client_id: str) -> Intake:
        """Rate limits, then the input guard and storage; what the rest of the turn needs to know."""
        refusal = limits.hits_take("messages", widget=self.widget, visitor_id=self.visitor_id, address=self.address)
        if refusal is not None:
            return Intake(refusal=refusal)
        with transaction.atomic():  # the question and the reply it is owed are stored together, or neither is
            question, created, verdict = services.visitor_message_receive(
                conversation=self.conversation, text=text, client_id=client_id
            )
            intake = Intake(question=question, created=created, verdict=verdict)
            if created:
                self.conversation.refresh_from_db(fields=["status", "assigned_agent"])
                intake.reply, intake.escalate = services.reply_owed(
                    conversation=self.conversation, question=question, verdict=verdict
                )
        if created:
            intake.payload = services.message_payload(question)
            if verdict.action == "allow" and not self.conversation.assigned_agent_id:
                intake.budget = limits.budget_refusal(self.widget, visitor_id=self.visitor_id, address=self.address)
        return intake

    async def _answer(self, question, bot: Message, stored_at: float, *, budget: limits.Refusal | None) -> None:
        # Over the daily token budget the visitor is told, and still answered: from the articles, without the LLM.
        if budget is not None:
            await self.send_json(budget.frame())
        use_llm = budget is None
        first_token = True
        # It ends with the answer or with an apology and a human; closed early (the visitor left and Channels
        # cancels this handler), it hands the reply to recovery.
        events = recovery.answer_events(conversation=self.conversation, question=question, bot=bot, use_llm=use_llm)
        async with aclosing(events):
            async for event in events:
                escalate = event.pop("escalate", False)
                from_cache = event.pop("from_cache", None)
                if event["type"] == "token" and first_token:
                    first_token = False
                    ANSWER_FIRST_TOKEN_SECONDS.observe(time.perf_counter() - stored_at)
                if event["type"] != "answer":
                    await self.send_json(event)
                    continue
                await self._answer_send(event)
                path = "cache" if from_cache else ("llm" if use_llm and llm_configured() else "offline")
                ANSWER_SECONDS.labels(path=path).observe(time.perf_counter() - stored_at)
                if escalate:
                    await self._escalate(escalate if isinstance(escalate, str) else "low_confidence")

    async def _guard_reply(self, bot: Message, verdict, stored_at: float, *, escalate: bool) -> None:
        """The input guard's reply, stored with the question (_intake)."""
        event = services.message_payload(bot)
        await self._answer_send({"type": "answer", **{k: v for k, v in event.items() if k != "role"}}, guard=True)
        ANSWER_SECONDS.labels(path="guard").observe(time.perf_counter() - stored_at)
        if escalate:
            await self._escalate(f"guard:{verdict.reason}")

    async def _answer_send(self, event: dict, *, guard: bool = False) -> None:
        """Count the stored answer's tokens (before the next question may spend the budget), send it to the
        visitor, and only then show it to watching agents: the channel layer never holds up or loses an answer.
        Count its guard trips too; a guard's reply repeats the question's, which were counted with the question."""
        try:
            message, payload, tokens = await in_db_thread(self._answer_record)(event["message_id"])
        except Exception:  # noqa: BLE001 — a store or counter away must never withhold the answer
            logger.exception("could not count answer %s", event["message_id"])
            await self.send_json(event)
            return
        await self.send_json(event)
        await conversation_broadcast_async(self.channel_layer, self.conversation.pk, payload)
        chat_metrics.message_count(Message.Role.BOT)
        if not guard:
            chat_metrics.guard_trips_count(message.guard_results)
        logger.info("answered message %s (%s, %s tokens)", message.pk, message.model or "no model", tokens)

    def _answer_record(self, message_id: int) -> tuple[Message, dict, int]:
        message = Message.objects.get(pk=message_id)
        tokens = (message.prompt_tokens or 0) + (message.completion_tokens or 0)
        if tokens and not message.from_cache:
            limits.tokens_record(
                widget_id=self.widget.pk, tokens=tokens, visitor_id=self.visitor_id, address=self.address
            )
        return message, services.message_payload(message), tokens

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

    async def chat_frame(self, event: dict) -> None:
        """A frame for the visitor from background work: the sweep's answer to a question left unanswered."""
        await self.send_json(event["frame"])

    async def agent_message(self, event: dict) -> None:
        """An agent's reply, delivered through the channel layer to the visitor's socket."""
        await self.send_json({"type": "agent_message", "text": event["text"], "agent": event["agent"]})
