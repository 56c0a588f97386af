"""The one boundary to language models: the official openai SDK against any OpenAI-compatible endpoint.

Clients are built from settings; SDK errors become one domain error, LLMError; token usage is reported back
to the caller. Nothing else in Supportbot imports openai for chat.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import openai
from django.conf import settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = weakref.WeakKeyDictionary()


class LLMError(Exception):
    """The model could not answer (timeout, refused, broken stream). `code` is shown to operators."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass
class Usage:
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    extra: dict = field(default_factory=dict)


def llm_configured() -> bool:
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def _client() -> openai.AsyncOpenAI:
    # httpx connection pools belong to one event loop, so each loop gets its own client.
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = openai.AsyncOpenAI(
            api_key=settings.OPENAI_API_KEY or "not-needed",
            base_url=settings.OPENAI_BASE_URL,
            timeout=httpx.Timeout(settings.LLM_TIMEOUT_SECONDS, connect=5.0),
            max_retries=settings.LLM_MAX_RETRIES,
        )
        _clients[loop] = client
    return client


async def chat_stream(messages: list[dict], *, usage: Usage, max_tokens: int | None = None) -> AsyncIterator[str]:
    """Yield text deltas of the model's reply; fill `usage` when the endpoint reports it."""
    usage.model = settings.LLM_MODEL
    try:
        stream = await _client().chat.completions.create(
            model=settings.LLM_MODEL,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            temperature=settings.LLM_TEMPERATURE,
            max_tokens=max_tokens or settings.LLM_MAX_TOKENS,
        )
        async with asyncio.timeout(settings.LLM_TIMEOUT_SECONDS):
            async for chunk in stream:
                if chunk.usage:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.completion_tokens = chunk.usage.completion_tokens
                if chunk.model:
                    usage.model = chunk.model
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
    except (TimeoutError, openai.APITimeoutError) as exc:
        raise LLMError("llm_timeout", "the language model did not answer in time") from exc
    except openai.APIStatusError as exc:
        raise LLMError("llm_error", f"the language model endpoint answered HTTP {exc.status_code}") from exc
    except (openai.APIError, httpx.HTTPError) as exc:
        raise LLMError("llm_unavailable", f"the language model endpoint failed: {type(exc).__name__}") from exc


async def chat_complete(messages: list[dict], *, max_tokens: int = 200) -> str:
    """A short non-streamed completion (condensing a follow-up question)."""
    usage = Usage()
    parts = [part async for part in chat_stream(messages, usage=usage, max_tokens=max_tokens)]
    return "".join(parts).strip()
