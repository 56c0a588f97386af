"""The configured endpoints: LLM_ENDPOINTS when set, else the single OPENAI_* endpoint (or none at all)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

DEFAULT_NAME = "default"


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible endpoint. Frozen and hashable: the pool keys its live state by the whole
    configuration, so a changed URL or key starts with a clean record."""

    name: str
    base_url: str | None
    model: str
    api_key: str = field(default="", repr=False)
    region: str = ""
    weight: float = 1.0
    priority: int = 0


def endpoints_configured() -> list[Endpoint]:
    """The pool, read from settings on every call so a settings change (or a test override) applies at once."""
    if settings.LLM_ENDPOINTS:
        return [_endpoint(item) for item in settings.LLM_ENDPOINTS]
    if not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
        return []
    return [
        Endpoint(
            name=DEFAULT_NAME,
            base_url=settings.OPENAI_BASE_URL,
            model=settings.LLM_MODEL,
            api_key=settings.OPENAI_API_KEY,
        )
    ]


def llm_configured() -> bool:
    """Whether any language model endpoint is configured (else the offline answerer answers)."""
    return bool(settings.LLM_ENDPOINTS or settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def _endpoint(item: dict) -> Endpoint:
    return Endpoint(
        name=item["name"],
        base_url=item["base_url"],
        model=item.get("model") or settings.LLM_MODEL,
        api_key=item.get("api_key", ""),
        region=item.get("region", ""),
        weight=float(item.get("weight", 1.0)),
        priority=int(item.get("priority", 0)),
    )
