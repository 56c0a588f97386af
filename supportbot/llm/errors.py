"""The errors of the LLM boundary: one domain error for callers, one per-attempt failure for the router."""

from __future__ import annotations

from supportbot.errors import DomainError


class LLMError(DomainError):
    """The model could not answer (timeout, refused, broken stream). `code` is shown to operators."""

    def __str__(self) -> str:
        # Logged rather than shown to a visitor: operators grep for the code.
        return f"{self.code}: {self.detail}"


class AttemptFailed(Exception):
    """One endpoint failed one attempt; the router records it and moves on to the next endpoint.

    `kind` is a bounded label (timeout, rate_limited, http_4xx, http_5xx, connection, broken_stream).
    """

    def __init__(self, kind: str, detail: str, *, retry_after: float | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after
