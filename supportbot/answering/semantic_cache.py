"""The semantic answer cache: a near-identical question to the same widget reuses an answer.

An entry is only valid for the knowledge-base version it was made on (any ingest, prune or reembed moves it), and
while every chunk it cites still exists. Only cited, not-low-confidence answers are
cached.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import connection
from rapidfuzz import fuzz

from kb.models import Chunk
from kb.services import kb_state
from supportbot.chat.answer_states import answer_store
from supportbot.chat.models import CachedAnswer, Conversation, Message
from supportbot.metrics import CACHE_LOOKUPS


def cache_lookup(*, widget_id: int, vector: np.ndarray, question: str = "") -> Message | None:
    """A cached answer for a near-identical question asked of the same knowledge base version, or None.

    Two checks, because embeddings alone are not enough: unrelated short questions (in Korean with the English
    model, say) can sit above the threshold; the wording must also be close.
    """
    found = _lookup(widget_id=widget_id, vector=vector, question=question)
    CACHE_LOOKUPS.labels(outcome="miss" if found is None else "hit").inc()
    return found


def _lookup(*, widget_id: int, vector: np.ndarray, question: str) -> Message | None:
    literal = "[" + ",".join(f"{x:.7f}" for x in vector.tolist()) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, 1 - (embedding <=> %s::vector), question FROM chat_cachedanswer "
            "WHERE widget_id = %s AND kb_version = %s ORDER BY embedding <=> %s::vector LIMIT 1",
            [literal, widget_id, kb_state().version, literal],
        )
        row = cursor.fetchone()
    if row is None or row[1] < settings.CHAT_CACHE_SIMILARITY:
        return None
    if question and fuzz.token_sort_ratio(question.lower(), row[2].lower()) < _MIN_WORDING_SIMILARITY:
        return None
    entry = CachedAnswer.objects.select_related("message").get(pk=row[0])
    if Chunk.objects.filter(pk__in=entry.chunk_ids).count() != len(entry.chunk_ids):
        entry.delete()  # a cited section changed since: the answer may be stale
        return None
    CachedAnswer.objects.filter(pk=entry.pk).update(hits=entry.hits + 1)
    return entry.message


_MIN_WORDING_SIMILARITY = 80


def cache_store(*, widget_id: int, question: str, vector: np.ndarray, message: Message) -> None:
    chunk_ids = sorted({c["chunk_id"] for c in message.citations})
    version = kb_state().version
    # Entries made on an older knowledge base can never be served again: drop them as new ones arrive.
    CachedAnswer.objects.filter(widget_id=widget_id, kb_version__lt=version).delete()
    CachedAnswer.objects.create(
        widget_id=widget_id,
        question=question[:2000],
        embedding=vector.tolist(),
        message=message,
        chunk_ids=chunk_ids,
        kb_version=version,
    )


# What a cached answer hands on to the new message that repeats it.
_COPIED_FIELDS = (
    "text", "citations", "retrieved", "confidence", "confidence_label", "confidence_inputs", "guard_results",
    "model", "prompt_version",
)  # fmt: skip


def cached_answer_copy(
    *, cached: Message, conversation: Conversation, condensed_question: str, total_ms: float, bot: Message | None
) -> Message:
    """The reply to this turn, repeating `cached`: stored in `bot` (the turn's claimed message), or as a new one."""
    copy = {name: getattr(cached, name) for name in _COPIED_FIELDS}
    copy.update(
        condensed_question=condensed_question,
        from_cache=True,
        timings={"total_ms": total_ms, "cached_from": cached.pk},
    )
    if bot is None:
        question = conversation.messages.filter(role=Message.Role.VISITOR).order_by("-pk").first()
        return Message.objects.create(conversation=conversation, role=Message.Role.BOT, reply_to=question, **copy)
    for name, value in copy.items():
        setattr(bot, name, value)
    return answer_store(bot)
