"""Answering a visitor's message: one async service from the stored question to the stored answer.

retrieve (kb.search, hybrid) → decide (nothing relevant: say so and offer a human, no LLM call) → prompt →
stream (the LLM, or the offline answerer) → map [n] citations to retrieved chunks → confidence → store.
The caller gets events to forward: {"type": "token", ...} while streaming, then {"type": "answer", ...}.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

import kb
from kb.embeddings import embedder
from kb.retrieval import SearchResult
from supportbot.chat import prompts
from supportbot.chat.citations import CitedAnswer, citations_map
from supportbot.chat.confidence import Confidence, confidence_score, retrieval_evidence, support_score
from supportbot.chat.llm import LLMError, Usage, chat_complete, chat_stream, llm_configured
from supportbot.chat.models import Conversation, Message
from supportbot.chat.offline import offline_answer
from supportbot.chat.semantic_cache import cache_lookup, cache_store
from supportbot.chat.sentences import sentences_split

NO_CONTEXT = "I couldn't find anything about that in our help centre, so I'd rather not guess."
NO_ANSWER = "I couldn't find a clear answer to that in our help centre."
LLM_FAILED = "Sorry — I'm having trouble answering right now. Nothing you wrote is lost."
UNSURE = "I'm not sure this fully answers your question."
HUMAN_OFFER = "Would you like to talk to a human? Use the “Talk to a human” button."
OFFLINE_MODEL = "offline-extractive"


@dataclass
class Draft:
    """Everything that becomes the stored bot message."""

    question: str
    condensed: str = ""
    results: list[SearchResult] = field(default_factory=list)
    text: str = ""
    cited: CitedAnswer | None = None
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    guard_results: list[dict] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    failed: bool = False
    from_cache: bool = False


async def answer_stream(*, conversation: Conversation, question: Message) -> AsyncIterator[dict]:
    """Answer `question` (already stored) in `conversation`; yield token events, then the answer event."""
    started = time.perf_counter()
    draft = Draft(question=question.text)
    history = await database_sync_to_async(_history)(conversation, before=question)
    draft.condensed = await _condense(question.text, history)
    question_vector = await sync_to_async(_embed, thread_sensitive=False)(draft.condensed)
    cached = await database_sync_to_async(cache_lookup)(widget_id=conversation.widget_id, vector=question_vector)
    if cached is not None:
        async for event in _replay(cached, draft, conversation, started):
            yield event
        return
    t0 = time.perf_counter()
    draft.results = await database_sync_to_async(_retrieve)(draft.condensed, question_vector)
    draft.timings["retrieve_ms"] = _ms(t0)
    bot = await database_sync_to_async(_bot_message_create)(conversation)
    t1 = time.perf_counter()
    if _relevant(draft.results):
        async for piece in _generate(draft, question_vector, history):
            yield {"type": "token", "message_id": bot.pk, "text": piece}
    draft.timings["generate_ms"] = _ms(t1)
    answer = await database_sync_to_async(_finish)(bot, conversation, draft, question, question_vector, started)
    yield answer


def _history(conversation: Conversation, *, before: Message) -> list[dict]:
    turns = conversation.messages.filter(pk__lt=before.pk, role__in=[Message.Role.VISITOR, Message.Role.BOT])
    recent = list(turns.order_by("-pk")[: settings.CHAT_HISTORY_TURNS])[::-1]
    return [{"role": "user" if m.role == Message.Role.VISITOR else "assistant", "content": m.text} for m in recent]


async def _condense(question: str, history: list[dict]) -> str:
    """Make a follow-up standalone: by the LLM when there is one, else by borrowing the last question."""
    if not history:
        return question
    if llm_configured():
        try:
            condensed = await chat_complete(prompts.condense_messages(question, history))
            return condensed or question
        except LLMError:
            pass
    previous = next((turn["content"] for turn in reversed(history) if turn["role"] == "user"), "")
    return f"{previous} {question}" if previous and len(question.split()) <= 6 else question


def _embed(text: str) -> np.ndarray:
    return embedder().embed([text])[0]


def _retrieve(query: str, vector: np.ndarray) -> list[SearchResult]:
    return kb.search(query, k=settings.CHAT_CONTEXT_CHUNKS, mode="hybrid", vector=vector)


def _relevant(results: list[SearchResult]) -> bool:
    if not results:
        return False
    best = max((r.vector_score or 0.0) for r in results)
    return best >= settings.CHAT_MIN_RELEVANCE or (
        best >= settings.CHAT_MIN_RELEVANCE * 0.75 and results[0].keyword_rank
    )


def _bot_message_create(conversation: Conversation) -> Message:
    return Message.objects.create(conversation=conversation, role=Message.Role.BOT, text="")


async def _generate(draft: Draft, question_vector: np.ndarray, history: list[dict]) -> AsyncIterator[str]:
    if llm_configured():
        messages = prompts.answer_messages(draft.question, draft.results, history)
        parts: list[str] = []
        try:
            async for piece in chat_stream(messages, usage=draft.usage):
                parts.append(piece)
                yield piece
        except LLMError as exc:
            draft.failed = True
            draft.guard_results.append({"validator": "llm", "outcome": "error", "detail": exc.code})
        draft.text = "".join(parts)
        draft.model = draft.usage.model
        return
    draft.model = OFFLINE_MODEL
    draft.text = await sync_to_async(offline_answer, thread_sensitive=False)(question_vector, draft.results)
    for word in _words(draft.text):
        yield word


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == len(words) - 1 else word + " " for i, word in enumerate(words) if word]


def _finish(
    bot: Message, conversation: Conversation, draft: Draft, question: Message, question_vector, started: float
) -> dict:
    from supportbot.chat.escalation import low_confidence_streak

    draft.cited = citations_map(draft.text, draft.results) if not draft.failed else CitedAnswer("")
    if draft.cited.invented:
        draft.guard_results.append({"validator": "citations", "outcome": "fixed", "dropped": draft.cited.invented})
    evidence = retrieval_evidence(draft.results)
    support = _support(draft.cited)
    confidence = confidence_score(evidence, support=support, cited=bool(draft.cited.citations))
    if draft.failed or not draft.cited.text:
        confidence = Confidence(min(confidence.score, 0.1), "low", confidence.inputs)
    text, offered = _final_text(draft, confidence.label)
    draft.timings["total_ms"] = _ms(started)
    bot.text = text
    bot.citations = draft.cited.citations
    bot.retrieved = [_retrieved_row(r) for r in draft.results]
    bot.condensed_question = draft.condensed if draft.condensed != draft.question else ""
    bot.confidence, bot.confidence_label, bot.confidence_inputs = confidence.score, confidence.label, confidence.inputs
    bot.escalation_offered = offered
    bot.guard_results, bot.timings = draft.guard_results, draft.timings
    bot.model, bot.prompt_version = draft.model, prompts.PROMPT_VERSION
    bot.prompt_tokens, bot.completion_tokens = draft.usage.prompt_tokens, draft.usage.completion_tokens
    bot.reply_to = question
    bot.save()
    if confidence.label != "low" and draft.cited.citations and not draft.failed:
        cache_store(widget_id=conversation.widget_id, question=draft.condensed, vector=question_vector, message=bot)
    escalate = low_confidence_streak(conversation, latest=bot)
    return _answer_event(bot, escalate=escalate)


def _support(cited: CitedAnswer) -> float:
    sentences = [s for s in sentences_split(cited.text) if len(s.split()) >= 3]
    if not sentences or not cited.citations:
        return 0.0
    vectors = embedder().embed(sentences)
    return support_score(vectors, [c["chunk_id"] for c in cited.citations])


def _final_text(draft: Draft, label: str) -> tuple[str, bool]:
    if draft.failed:
        return f"{LLM_FAILED} {HUMAN_OFFER}", True
    if not draft.results or not draft.cited.text or not _relevant(draft.results):
        return f"{NO_CONTEXT if not _relevant(draft.results) else NO_ANSWER} {HUMAN_OFFER}", True
    if label == "low":
        return f"{draft.cited.text}\n\n{UNSURE} {HUMAN_OFFER}", True
    return draft.cited.text, False


def _retrieved_row(result: SearchResult) -> dict:
    return {
        "chunk_id": result.chunk_id,
        "document_id": result.document_id,
        "title": result.title,
        "url": result.link,
        "score": result.score,
        "vector_score": result.vector_score,
        "keyword_score": result.keyword_score,
        "vector_rank": result.vector_rank,
        "keyword_rank": result.keyword_rank,
    }


def _answer_event(bot: Message, *, escalate: bool) -> dict:
    return {
        "type": "answer",
        "message_id": bot.pk,
        "text": bot.text,
        "citations": [{k: c[k] for k in ("n", "title", "url", "snippet")} for c in bot.citations],
        "confidence": bot.confidence,
        "confidence_label": bot.confidence_label,
        "escalation_offered": bot.escalation_offered,
        "escalate": escalate,
        "from_cache": bot.from_cache,
    }


async def _replay(cached: Message, draft: Draft, conversation: Conversation, started: float) -> AsyncIterator[dict]:
    """A cached answer streams like a fresh one, and is stored as its own message."""
    bot = await database_sync_to_async(_cached_copy)(cached, conversation, draft, started)
    for word in _words(bot.text):
        yield {"type": "token", "message_id": bot.pk, "text": word}
    yield _answer_event(bot, escalate=False)


def _cached_copy(cached: Message, conversation: Conversation, draft: Draft, started: float) -> Message:
    question = conversation.messages.filter(role=Message.Role.VISITOR).order_by("-pk").first()
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.BOT,
        text=cached.text,
        reply_to=question,
        citations=cached.citations,
        retrieved=cached.retrieved,
        condensed_question=draft.condensed if draft.condensed != draft.question else "",
        confidence=cached.confidence,
        confidence_label=cached.confidence_label,
        confidence_inputs=cached.confidence_inputs,
        guard_results=cached.guard_results,
        model=cached.model,
        prompt_version=cached.prompt_version,
        from_cache=True,
        timings={"total_ms": _ms(started), "cached_from": cached.pk},
    )


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
