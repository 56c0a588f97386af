"""Streaming a reply through the pool: try endpoints in the pool's order, fail over on any failure.

A failure before the first token simply moves on to the next endpoint. A stream that breaks after text was
produced also moves on: the next endpoint gets the partial reply back as an assistant message and is asked
to continue from exactly there (plain chat messages, so any OpenAI-compatible endpoint can do it), and any
part it repeats is dropped, so the caller sees one reply. The official openai SDK does every HTTP request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import httpx
import openai
from django.conf import settings

from supportbot.llm import pool
from supportbot.llm.clients import chat_client
from supportbot.llm.endpoints import Endpoint, endpoints_configured
from supportbot.llm.errors import AttemptFailed, LLMError
from supportbot.llm.usage import Usage

CONTINUE = (
    "Your reply above was cut off. Continue it from exactly where it stops: do not repeat what is already "
    "written and do not start over; keep the same language, style and [n] citation markers."
)


async def chat_stream(messages: list[dict], *, usage: Usage, max_tokens: int | None = None) -> AsyncIterator[str]:
    """Yield text deltas of the model's reply; fill `usage`. LLMError once every endpoint has failed."""
    endpoints = endpoints_configured()
    if not endpoints:
        raise LLMError("llm_unavailable", "no language model endpoint is configured")
    attempts = usage.extra.setdefault("attempts", [])
    produced = ""
    failures: list[tuple[str, AttemptFailed]] = []
    for endpoint in pool.endpoints_ordered(endpoints, region=settings.LLM_REGION):
        if not pool.attempt_start(endpoint):
            continue  # cooling down
        record = {"endpoint": endpoint.name, "outcome": "ok", "chars": 0}
        attempts.append(record)
        repeats = _RepeatFilter(produced)
        pieces = _attempt(
            endpoint,
            _continuation(messages, produced) if produced else messages,
            usage=usage,
            max_tokens=max_tokens or settings.LLM_MAX_TOKENS,
            record=record,
            pooled=len(endpoints) > 1,
        )
        try:
            async with aclosing(pieces):
                async for piece in pieces:
                    if text := repeats.feed(piece):
                        produced += text
                        record["chars"] += len(text)
                        yield text
            return
        except AttemptFailed as failure:
            failures.append((endpoint.name, failure))
    raise _all_failed(failures)


def _continuation(messages: list[dict], produced: str) -> list[dict]:
    """The conversation with the cut-off reply as the assistant's turn, and the request to carry on from there."""
    return [*messages, {"role": "assistant", "content": produced}, {"role": "user", "content": CONTINUE}]


def _all_failed(failures: list[tuple[str, AttemptFailed]]) -> LLMError:
    if not failures:
        return LLMError("llm_unavailable", "every language model endpoint is cooling down")
    detail = "; ".join(f"{name}: {failure.kind}" for name, failure in failures)
    last = failures[-1][1].kind
    code = (
        "llm_timeout" if last == "timeout" else "llm_error" if last.startswith(("http", "rate")) else "llm_unavailable"
    )
    return LLMError(code, f"every language model endpoint failed ({detail})")


@dataclass
class _Reply:
    """What one attempt has seen so far."""

    started: float
    opened: bool = False  # the endpoint answered with a stream (headers received)
    first_token_at: float | None = None
    finished: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


async def _attempt(
    endpoint: Endpoint, messages: list[dict], *, usage: Usage, max_tokens: int, record: dict, pooled: bool
) -> AsyncIterator[str]:
    """One streamed request to one endpoint; AttemptFailed on any failure; the pool told either way."""
    # Built before the clock starts: a new client (its SSL context) can take a while on a busy machine.
    client = chat_client(endpoint, pooled=pooled)
    reply = _Reply(started=time.monotonic())
    usage.model = usage.model or endpoint.model
    settled = False
    try:
        async with aclosing(_request(client, endpoint, messages, reply, usage, max_tokens=max_tokens)) as pieces:
            async for piece in pieces:
                if reply.first_token_at is None:
                    reply.first_token_at = time.monotonic()
                    pool.first_token(endpoint, reply.first_token_at - reply.started)
                    record["ttft_ms"] = _ms(reply.started, until=reply.first_token_at)
                yield piece
        if not reply.finished:
            raise AttemptFailed("broken_stream", "the stream ended before the model finished its reply")
    except AttemptFailed as failure:
        settled = True
        _attempt_failed(endpoint, failure, record, reply)
        raise
    except (TimeoutError, openai.APIError, httpx.HTTPError) as exc:
        settled = True
        failure = _failure(exc, streaming=reply.opened)
        _attempt_failed(endpoint, failure, record, reply)
        raise failure from exc
    else:
        settled = True
        record["ms"] = _ms(reply.started)
        _usage_add(usage, reply)
        pool.attempt_succeeded(endpoint, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens)
    finally:
        if not settled:
            # The caller stopped reading (a guard cut the answer, the visitor left): no verdict on the endpoint,
            # unless it had been streaming fine.
            if reply.first_token_at is not None:
                pool.attempt_succeeded(endpoint, prompt_tokens=None, completion_tokens=None)
            else:
                pool.attempt_abandoned(endpoint)


def _attempt_failed(endpoint: Endpoint, failure: AttemptFailed, record: dict, reply: _Reply) -> None:
    record.update(outcome=failure.kind, ms=_ms(reply.started))
    pool.attempt_failed(endpoint, kind=failure.kind, detail=failure.detail, retry_after=failure.retry_after)


async def _request(
    client: openai.AsyncOpenAI,
    endpoint: Endpoint,
    messages: list[dict],
    reply: _Reply,
    usage: Usage,
    *,
    max_tokens: int,
) -> AsyncIterator[str]:
    """The HTTP side of an attempt: the text deltas, within the first-token and whole-reply deadlines."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    total_deadline = started + settings.LLM_TIMEOUT_SECONDS
    deadline = min(started + settings.LLM_FIRST_TOKEN_TIMEOUT_SECONDS, total_deadline)
    # No yield inside a timeout block: a timeout must interrupt the request, never the caller's own work.
    async with asyncio.timeout_at(deadline):
        stream = await client.chat.completions.create(
            model=endpoint.model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            temperature=settings.LLM_TEMPERATURE,
            max_tokens=max_tokens,
        )
    reply.opened = True
    try:
        chunks = stream.__aiter__()
        while True:
            async with asyncio.timeout_at(deadline):
                chunk = await anext(chunks, None)
            if chunk is None:
                return
            if chunk.usage:
                reply.prompt_tokens, reply.completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            usage.model = chunk.model or usage.model
            for choice in chunk.choices:
                reply.finished = reply.finished or bool(choice.finish_reason)
                if choice.delta and choice.delta.content:
                    deadline = total_deadline
                    yield choice.delta.content
    finally:
        await stream.close()


def _failure(exc: Exception, *, streaming: bool) -> AttemptFailed:
    if isinstance(exc, TimeoutError | openai.APITimeoutError | httpx.TimeoutException):
        return AttemptFailed("timeout", "the endpoint did not answer in time")
    if isinstance(exc, openai.RateLimitError):
        return AttemptFailed("rate_limited", "HTTP 429", retry_after=_retry_after(exc.response))
    if isinstance(exc, openai.APIStatusError):
        kind = "http_5xx" if exc.status_code >= 500 else "http_4xx"
        return AttemptFailed(kind, f"the endpoint answered HTTP {exc.status_code}")
    if streaming:
        return AttemptFailed("broken_stream", f"the stream broke: {type(exc).__name__}")
    return AttemptFailed("connection", f"the endpoint could not be reached: {type(exc).__name__}")


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _usage_add(usage: Usage, reply: _Reply) -> None:
    # A failed-over reply cost every attempt that reported usage.
    if reply.prompt_tokens is not None:
        usage.prompt_tokens = (usage.prompt_tokens or 0) + reply.prompt_tokens
    if reply.completion_tokens is not None:
        usage.completion_tokens = (usage.completion_tokens or 0) + reply.completion_tokens


def _ms(since: float, *, until: float | None = None) -> float:
    return round(((until or time.monotonic()) - since) * 1000, 1)


class _RepeatFilter:
    """Drops what a continuation repeats of the text already produced: models asked to continue often start
    over from the beginning. Text is held back only while it could still be such a restart."""

    def __init__(self, produced: str) -> None:
        self.produced = produced
        self.held: str | None = "" if produced else None

    def feed(self, piece: str) -> str:
        if self.held is None:
            return piece
        self.held += piece
        if self.produced.startswith(self.held):
            return ""  # so far a restart; wait for where it goes
        held, self.held = self.held, None
        rest = held[len(self.produced) :] if held.startswith(self.produced) else held
        return rest.lstrip() if self.produced[-1:].isspace() else rest


async def chat_complete(messages: list[dict], *, max_tokens: int = 200) -> str:
    """A short non-streamed completion (condensing a follow-up question)."""
    usage = Usage()
    parts = [part async for part in chat_stream(messages, usage=usage, max_tokens=max_tokens)]
    return "".join(parts).strip()


async def endpoints_probe(*, timeout: float = 10.0) -> list[dict]:
    """Ask every endpoint, cooling or not, for a tiny reply; a success closes its breaker."""
    endpoints = endpoints_configured()
    return list(await asyncio.gather(*(_probe(endpoint, timeout, len(endpoints) > 1) for endpoint in endpoints)))


async def _probe(endpoint: Endpoint, timeout: float, pooled: bool) -> dict:
    record: dict = {"endpoint": endpoint.name, "outcome": "ok", "chars": 0}
    messages = [{"role": "user", "content": "Reply with the single word OK."}]
    started = time.monotonic()
    pool.attempt_start(endpoint, force=True)
    try:
        async with asyncio.timeout(timeout):
            pieces = _attempt(endpoint, messages, usage=Usage(), max_tokens=5, record=record, pooled=pooled)
            reply = "".join([piece async for piece in pieces])
    except (AttemptFailed, TimeoutError) as exc:
        return {**record, "ok": False, "error": str(exc), "ms": _ms(started)}
    return {**record, "ok": True, "reply": reply[:40], "ms": _ms(started)}
