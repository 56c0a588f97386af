"""The visitor's side of a chat connection: who may open one, on which conversation, and what they see first.

A connection needs a known widget key, a page origin the widget allows and a session token issued for both
(supportbot/chat/tokens.py); a new conversation also counts against the hourly limits (supportbot/chat/limits.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings

from feedback.csat import csat_prompt
from feedback.services import feedback_record
from supportbot.chat import limits, services
from supportbot.chat.broadcasts import conversation_group
from supportbot.chat.models import Conversation, Widget
from supportbot.chat.services import ChatError
from supportbot.chat.tokens import TokenError, session_token_check

logger = logging.getLogger(__name__)
CLOSE_UNKNOWN_WIDGET, CLOSE_ORIGIN_REFUSED = 4404, 4403
CLOSE_TOKEN_REFUSED, CLOSE_RATE_LIMITED = 4401, 4429


@dataclass(frozen=True)
class Session:
    widget: Widget
    visitor_id: str  # the one the token was issued to (a server-issued id), never the query string's word
    address: str
    conversation: Conversation
    resumed: bool  # the visitor came back to a conversation (it may have replies left unfinished)


class SessionRefused(Exception):
    """The connection is refused: the error frame to send, then the close code."""

    def __init__(self, frame: dict, close_code: int):
        super().__init__(frame["code"])
        self.frame, self.close_code = frame, close_code


def session_open(*, params: dict, origin: str, host: str, address: str) -> Session:
    """The widget, the token's visitor and their conversation: the one in `params` when it is theirs and open
    (coming back never counts against the limits), else a new one unless that is over an hourly limit."""
    widget = services.widget_for_key(params.get("key", ""))
    if widget is None:
        raise _refused("unknown_widget", "no widget has this key", CLOSE_UNKNOWN_WIDGET)
    if not services.origin_allowed(widget, origin=origin, host=host):
        raise _refused("origin_not_allowed", "this website may not use this widget", CLOSE_ORIGIN_REFUSED)
    try:
        visitor_id = session_token_check(
            params.get("token", ""), widget_key=widget.key, origin=origin, visitor_id=params.get("visitor", "")
        )
    except TokenError as exc:
        raise _refused(exc.code, exc.detail, CLOSE_TOKEN_REFUSED) from exc
    conversation = services.conversation_resume(
        widget=widget, visitor_id=visitor_id, conversation_id=params.get("conversation", "")
    )
    if conversation is not None:
        return Session(widget, visitor_id, address, conversation, resumed=True)
    if refusal := limits.hits_take("conversations", widget=widget, visitor_id=visitor_id, address=address):
        raise SessionRefused(refusal.frame(), CLOSE_RATE_LIMITED)
    conversation = services.conversation_start(widget=widget, visitor_id=visitor_id, origin=origin)
    return Session(widget, visitor_id, address, conversation, resumed=False)


def _refused(code: str, detail: str, close_code: int) -> SessionRefused:
    return SessionRefused({"type": "error", "code": code, "detail": detail}, close_code)


async def group_join(layer, *, session: Session, channel_name: str) -> None:
    """Agents' messages come through the channel layer; with it down the visitor still talks to the bot."""
    group = conversation_group(session.conversation.pk)
    try:
        await layer.group_add(group, channel_name)
    except Exception:  # noqa: BLE001 — Redis away: no live agent messages until the next connection
        logger.warning("channel layer: could not join %s", group, exc_info=True)


async def group_leave(layer, *, session: Session, channel_name: str) -> None:
    group = conversation_group(session.conversation.pk)
    try:
        await layer.group_discard(group, channel_name)
    except Exception:  # noqa: BLE001 — Redis away: its group expiry forgets this channel
        logger.warning("channel layer: could not leave %s", group, exc_info=True)


def session_frame(session: Session) -> dict:
    """The first frame: the conversation, the widget's look and the transcript so far."""
    widget, conversation = session.widget, session.conversation
    return {
        "type": "session",
        "conversation_id": str(conversation.pk),
        "visitor_id": session.visitor_id,
        "status": conversation.status,
        "agents_online": services.agents_online(),
        "widget": {"title": widget.title, "greeting": widget.greeting, "accent_color": widget.accent_color},
        "messages": services.visitor_transcript(conversation),
        # CSAT (issue #15): when the widget asks for the end-of-conversation rating, and whether it was given.
        "csat": csat_prompt(conversation=conversation),
    }


def conversation_status(session: Session) -> str:
    """The conversation's status now (an agent may have closed it since the session opened)."""
    return Conversation.objects.values_list("status", flat=True).get(pk=session.conversation.pk)


def frame_parse(text_data: str | None) -> dict:
    """A frame from the visitor's socket as a JSON object, or a ChatError saying what is wrong with it."""
    if text_data is None or len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
        detail = "frames must be JSON text" if text_data is None else "the frame is too large"
        raise ChatError("frame_too_large" if text_data else "malformed_frame", detail)
    try:
        content = json.loads(text_data)
    except ValueError as exc:
        raise ChatError("malformed_frame", "the frame is not valid JSON") from exc
    if not isinstance(content, dict):
        raise ChatError("malformed_frame", "the frame must be a JSON object")
    return content


def feedback_frame(*, session: Session, content: dict) -> dict:
    """A visitor's rating of a bot reply, stored (feedback.services.feedback_record)."""
    message_id = content.get("message_id")
    if not isinstance(message_id, int):
        raise ChatError("malformed_frame", "message_id must be an integer")
    rating = feedback_record(
        message_id=message_id,
        conversation_id=session.conversation.pk,
        visitor_id=session.visitor_id,
        rating=str(content.get("rating", "")),
        reason=str(content.get("reason") or ""),
        comment=str(content.get("comment") or ""),
    )
    return {"type": "feedback_saved", "message_id": message_id, "rating": rating.value}


def escalate_frame(*, session: Session, content: dict) -> dict:
    """The visitor's "Talk to a human" (or the widget's words for it): the conversation goes to a human."""
    reason = content.get("reason") if content.get("reason") == "visitor_request" else "visitor_button"
    return services.conversation_escalate(conversation=session.conversation, reason=reason)


def contact_frame(*, session: Session, content: dict) -> dict:
    """The visitor's email for a reply, and their ticket reference."""
    email = str(content.get("email", "")).strip()
    return {"type": "ticket", "reference": services.contact_leave(conversation=session.conversation, email=email)}


def internal_error_frame(content: dict, *, stored: bool) -> dict:
    """Say whether the visitor's message is safe: a message is kept once "received" was sent for it (the widget
    resends what was never acknowledged, and puts a message refused with stored=false back)."""
    if content.get("type") != "message" or stored:
        return {
            "type": "error",
            "code": "internal_error",
            "detail": "something went wrong on our side; your message was kept",
        }
    client_id = content.get("client_id") if isinstance(content.get("client_id"), str) else ""
    detail = "something went wrong on our side; please send your message again"
    return {"type": "error", "code": "internal_error", "stored": False, "client_id": client_id, "detail": detail}
