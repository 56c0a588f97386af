"""Every openai SDK client Supportbot uses is built here, from settings: one per chat endpoint (answers,
condensing, the evaluation judge, probes) and one for knowledge-base embeddings over the API. Keeping the
construction in one place keeps timeouts, retries and keys consistent, and keeps `openai` out of the apps."""

from __future__ import annotations

import asyncio
import weakref

import httpx
import openai
from django.conf import settings

from supportbot.llm.endpoints import Endpoint

_chat_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Endpoint, openai.AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


def chat_client(endpoint: Endpoint, *, pooled: bool) -> openai.AsyncOpenAI:
    """The client for one pool endpoint on the running event loop, built on first use."""
    # httpx connection pools belong to one event loop, so each loop gets its own client per endpoint.
    clients = _chat_clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(endpoint)
    if client is None:
        client = openai.AsyncOpenAI(
            api_key=endpoint.api_key or "not-needed",
            base_url=endpoint.base_url,
            timeout=httpx.Timeout(settings.LLM_TIMEOUT_SECONDS, connect=5.0),
            # With other endpoints to fail over to, retrying the failing one only delays the answer.
            max_retries=0 if pooled else settings.LLM_MAX_RETRIES,
        )
        clients[endpoint] = client
    return client


def embeddings_client() -> openai.OpenAI:
    """A synchronous client for KB_EMBEDDING_BACKEND=openai: the single OPENAI_* endpoint, since ingestion and
    search embed in worker threads, not on an event loop (LLM_ENDPOINTS is the chat pool only)."""
    return openai.OpenAI(
        api_key=settings.OPENAI_API_KEY or "unset",
        base_url=settings.OPENAI_BASE_URL,
        timeout=settings.OPENAI_TIMEOUT_SECONDS,
        max_retries=2,
    )
