"""Humans in the conversation: agents take over, reply, hand back to the bot or close; their presence is
tracked; every change is broadcast to agent consoles and the visitor's widget once it commits (broadcasts.py,
which names the groups).
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from supportbot.chat.broadcasts import broadcast, conversation_broadcast, conversation_group
from supportbot.chat.models import AgentPresence, Conversation, Message
from supportbot.chat.services import ChatError, message_payload


def _notice(conversation: Conversation, text: str) -> Message:
    message = Message.objects.create(conversation=conversation, role=Message.Role.SYSTEM, text=text)
    # What was stored stands when the channel layer is down: the visitor and consoles see it when they reconnect.
    broadcast(conversation_group(conversation.pk), {"type": "chat.notice", "text": text})
    conversation_broadcast(conversation_id=conversation.pk, payload=message_payload(message))
    return message


def _held(conversation_id, agent) -> Conversation:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise ChatError("unknown_conversation", "no such conversation")
    if conversation.assigned_agent_id and conversation.assigned_agent_id != agent.pk:
        raise ChatError("held_by_another_agent", "another agent holds this conversation")
    return conversation


def conversation_take_over(*, conversation_id, agent) -> Conversation:
    conversation = _held(conversation_id, agent)
    if conversation.status == Conversation.Status.CLOSED:
        raise ChatError("conversation_closed", "this conversation is closed")
    # Conditional update: of two agents clicking at once, one wins.
    won = (
        Conversation.objects.filter(pk=conversation.pk)
        .filter(Q(assigned_agent__isnull=True) | Q(assigned_agent=agent))
        .update(assigned_agent=agent, status=Conversation.Status.ESCALATED, updated_at=timezone.now())
    )
    if not won:
        raise ChatError("held_by_another_agent", "another agent holds this conversation")
    conversation.refresh_from_db()
    _notice(conversation, f"{agent.get_short_name() or agent.get_username()} from support has joined the chat.")
    return conversation


def agent_reply(*, conversation_id, agent, text: str) -> Message:
    text = text.strip()
    if not text:
        raise ChatError("empty_message", "the reply is empty")
    conversation = _held(conversation_id, agent)
    if conversation.assigned_agent_id != agent.pk:
        raise ChatError("not_taken_over", "take the conversation over before replying")
    message = Message.objects.create(conversation=conversation, role=Message.Role.AGENT, text=text, agent=agent)
    name = agent.get_short_name() or agent.get_username()
    broadcast(conversation_group(conversation.pk), {"type": "agent.message", "text": text, "agent": name})
    conversation_broadcast(conversation_id=conversation.pk, payload=message_payload(message))
    return message


def conversation_hand_back(*, conversation_id, agent) -> Conversation:
    return _release(conversation_id, agent, Conversation.Status.OPEN, "You're back with the assistant. Ask away!")


def conversation_close(*, conversation_id, agent) -> Conversation:
    notice = "This conversation has been closed. Thanks for getting in touch!"
    return _release(conversation_id, agent, Conversation.Status.CLOSED, notice)


def _release(conversation_id, agent, status: str, notice: str) -> Conversation:
    """The holding agent lets go of the conversation, leaving it in `status`, and the visitor is told."""
    conversation = _held(conversation_id, agent)
    conversation.assigned_agent = None
    conversation.status = status
    conversation.save(update_fields=["assigned_agent", "status", "updated_at"])
    _notice(conversation, notice)
    return conversation


def agent_presence_touch(*, user, channel_name: str) -> None:
    AgentPresence.objects.update_or_create(
        channel_name=channel_name, defaults={"user": user, "last_seen": timezone.now()}
    )


def agent_presence_leave(*, channel_name: str) -> None:
    AgentPresence.objects.filter(channel_name=channel_name).delete()
