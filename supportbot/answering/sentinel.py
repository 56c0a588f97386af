"""The model's machine-readable "the passages don't answer this": a token the prompt defines, never shown.

The prompt (prompts.py) tells the model to reply with CANNOT_ANSWER alone when the passages do not answer the
question. The pipeline turns it into the decline with the human offer. Whatever the model streams passes through
`sentinel_filtered` first, which holds back any text that could be the start of the token until it knows, so the
token (or a piece of it) never reaches the visitor, whichever way the stream splits it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

CANNOT_ANSWER = "[[NOT_IN_HELP_CENTRE]]"


@dataclass
class SentinelWatch:
    """Set once the model has said CANNOT_ANSWER."""

    found: bool = False


def sentinel_in(text: str) -> bool:
    return CANNOT_ANSWER in text


async def sentinel_filtered(stream: AsyncIterator[str], watch: SentinelWatch) -> AsyncIterator[str]:
    """The stream's text with CANNOT_ANSWER held back; once it appears nothing more is yielded (the rest is
    still read, so the model's token usage is recorded)."""
    pending = ""
    async for piece in stream:
        if watch.found:
            continue
        pending += piece
        if sentinel_in(pending):
            watch.found = True
            continue
        held = _partial_length(pending)
        if ready := pending[: len(pending) - held]:
            pending = pending[len(ready) :]
            yield ready
    if pending and not watch.found:
        yield pending


def _partial_length(text: str) -> int:
    """The length of the longest end of `text` that CANNOT_ANSWER starts with (0: none)."""
    for length in range(min(len(text), len(CANNOT_ANSWER) - 1), 0, -1):
        if CANNOT_ANSWER.startswith(text[-length:]):
            return length
    return 0
