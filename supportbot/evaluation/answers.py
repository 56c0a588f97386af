"""Answers to an eval set through the visitor's turn (supportbot/chat/turn.py, by supportbot.chat.ask.question_ask:
no rate limits or token budget), each scored.

A dedicated widget (key "eval") keeps evaluation conversations apart from real ones. Its semantic cache is
emptied before every question, so no answer is replayed from an earlier question of the run, and the run's
conversations are deleted at the end: left behind, they would turn into implicit-feedback signals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from channels.db import database_sync_to_async

from kb.models import Chunk
from supportbot.chat.ask import question_ask
from supportbot.chat.models import CachedAnswer, Conversation, Message, Widget
from supportbot.chat.services import ChatError
from supportbot.evaluation import metrics
from supportbot.evaluation.cases import EvalCase, source_matches
from supportbot.evaluation.judge import answer_judge
from supportbot.evaluation.retrieval import SNIPPET_CHARS

EVAL_WIDGET_KEY = "eval"
Progress = Callable[[int, int], None]


def eval_widget_ensure() -> Widget:
    """The widget evaluations talk to: no allowed origins, so no page can open a chat on it."""
    widget, _ = Widget.objects.get_or_create(
        key=EVAL_WIDGET_KEY, defaults={"name": "Evaluations", "allowed_origins": [], "title": "Evaluation"}
    )
    return widget


async def answers_collect(
    *, cases: list[tuple[int, EvalCase]], run_tag: str, judge_samples: int = 1, on_progress: Progress | None = None
) -> list[dict]:
    """Ask every (index, case) on a fresh conversation of the eval widget; one scored record per case."""
    await database_sync_to_async(eval_widget_ensure)()
    records = []
    try:
        for done, (index, case) in enumerate(cases, start=1):
            record = await _answer_case(case, visitor=f"{run_tag}-{index}", judge_samples=judge_samples)
            records.append({"index": index, **record})
            if on_progress:
                on_progress(done, len(cases))
    finally:
        await database_sync_to_async(_forget)(run_tag)
    return records


def _cache_clear() -> None:
    CachedAnswer.objects.filter(widget__key=EVAL_WIDGET_KEY).delete()


def _forget(run_tag: str) -> None:
    _cache_clear()
    Conversation.objects.filter(widget__key=EVAL_WIDGET_KEY, visitor_id__startswith=f"{run_tag}-").delete()


async def _answer_case(case: EvalCase, *, visitor: str, judge_samples: int) -> dict:
    await database_sync_to_async(_cache_clear)()
    try:
        result = await question_ask(text=case.question, widget_key=EVAL_WIDGET_KEY, visitor_id=visitor)
    except ChatError as exc:
        return {"error": exc.code}
    stored = await database_sync_to_async(_stored_answer)(result["message_id"])
    # Embedding work, and the embedder asks the database which model the knowledge base was embedded with.
    record = await database_sync_to_async(_scored)(case, result, stored)
    if judge_samples and not case.unanswerable:
        contexts = [chunk["text"] for chunk in stored["retrieved"]]
        record["judge"] = await answer_judge(
            question=case.question, answer=record["answer"], contexts=contexts, samples=judge_samples
        )
    return record


def _stored_answer(message_id: int) -> dict:
    """The stored answer's citations and retrieved chunks, with the chunks' full text and stored vectors."""
    bot = Message.objects.get(pk=message_id)
    ids = [row["chunk_id"] for row in bot.retrieved]
    chunks = {c.pk: c for c in Chunk.objects.filter(pk__in=ids).select_related("document")}
    retrieved, texts, vectors = [], [], []
    for row in bot.retrieved:
        chunk = chunks.get(row["chunk_id"])  # None when its document was re-ingested meanwhile
        texts.append(chunk.text if chunk else "")
        vectors.append(np.asarray(chunk.embedding, dtype=np.float32) if chunk else None)
        retrieved.append(_retrieved_row(row, chunk))
    dimensions = next((len(v) for v in vectors if v is not None), 0)
    matrix = np.array([v if v is not None else np.zeros(dimensions, np.float32) for v in vectors], np.float32)
    sources = {c.pk: (c.document.uri, c.document.url) for c in chunks.values()}
    return {"bot": bot, "retrieved": retrieved, "texts": texts, "vectors": matrix, "sources": sources}


def _retrieved_row(row: dict, chunk: Chunk | None) -> dict:
    return {
        "chunk_id": row["chunk_id"],
        "title": row.get("title", ""),
        "heading": chunk.heading if chunk else "",
        "source": chunk.document.uri if chunk else "",
        "url": row.get("url", ""),
        "score": round(row.get("score") or 0.0, 4),
        "vector_score": row.get("vector_score"),
        "keyword_score": row.get("keyword_score"),
        "text": chunk.text[:SNIPPET_CHARS] if chunk else "",
    }


def _scored(case: EvalCase, result: dict, stored: dict) -> dict:
    bot: Message = stored["bot"]
    citations = [{"n": c["n"], "chunk_id": c["chunk_id"], "title": c["title"], "url": c["url"]} for c in bot.citations]
    cited = [stored["sources"].get(c["chunk_id"], ()) for c in citations]
    grounding = metrics.answer_groundedness(bot.text, stored["texts"], stored["vectors"])
    record = {
        "answer": bot.text,
        "model": bot.model,
        "confidence": bot.confidence,
        "confidence_label": bot.confidence_label,
        "human_offered": bool(result["escalate"]),
        "from_cache": bot.from_cache,
        "citations": citations,
        "retrieved": stored["retrieved"],
        "timings": result["timings"],
        "guard_actions": sorted({e["action"] for e in bot.guard_results if e.get("action")}),
        "groundedness": grounding.pop("score"),
        "grounding": grounding,
    }
    if case.unanswerable:
        outcome = metrics.escalation_outcome(
            citations=len(citations), human_offered=record["human_offered"], confidence_label=bot.confidence_label
        )
        return record | {"outcome": outcome, "escalation_correct": outcome != "answered", "correct": False}
    for citation, sources in zip(citations, cited, strict=True):
        citation["source_match"] = source_matches(sources, case.source_doc)
    for row in record["retrieved"]:
        row["match"] = source_matches((row["source"], row["url"].split("#")[0]), case.source_doc)
    record["citation_precision"] = metrics.citation_precision(cited, case.source_doc)
    record["correct"] = any(c["source_match"] for c in citations)
    if case.reference:
        record["rouge_l"] = metrics.rouge_l(bot.text, case.reference)
        record["semantic_f1"] = metrics.semantic_f1(bot.text, case.reference)
    return record
