"""The one boundary to language models: the official openai SDK against a pool of OpenAI-compatible endpoints.

Clients are built from settings (LLM_ENDPOINTS, or the single OPENAI_* endpoint); requests are routed by
region, priority, weight and recent speed, fail over between endpoints (even mid-stream) and trip a circuit
breaker on a failing endpoint; SDK errors become one domain error, LLMError, once every endpoint has failed;
token usage is reported back to the caller and counted per endpoint. Nothing else in Supportbot imports openai
for chat. See docs/llm-endpoints.md.
"""

from __future__ import annotations

from supportbot.chat.llm.endpoints import Endpoint, endpoints_configured, llm_configured
from supportbot.chat.llm.errors import LLMError
from supportbot.chat.llm.pool import pool_reset, pool_status
from supportbot.chat.llm.stream import Usage, chat_complete, chat_stream, endpoints_probe

__all__ = [
    "Endpoint",
    "LLMError",
    "Usage",
    "chat_complete",
    "chat_stream",
    "endpoints_configured",
    "endpoints_probe",
    "llm_configured",
    "pool_reset",
    "pool_status",
]
