"""The one boundary to language models: the official openai SDK against a pool of OpenAI-compatible endpoints.

Every openai client is built here (`clients`): for chat (answers, condensing, the evaluation judge) and for
knowledge-base embeddings over the API (`texts_embed`, used by kb.embeddings' `openai` backend). Chat clients
come from settings (LLM_ENDPOINTS, or the single OPENAI_* endpoint); requests are routed by region, priority,
weight and recent speed, fail over between endpoints (even mid-stream) and trip a circuit breaker on a failing
endpoint; SDK errors become one domain error, LLMError, once every endpoint has failed; token usage is reported
back to the caller, counted per endpoint and priced in one place (`usage_cost`, from LLM_PRICES). Nothing else
in Supportbot imports openai. See docs/llm-endpoints.md.
"""

from __future__ import annotations

from supportbot.llm.clients import embeddings_client
from supportbot.llm.embeddings import texts_embed
from supportbot.llm.endpoints import Endpoint, endpoints_configured, llm_configured
from supportbot.llm.errors import LLMError
from supportbot.llm.pool import pool_reset, pool_status
from supportbot.llm.stream import chat_complete, chat_stream, endpoints_probe
from supportbot.llm.usage import Usage, usage_cost

__all__ = [
    "Endpoint",
    "LLMError",
    "Usage",
    "chat_complete",
    "chat_stream",
    "embeddings_client",
    "endpoints_configured",
    "endpoints_probe",
    "llm_configured",
    "pool_reset",
    "pool_status",
    "texts_embed",
    "usage_cost",
]
