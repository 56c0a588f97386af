"""What a model call used and what that costs: the one place tokens become money (LLM_PRICES), shared by the
endpoint pool's live counters and the console's cost chart so the two always agree."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings


@dataclass
class Usage:
    """What answering one request cost; `extra["attempts"]` lists every endpoint tried, in order."""

    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    extra: dict = field(default_factory=dict)


def usage_cost(*, model: str, prompt_tokens: int | None, completion_tokens: int | None) -> float:
    """USD for these tokens at LLM_PRICES (per million input and output tokens); an unlisted model costs 0."""
    price_in, price_out = settings.LLM_PRICES.get(model, (0.0, 0.0))
    return ((prompt_tokens or 0) * price_in + (completion_tokens or 0) * price_out) / 1_000_000
