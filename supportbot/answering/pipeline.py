"""Answering a visitor's message: one async service from the stored question to the stored answer.

retrieve (kb.search, hybrid) → decide (answerability.py: no passage answers it, say so and offer a human, no LLM
call) → prompt → stream (the LLM, or the offline answerer; the LLM may say it cannot answer, sentinel.py) → map [n]
citations to retrieved chunks, one per section → confidence → store.
The caller gets token frames to forward ({"type": "token", ...}) while streaming, then an Answered: the reply as
stored. What follows an answer (the frame, the tokens spent, an escalation) is the turn's (supportbot/chat/turn.py).
Streaming through the output guard is in streaming_release.py; condensing follow-ups in condensing.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

import kb
from kb import SearchResult
from kb.embeddings import embed_query, embedder
from kb.language import language_detect
from kb.services import kb_state
from supportbot.answering import prompts
from supportbot.answering.answerability import Answerability, answerability_judge
from supportbot.answering.citations import CitedAnswer, citations_map
from supportbot.answering.condensing import question_condense
from supportbot.answering.confidence import (
    Confidence,
    confidence_score,
    declined_confidence,
    label_for,
    retrieval_evidence,
    support_score,
)
from supportbot.answering.offline import offline_answer
from supportbot.answering.semantic_cache import cache_lookup, cache_store, cached_answer_copy
from supportbot.answering.sentences import sentences_split
from supportbot.answering.sentinel import SentinelWatch, sentinel_filtered, sentinel_in
from supportbot.answering.streaming_release import Replace, guard_check, released, text_released, words_split
from supportbot.chat.answer_states import answer_claim, answer_store
from supportbot.chat.dbthreads import in_db_thread
from supportbot.chat.models import Conversation, Message
from supportbot.chat.visitor_language import visitor_language
from supportbot.guards.output_guard import OutputContext, SentenceBuffer, output_context
from supportbot.llm import LLMError, Usage, chat_complete, chat_stream, llm_configured
from supportbot.pii import pii_redact

# Said to the visitor in their language: translated when the final text is put together (_final_text).
NO_CONTEXT = _("I couldn't find anything about that in our help centre, so I'd rather not guess.")
NO_ANSWER = _("I couldn't find a clear answer to that in our help centre.")
LLM_FAILED = _("Sorry — I'm having trouble answering right now. Nothing you wrote is lost.")
UNSURE = _("I'm not sure this fully answers your question.")
GUARD_REFUSED = _("I'm sorry, I can't help with that here.")
HUMAN_OFFER = _("Would you like to talk to a human? Use the “Talk to a human” button.")
OFFLINE_MODEL = "offline-extractive"
_CJK = {"ko", "ja", "zh"}


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
    offline_fallback: bool = False  # every LLM endpoint failed: the offline answerer answered instead
    from_cache: bool = False
    guard: OutputContext | None = None
    use_llm: bool = True
    answerability: Answerability | None = None
    llm_declined: bool = False  # the model said the passages don't answer it (sentinel.py)


@dataclass(frozen=True)
class Answered:
    """The end of an answer stream: the reply as stored, and whether this answerer wrote it (False: another answerer
    finished it first, and saw to what follows it)."""

    reply: Message
    ours: bool = True


async def answer_stream(
    *, conversation: Conversation, question: Message, use_llm: bool = True, bot: Message | None = None
) -> AsyncIterator[dict | Answered]:
    """Answer `question` (already stored) in `conversation`; yield token frames, then the Answered reply.
    With use_llm=False (the widget's daily token budget is spent) the offline answerer answers and a human is
    offered. `bot` is the reply stored pending with the question (answer_states); without one, one is created.
    A reply that another answerer finished meanwhile is not written again: it ends the stream as stored."""
    started = time.perf_counter()
    draft = Draft(question=question.text, use_llm=use_llm)
    history = await in_db_thread(_history)(conversation, before=question)
    draft.condensed = await question_condense(question=question.text, history=history, use_llm=use_llm)
    # One trip to a worker thread for everything up to the model: under load each trip back to the event loop
    # waits behind every other conversation's work.
    question_vector, cached, bot, widget = await in_db_thread(_prepare)(conversation, draft, bot)
    if bot is not None and bot.state not in Message.UNFINISHED:
        yield Answered(bot, ours=False)
        return
    if cached is not None:
        async for event in _replay(cached, draft, conversation, started, bot):
            yield event
        return
    t1 = time.perf_counter()
    if _relevant(draft):
        async for piece in _generate(draft, question_vector, history, widget):
            if isinstance(piece, Replace):
                yield {"type": "token", "message_id": bot.pk, "text": "", "replace": piece.text}
            else:
                yield {"type": "token", "message_id": bot.pk, "text": piece}
    draft.timings["generate_ms"] = _ms(t1)
    yield await in_db_thread(_finish)(bot, conversation, draft, question, question_vector, started)


def _prepare(
    conversation: Conversation, draft: Draft, bot: Message | None
) -> tuple[np.ndarray, Message | None, Message | None, object]:
    """The question's vector; the reply claimed (or, finished meanwhile, as stored); a cached answer, or else the
    retrieved chunks, the bot message and the widget."""
    vector = _embed(draft.condensed)
    if bot is not None and not answer_claim(bot=bot):
        return vector, None, Message.objects.get(pk=bot.pk), None
    cached = cache_lookup(widget_id=conversation.widget_id, vector=vector, question=draft.condensed)
    if cached is not None:
        return vector, cached, bot, None
    t0 = time.perf_counter()
    draft.results = _retrieve(draft.condensed, vector)
    chunk_total = kb_state().chunk_total
    draft.answerability = answerability_judge(question=draft.condensed, results=draft.results, chunk_total=chunk_total)
    draft.timings["retrieve_ms"] = _ms(t0)
    widget = conversation.widget
    if _relevant(draft):
        _guard_context(draft, widget)
    return vector, None, bot or _bot_message_create(conversation), widget


def _guard_context(draft: Draft, widget) -> OutputContext:
    banned = tuple(widget.banned_words) + tuple(widget.competitor_names)
    draft.guard = output_context(
        results=draft.results,
        protected_prompt=prompts.protected_prompt(),
        banned=banned,
        link_domains=tuple(widget.answer_link_domains),  # links in answers (issue #13, supportbot/guards/links.py)
    )
    return draft.guard


def _history(conversation: Conversation, *, before: Message) -> list[dict]:
    turns = conversation.messages.shown().filter(pk__lt=before.pk, role__in=[Message.Role.VISITOR, Message.Role.BOT])
    recent = list(turns.order_by("-pk")[: settings.CHAT_HISTORY_TURNS])[::-1]
    return [{"role": "user" if m.role == Message.Role.VISITOR else "assistant", "content": m.text} for m in recent]


def _embed(text: str) -> np.ndarray:
    # As a query: e5-style multilingual models embed questions and passages differently.
    return embed_query(text)


def _retrieve(query: str, vector: np.ndarray) -> list[SearchResult]:
    return kb.search(query, k=settings.CHAT_CONTEXT_CHUNKS, mode="hybrid", vector=vector)


def _relevant(draft: Draft) -> bool:
    """Whether a retrieved passage answers the question (answerability.py); a cached answer's draft has none."""
    return draft.answerability is not None and draft.answerability.answerable


def _bot_message_create(conversation: Conversation) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.BOT,
        text="",
        state=Message.State.STREAMING,
        claimed_at=timezone.now(),
    )


async def _generate(
    draft: Draft, question_vector: np.ndarray, history: list[dict], widget
) -> AsyncIterator[str | Replace]:
    """Stream the answer through the output guard: each sentence is released only once it passes."""
    guard = draft.guard or await in_db_thread(_guard_context)(draft, widget)
    if not (draft.use_llm and llm_configured()):
        draft.model = OFFLINE_MODEL
        async for word in _offline_words(draft, question_vector, guard):
            yield word
        return
    messages = prompts.answer_messages(draft.question, draft.results, history)
    raw: list[str] = []
    watch, shown = SentinelWatch(), False
    try:
        stream = sentinel_filtered(chat_stream(messages, usage=draft.usage), watch)
        async for piece in released(stream, raw, draft, guard):
            shown = True
            yield piece
    except LLMError as exc:
        # Every endpoint failed (docs/llm-endpoints.md): answer from the knowledge base instead, offer a human.
        draft.guard_results.append({"validator": "llm", "outcome": "error", "action": "fallback", "detail": exc.code})
        draft.timings["llm"] = draft.usage.extra.get("attempts", [])
        draft.model, draft.text, draft.offline_fallback = OFFLINE_MODEL, "", True
        guard.kept = guard.dropped = 0
        yield Replace("")  # whatever the failed endpoints streamed gives way to the offline answer
        async for word in _offline_words(draft, question_vector, guard):
            yield word
        draft.failed = not draft.text
        return
    draft.model = draft.usage.model
    draft.timings["llm"] = draft.usage.extra.get("attempts", [])  # the endpoints that served it, in order
    if watch.found:
        _llm_decline(draft)
        if shown:
            yield Replace("")  # words before the sentinel give way to the decline
        return
    if not draft.failed and not guard.leak and guard.dropped > guard.kept:
        await _reask(draft, messages, "".join(raw), guard)
    elif not draft.failed and not guard.leak and (language := _language_mismatch(draft)):
        draft.guard_results.append(
            {"validator": "answer_language", "outcome": "fail", "action": "reask", "detail": language}
        )
        await _reask(draft, messages, draft.text, guard, instruction=prompts.REASK_LANGUAGE.format(language=language))


async def _offline_words(draft: Draft, question_vector: np.ndarray, guard: OutputContext) -> AsyncIterator[str]:
    """The offline answerer's answer, through the output guard, word by word."""
    text = await in_db_thread(offline_answer)(question_vector, draft.results, question=draft.question)
    async for word in text_released(text, draft, guard):
        yield word


def _language_mismatch(draft: Draft) -> str:
    """The visitor's language when the answer is plainly in another one. Scripts decide (Hangul, kana, Han
    against Latin): telling English from French in a short answer is too unreliable to re-ask on."""
    asked, answered = language_detect(draft.question), language_detect(draft.text)
    if asked != answered and (asked in _CJK or answered in _CJK):
        return asked
    return ""


async def _reask(
    draft: Draft, messages: list[dict], previous: str, guard: OutputContext, *, instruction: str = prompts.REASK
) -> None:
    """Ask once more: for an answer that sticks to the context, or that is in the visitor's language."""
    if instruction == prompts.REASK:
        draft.guard_results.append({"validator": "grounding", "outcome": "fail", "action": "reask"})
    try:
        # The model's own words go back to it, but never personal data it produced.
        previous = pii_redact(previous)[0]
        reask = prompts.reask_messages(messages, previous, instruction=instruction)
        again = await chat_complete(reask, max_tokens=settings.LLM_MAX_TOKENS)
    except LLMError:
        return
    guard.kept = guard.dropped = 0
    buffer = SentenceBuffer()
    if sentinel_in(again):
        _llm_decline(draft)
        return
    kept = [c for s in [*buffer.feed(again), *buffer.flush()] if (c := await guard_check(s, guard))]
    if kept and not guard.leak:
        draft.text = "".join(kept)


def _llm_decline(draft: Draft) -> None:
    """The model said the passages don't answer the question: nothing it wrote is kept."""
    draft.llm_declined, draft.text = True, ""
    draft.guard_results.append({"validator": "answerability", "outcome": "llm_declined", "action": "declined"})


def _finish(
    bot: Message, conversation: Conversation, draft: Draft, question: Message, question_vector, started: float
) -> Answered:
    refused = bool(draft.guard and draft.guard.leak)
    draft.cited = citations_map(draft.text, draft.results) if not (draft.failed or refused) else CitedAnswer("")
    if draft.cited.invented:
        draft.guard_results.append({"validator": "citations", "outcome": "fixed", "dropped": draft.cited.invented})
    if draft.guard:
        draft.guard_results[:0] = draft.guard.events
    answerability = draft.answerability.probability if draft.answerability else 0.0
    evidence = retrieval_evidence(draft.results, answerability=answerability)
    if draft.answerability:
        evidence["answerability_features"] = draft.answerability.features
    support = _support(draft.cited, draft.guard)
    confidence = confidence_score(evidence, support=support, cited=bool(draft.cited.citations))
    if draft.guard and draft.guard.dropped:
        # Sentences the sources did not support were removed: be less sure of what is left.
        share = draft.guard.kept / (draft.guard.kept + draft.guard.dropped)
        confidence = Confidence(
            round(confidence.score * share, 3), label_for(confidence.score * share), confidence.inputs
        )
        confidence.inputs["dropped_sentences"] = draft.guard.dropped
    if not _relevant(draft) or draft.llm_declined:
        confidence = declined_confidence(confidence.inputs)
    elif draft.failed or draft.offline_fallback or refused or not draft.cited.text:
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
    if (stored := answer_store(bot)) is not bot:
        return Answered(stored, ours=False)  # another answerer finished it first: theirs stands
    if confidence.label != "low" and draft.cited.citations and not draft.failed:
        cache_store(widget_id=conversation.widget_id, question=draft.condensed, vector=question_vector, message=bot)
    return Answered(bot)


def _support(cited: CitedAnswer, guard: OutputContext | None) -> float:
    if not cited.citations:
        return 0.0
    if guard is not None and guard.kept_sentences:
        # The output guard checked every released sentence already; those it judged on words alone are
        # embedded now, in one batch. (Counting their word overlap as support instead was measured: it rated
        # off-topic extracts as sure as real answers; escalation accuracy on the demo's unanswerable questions
        # fell from 0.67 to 0.42.)
        vectors = guard.kept_vectors()
    else:
        sentences = [s for s in sentences_split(cited.text) if len(s.split()) >= 3]
        if not sentences:
            return 0.0
        vectors = embedder().embed(sentences)
    return support_score(vectors, [c["chunk_id"] for c in cited.citations])


def _final_text(draft: Draft, label: str) -> tuple[str, bool]:
    # The question's own language, else the widget's (activated by the consumer), else English.
    with translation.override(visitor_language(draft.question, fallback=translation.get_language())):
        return _final_text_translated(draft, label)


def _final_text_translated(draft: Draft, label: str) -> tuple[str, bool]:
    if draft.failed or draft.offline_fallback:
        return f"{draft.cited.text}\n\n{LLM_FAILED} {HUMAN_OFFER}".strip(), True
    if draft.guard and draft.guard.leak:
        return f"{GUARD_REFUSED} {HUMAN_OFFER}", True
    if not draft.results or not draft.cited.text or not _relevant(draft):
        return f"{NO_CONTEXT if not _relevant(draft) else NO_ANSWER} {HUMAN_OFFER}", True
    if label == "low":
        return f"{draft.cited.text}\n\n{UNSURE} {HUMAN_OFFER}", True
    if not draft.use_llm:
        return f"{draft.cited.text}\n\n{HUMAN_OFFER}", True
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


async def _replay(
    cached: Message, draft: Draft, conversation: Conversation, started: float, bot: Message | None
) -> AsyncIterator[dict | Answered]:
    """A cached answer streams like a fresh one, and is stored as its own message."""
    condensed = draft.condensed if draft.condensed != draft.question else ""
    bot = await in_db_thread(cached_answer_copy)(
        cached=cached, conversation=conversation, condensed_question=condensed, total_ms=_ms(started), bot=bot
    )
    for word in words_split(bot.text):
        yield {"type": "token", "message_id": bot.pk, "text": word}
    yield Answered(bot)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
