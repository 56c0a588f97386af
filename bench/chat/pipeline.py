"""Phase 1, in process: the answering pipeline's own overhead, per answer and per step, against a zero-latency
fake LLM; what is measured sits outside the model (total time minus the time spent waiting on it)."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import numpy as np

from bench.chat.report import pipeline_summary
from bench.chat.setup import pipeline_questions
from bench.harness import log, stats_ms
from bench.machine import CpuAccount
from bench.synth import Corpus

PIPELINE_STEPS = (
    ("_history", "history"),
    ("_embed", "embed"),
    ("cache_lookup", "cache_lookup"),
    ("_retrieve", "retrieve"),
    ("_bot_message_create", "bot_create"),
    ("output_context", "guard_setup"),
    ("sentence_check", "guard_sentence"),
    ("_finish", "finish"),
    ("_support", "support"),
)


class StageClock:
    """Wraps the pipeline's module-level steps (sync ones run in threads; one question at a time)."""

    def __init__(self, profiler=None):
        self.current: dict = {}
        self.wrapped: list[str] = []
        self._restore: list = []
        self.profiler = profiler  # cProfile of the synchronous steps (they run in worker threads, one at a time)
        self._profiling = False

    def add(self, name: str, ms: float) -> None:
        self.current[name] = self.current.get(name, 0.0) + ms

    def model_ms(self) -> float:
        return self.current.get("complete_model", 0.0) + self.current.get("answer_model", 0.0)

    def wrap_sync(self, owner, attr: str, stage: str) -> None:
        if not hasattr(owner, attr):  # the pipeline changes; time what exists
            return
        original = getattr(owner, attr)

        def timed(*a, **k):
            t = time.perf_counter()
            outer = self.profiler is not None and not self._profiling
            try:
                if outer:
                    self._profiling = True
                    return self.profiler.runcall(original, *a, **k)
                return original(*a, **k)
            finally:
                if outer:
                    self._profiling = False
                self.add(stage, (time.perf_counter() - t) * 1000)

        setattr(owner, attr, timed)
        self._restore.append((owner, attr, original))
        self.wrapped.append(stage)

    def wrap_model(self, owner) -> None:
        """The model: the answer's stream (time spent waiting for its pieces) and short completions (condensing
        a follow-up, a re-ask), as the openai SDK delivers them."""
        stream, complete = owner.chat_stream, owner.chat_complete
        clock = self

        async def timed_stream(*a, **k):
            clock.current["answer_calls"] = clock.current.get("answer_calls", 0) + 1
            iterator = stream(*a, **k).__aiter__()
            while True:
                t = time.perf_counter()
                try:
                    piece = await iterator.__anext__()
                except StopAsyncIteration:
                    clock.add("answer_model", (time.perf_counter() - t) * 1000)
                    return
                clock.add("answer_model", (time.perf_counter() - t) * 1000)
                yield piece

        async def timed_complete(*a, **k):
            clock.current["complete_calls"] = clock.current.get("complete_calls", 0) + 1
            t = time.perf_counter()
            try:
                return await complete(*a, **k)
            finally:
                clock.add("complete_model", (time.perf_counter() - t) * 1000)

        owner.chat_stream, owner.chat_complete = timed_stream, timed_complete
        self._restore += [(owner, "chat_stream", stream), (owner, "chat_complete", complete)]

    def restore(self) -> None:
        for owner, attr, original in reversed(self._restore):
            setattr(owner, attr, original)


def _receive(conversation, text: str):
    """What the consumer does before answering: the input guard and storage when the app has them."""
    from supportbot.chat import services

    if hasattr(services, "visitor_message_receive"):
        question, _, verdict = services.visitor_message_receive(conversation=conversation, text=text)
        return question, getattr(verdict, "action", "allow")
    question, _ = services.visitor_message_store(conversation=conversation, text=text)
    return question, "allow"


def _answer_of(end) -> dict:
    """What the benchmark reads from the end of an answer stream that yields the stored reply (`.reply`) rather
    than an answer frame."""
    reply = end.reply
    return {"from_cache": reply.from_cache, "confidence_label": reply.confidence_label, "message_id": reply.pk}


async def _ask_in_process(widget, visitor: str, texts: list[str], clock: StageClock) -> list[dict]:
    from channels.db import database_sync_to_async

    from supportbot.answering import pipeline
    from supportbot.chat import services

    conversation = await database_sync_to_async(services.conversation_open)(widget=widget, visitor_id=visitor)
    rows = []
    for position, text in enumerate(texts):
        t = time.perf_counter()
        question, action = await database_sync_to_async(_receive)(conversation, text)
        receive_ms = (time.perf_counter() - t) * 1000
        row = {"text": text, "position": position, "receive_ms": receive_ms, "message_id": None}
        if action != "allow" or services.wants_human(question.text):
            rows.append({**row, "path": f"not_answered:{action if action != 'allow' else 'wants_human'}"})
            continue
        clock.current = {}
        first_token = model_before_first = None
        answer: dict = {}
        tokens = 0
        started = time.perf_counter()
        async for event in pipeline.answer_stream(conversation=conversation, question=question):
            if not isinstance(event, dict):  # the stream's end: the reply as stored
                answer = _answer_of(event)
            elif event["type"] == "token":
                tokens += 1
                if first_token is None:
                    first_token = (time.perf_counter() - started) * 1000
                    model_before_first = clock.model_ms()  # condensing + the stream up to the first release
            elif event["type"] == "answer":
                answer = event
        total = (time.perf_counter() - started) * 1000
        stages = dict(clock.current)
        model = clock.model_ms()
        path = "cache" if answer.get("from_cache") else ("llm" if stages.get("answer_calls") else "no_context")
        rows.append({
            **row,
            "path": path,
            "total_ms": total,
            "outside_model_ms": total - model,
            "ttft_ms": first_token,
            "ttft_outside_model_ms": None if first_token is None else first_token - model_before_first,
            "model_ms": model,
            "tokens": tokens,
            "stages": stages,
            "confidence_label": answer.get("confidence_label"),
            "message_id": answer.get("message_id"),
        })  # fmt: skip
    return rows


def run_pipeline_phase(args: argparse.Namespace, fake, cpu: CpuAccount) -> dict:
    from channels.db import database_sync_to_async
    from django.conf import settings
    from django.db import connections

    from supportbot.answering import pipeline
    from supportbot.chat.models import Message, Widget

    fake.token_delay = fake.first_token_delay = 0.0
    questions = pipeline_questions(args.pipeline_questions, args.seed)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    clock = StageClock(profiler)
    for attr, stage in PIPELINE_STEPS:
        clock.wrap_sync(pipeline, attr, stage)
    clock.wrap_model(pipeline)
    widget = Widget.objects.create(key="bench-pipeline", name="bench pipeline", allowed_origins=["self"])
    warm = Widget.objects.create(key="bench-pipeline-warm", name="bench warm-up", allowed_origins=["self"])
    rng = np.random.default_rng(args.seed + 99)
    warm_texts = [t for _, t in Corpus().queries(12, rng)] + ["how do I embed the widget on my site?"]

    async def run(pairs: list[list[str]], label: str, w) -> list[dict]:
        rows: list[dict] = []
        for i, texts in enumerate(pairs):
            rows += await _ask_in_process(w, f"bench-{label}-{i:05d}", texts, clock)
        await database_sync_to_async(connections.close_all)()
        return rows

    texts = [t for _, t in questions]
    pairs = [texts[i : i + 2] for i in range(0, len(texts), 2)]  # a first question, then a follow-up
    kinds = dict((t, k) for k, t in questions)
    try:
        clock.profiler = None
        asyncio.run(run([warm_texts[i : i + 2] for i in range(0, len(warm_texts), 2)], "warm", warm))
        clock.profiler = profiler
        before = cpu.snapshot()
        started = time.perf_counter()
        rows = asyncio.run(run(pairs, "main", widget))
        wall = time.perf_counter() - started
        clock.profiler = None
        phase_cpu = cpu.since(before, cpu.snapshot())
        # The same, on a fresh widget (empty cache), with a new database connection for every call.
        n0 = min(args.conn_age_0_questions, len(pairs) * 2) // 2
        conn0_rows: list[dict] = []
        if n0:
            db = settings.DATABASES["default"]
            saved = db.get("CONN_MAX_AGE", 0)
            db["CONN_MAX_AGE"] = 0
            connections.close_all()
            try:
                widget0 = Widget.objects.create(key="bench-pipeline-age0", name="bench age 0", allowed_origins=[])
                conn0_rows = asyncio.run(run(pairs[:n0], "age0", widget0))
            finally:
                db["CONN_MAX_AGE"] = saved
                connections.close_all()
    finally:
        clock.restore()
    for r in rows:
        r["kind"] = kinds.get(r["text"], "?")
    result = pipeline_summary(rows, clock.wrapped)
    result["steps_timed"] = clock.wrapped
    result["wall_s"] = round(wall, 2)
    result["answers_per_s_sequential"] = round(len(rows) / wall, 1)
    result["cpu"] = phase_cpu
    result["by_question_kind"] = {
        kind: dict(Counter(r["path"] for r in rows if r["kind"] == kind))
        for kind in ("eval", "unanswerable", "generated")
    }
    stored = {
        m.pk: m.timings
        for m in Message.objects.filter(pk__in=[r["message_id"] for r in rows if r["message_id"]]).only("timings")
    }
    llm_rows = [r for r in rows if r["path"] == "llm"]
    result["app_timings_llm"] = {
        key: stats_ms(
            [stored[r["message_id"]].get(key) for r in llm_rows if stored.get(r["message_id"], {}).get(key) is not None]
        )
        for key in ("retrieve_ms", "generate_ms", "total_ms")
    }
    result["conn_max_age_0"] = pipeline_summary(conn0_rows, clock.wrapped) if conn0_rows else None
    guard_actions: Counter = Counter()
    for m in Message.objects.filter(pk__in=[r["message_id"] for r in llm_rows]).only("guard_results"):
        for event in m.guard_results or []:
            if isinstance(event, dict) and event.get("outcome") == "fail":
                guard_actions[f"{event.get('validator')}:{event.get('action')}"] += 1
    result["guard_failures_llm_path"] = dict(guard_actions)
    result["embedding_diagnostics"] = embedding_diagnostics([r["message_id"] for r in llm_rows])
    result["llm_eval_questions"] = sorted({r["text"] for r in rows if r["path"] == "llm" and r["kind"] == "eval"})
    result["slowest"] = [
        {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items() if k not in ("stages",)}
        | {"stages": {s: round(v, 1) for s, v in r["stages"].items()}}
        for r in sorted(llm_rows, key=lambda r: r["outside_model_ms"])[-5:]
    ]
    if profiler:
        import io
        import pstats

        for order in ("cumulative", "tottime"):
            buffer = io.StringIO()
            pstats.Stats(profiler, stream=buffer).sort_stats(order).print_stats(40)
            result[f"profile_sync_steps_{order}"] = buffer.getvalue()
            log(buffer.getvalue())
    return result


def embedding_diagnostics(message_ids: list[int]) -> dict:
    """What the answer-time embeddings cost against the alternatives, on the benchmark's own answers:
    the output guard embeds the retrieved chunks' texts (their vectors are stored in kb_chunk), and each answer
    sentence is embedded once by the guard and again, all together, for the support score."""
    from kb.embeddings import embedder
    from kb.models import Chunk
    from supportbot.answering.sentences import sentences_split
    from supportbot.chat.models import Message

    emb = embedder()
    embed_chunks, fetch_stored, per_sentence, batched, n_chunks, n_sentences = [], [], [], [], [], []
    tokens: list[int] = []
    for message in Message.objects.filter(pk__in=message_ids).only("retrieved", "text")[:40]:
        ids = [row["chunk_id"] for row in message.retrieved or []]
        texts = list(Chunk.objects.filter(pk__in=ids).values_list("text", flat=True))
        if not texts:
            continue
        t = time.perf_counter()
        emb.embed(texts)
        embed_chunks.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        list(Chunk.objects.filter(pk__in=ids).values_list("pk", "embedding"))
        fetch_stored.append((time.perf_counter() - t) * 1000)
        n_chunks.append(len(texts))
        if hasattr(emb, "tokenizer"):
            tokens += [int(sum(e.attention_mask)) for e in emb.tokenizer.encode_batch(texts)]
        sentences = [x for x in sentences_split(message.text) if len(x.split()) >= 3]
        if sentences:
            t = time.perf_counter()
            for sentence in sentences:
                emb.embed([sentence])
            per_sentence.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            emb.embed(sentences)
            batched.append((time.perf_counter() - t) * 1000)
            n_sentences.append(len(sentences))
    return {
        "answers": len(embed_chunks),
        "retrieved_chunks_per_answer": round(float(np.mean(n_chunks)), 1) if n_chunks else None,
        "embed_retrieved_chunk_texts_ms": stats_ms(embed_chunks),
        "fetch_stored_chunk_vectors_ms": stats_ms(fetch_stored),
        "answer_sentences": round(float(np.mean(n_sentences)), 1) if n_sentences else None,
        "embed_answer_sentences_one_by_one_ms": stats_ms(per_sentence),
        "embed_answer_sentences_batched_ms": stats_ms(batched),
        "model_tokens_per_retrieved_chunk_mean": round(float(np.mean(tokens)), 1) if tokens else None,
    }
