"""Conversations: widgets and their origins, storing messages, escalation to a human, contact details."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from feedback.models import Rating
from supportbot.chat.answer_states import answer_pending_create
from supportbot.chat.broadcasts import AGENTS_GROUP, broadcast
from supportbot.chat.escalation import escalation_reason, wants_human
from supportbot.chat.models import AgentPresence, Conversation, Message, Widget
from supportbot.errors import DomainError
from supportbot.guards.input_guard import CLOSED_FOR_ABUSE, InputVerdict, input_check


class ChatError(DomainError):
    """Becomes an error frame; the connection stays open."""


def widget_for_key(key: str) -> Widget | None:
    return Widget.objects.filter(key=key).first() if key else None


def origin_allowed(widget: Widget, *, origin: str, host: str) -> bool:
    """The page's origin must be listed on the widget; "self" stands for Supportbot's own pages."""
    if not origin:
        return False
    allowed = {o.rstrip("/").lower() for o in widget.allowed_origins}
    if origin.rstrip("/").lower() in allowed or "*" in allowed:
        return True
    return "self" in allowed and urlsplit(origin).netloc.lower() == host.lower()


def conversation_open(*, widget: Widget, visitor_id: str, conversation_id: str = "", origin: str = "") -> Conversation:
    """Resume the visitor's conversation when the id is theirs and still open, else start a new one."""
    existing = conversation_resume(widget=widget, visitor_id=visitor_id, conversation_id=conversation_id)
    return existing or conversation_start(widget=widget, visitor_id=visitor_id, origin=origin)


def conversation_resume(*, widget: Widget, visitor_id: str, conversation_id: str) -> Conversation | None:
    """The visitor's conversation with this id when it is theirs and still open."""
    if not _is_uuid(conversation_id):
        return None
    existing = (
        Conversation.objects.filter(pk=conversation_id, widget=widget, visitor_id=visitor_id)
        .select_related("widget")  # every turn reads the widget (guard, limits, budget): once per conversation
        .first()
    )
    return existing if existing and existing.status != Conversation.Status.CLOSED else None


def conversation_start(*, widget: Widget, visitor_id: str, origin: str = "") -> Conversation:
    return Conversation.objects.create(widget=widget, visitor_id=visitor_id, origin=origin[:300])


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def visitor_transcript(conversation: Conversation, *, limit: int = 100) -> list[dict]:
    """The messages a visitor sees when they come back, with the ratings they gave."""
    shown = conversation.messages.shown().select_related("agent")
    messages = list(shown.order_by("-created_at", "-pk")[:limit])[::-1]
    ratings = dict(
        Rating.objects.filter(message__in=messages, visitor_id=conversation.visitor_id).values_list(
            "message_id", "value"
        )
    )
    payloads = [message_payload(m) for m in messages]
    for payload in payloads:
        if payload["message_id"] in ratings:
            payload["rating"] = ratings[payload["message_id"]]
    return payloads


def message_payload(message: Message) -> dict:
    """A message as the widget and the consoles show it: the one serialiser (answer_frame is it, as a frame)."""
    payload = {"message_id": message.pk, "role": message.role, "text": message.text}
    if message.role == Message.Role.BOT:
        payload.update(
            citations=[{k: c[k] for k in ("n", "title", "url", "snippet")} for c in message.citations],
            confidence=message.confidence,
            confidence_label=message.confidence_label,
            escalation_offered=message.escalation_offered,
        )
    if message.role == Message.Role.AGENT:
        payload["agent"] = _agent_name(message)
    return payload


def answer_frame(reply: Message) -> dict:
    """The visitor's frame for a bot reply as stored."""
    payload = message_payload(reply)
    del payload["role"]
    return {"type": "answer", **payload}


def _agent_name(message: Message) -> str:
    user = message.agent
    return (user.get_short_name() or user.get_username()) if user else str(_("Agent"))


def visitor_message_store(*, conversation: Conversation, text: str, client_id: str = "") -> tuple[Message, bool]:
    """Store the visitor's words before anything else happens to them. A retried frame returns the first copy."""
    text = text.strip()
    if not text:
        raise ChatError("empty_message", "the message is empty")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError("message_too_long", f"messages are limited to {settings.CHAT_MAX_MESSAGE_CHARS} characters")
    client_id = client_id[:64]
    if client_id:
        existing = conversation.messages.filter(client_id=client_id).first()
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation, role=Message.Role.VISITOR, text=text, client_id=client_id
            )
    except IntegrityError:
        return conversation.messages.get(client_id=client_id), False
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return message, True


def visitor_message_receive(
    *, conversation: Conversation, text: str, client_id: str = ""
) -> tuple[Message, bool, InputVerdict]:
    """The input guard, then storage: only the guarded (redacted) text is ever stored or sent on."""
    if not text.strip():
        raise ChatError("empty_message", "the message is empty")
    widget = conversation.widget
    topics, vector = _topic_vectors(widget, text)
    verdict = input_check(text=text, widget=widget, topic_vectors=topics, message_vector=vector)
    if verdict.action == "limit":
        raise ChatError("message_too_long", f"messages are limited to {settings.CHAT_MAX_MESSAGE_CHARS} characters")
    message, created = visitor_message_store(conversation=conversation, text=verdict.text, client_id=client_id)
    if created and verdict.events:
        message.guard_results = [*verdict.events, *([{"redacted": verdict.redacted}] if verdict.redacted else [])]
        message.save(update_fields=["guard_results"])
    return message, created, verdict


def _topic_vectors(widget: Widget, text: str):
    if not widget.allowed_topics:
        return None, None
    from kb.embeddings import embedder

    vectors = embedder().embed([*widget.allowed_topics, text])
    return vectors[:-1], vectors[-1]


def guard_reply(*, conversation: Conversation, question: Message, verdict: InputVerdict) -> Message:
    """Answer a declined or redirected message without a model (whether it escalates: escalation.py)."""
    reply = verdict.reply
    if verdict.reason == "abusive_language":
        conversation.abuse_count += 1
        if conversation.abuse_count >= settings.CHAT_ABUSE_LIMIT:
            conversation.status = Conversation.Status.CLOSED
            reply = str(CLOSED_FOR_ABUSE)
        conversation.save(update_fields=["abuse_count", "status", "updated_at"])
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.BOT,
        text=reply,
        reply_to=question,
        confidence=0.0,
        confidence_label="low",
        guard_results=[e for e in verdict.events if e["outcome"] == "fail"],
        model="guard",
    )


def reply_owed(
    *, conversation: Conversation, question: Message, verdict: InputVerdict, human_request_on: bool = True
) -> Message | None:
    """The bot's reply to a question just stored, stored in the same transaction, so that an acknowledged question
    always has one: the input guard's reply at once, or a reply pending the answering pipeline. None when the bot
    does not reply: an agent holds the conversation, or the visitor asked for a human (the escalation answers)."""
    if conversation.assigned_agent_id:
        return None
    if verdict.action != "allow":
        return guard_reply(conversation=conversation, question=question, verdict=verdict)
    if human_request_on and wants_human(question.text):
        return None
    return answer_pending_create(conversation=conversation, question=question)


def agents_online() -> bool:
    fresh = timezone.now() - timedelta(seconds=settings.CHAT_AGENT_PRESENCE_SECONDS)
    return AgentPresence.objects.filter(last_seen__gte=fresh).exists()


def conversation_escalate(*, conversation: Conversation, reason: str) -> dict:
    """Hand the conversation to humans: status, a note in the transcript, an event to every agent console."""
    online = agents_online()
    if conversation.status != Conversation.Status.ESCALATED:
        conversation.status = Conversation.Status.ESCALATED
        conversation.escalation_reason = reason
        conversation.save(update_fields=["status", "escalation_reason", "updated_at"])
    note = str(
        _("An agent has been notified and will join this conversation shortly.")
        if online
        else _("No agent is online right now. Leave your email address and we will reply to you there.")
    )
    Message.objects.create(conversation=conversation, role=Message.Role.SYSTEM, text=note)
    event = {"type": "conversation.escalated", "conversation_id": str(conversation.pk), "reason": reason}
    broadcast(AGENTS_GROUP, event)  # once the escalation commits
    return {"type": "escalated", "reason": reason, "agents_online": online, "detail": note}


def conversation_escalate_if_due(
    *, conversation: Conversation, reply: Message | None, verdict: InputVerdict | None = None, ours: bool = True
) -> dict | None:
    """Escalate when the turn that ended with `reply` calls for it (escalation.escalation_reason): the escalated
    frame, or None."""
    reason = escalation_reason(conversation=conversation, reply=reply, verdict=verdict, ours=ours)
    return conversation_escalate(conversation=conversation, reason=reason) if reason else None


def contact_leave(*, conversation: Conversation, email: str) -> str:
    """Keep the visitor's email for a reply and give them a ticket reference."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    try:
        validate_email(email)
    except ValidationError as exc:
        raise ChatError("invalid_email", "that does not look like an email address") from exc
    if not conversation.ticket_reference:
        conversation.ticket_reference = "SB-" + secrets.token_hex(3).upper()
    conversation.contact_email = email
    conversation.save(update_fields=["contact_email", "ticket_reference", "updated_at"])
    return conversation.ticket_reference


def widget_ensure_demo() -> Widget:
    """The widget of the demo page: key "demo", open to pages that Supportbot serves itself."""
    widget, _ = Widget.objects.get_or_create(
        key="demo", defaults={"name": "Demo help centre", "allowed_origins": ["self"], "title": "Supportbot help"}
    )
    return widget
