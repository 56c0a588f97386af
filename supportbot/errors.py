"""The one shape of a domain error: a stable `code` for machines (error frames, operators' notes, form errors)
and a `detail` sentence for people. Each app raises its own subclass (ChatError, ConsoleError, FeedbackError,
LLMError, TokenError) so callers catch what they mean; views and consumers turn any of them into JSON with
`as_dict()`."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal or failure the caller can show: `code` names it, `detail` says it in words."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return self.detail

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}
