"""Releasing a streamed answer through the output guard, sentence by sentence.

The model's words reach the visitor only as the output guard allows: each sentence is checked whole when it ends,
and its first plain, sourced words may go ahead of that check (early_words) so the answer starts at once. When a
sentence shown early fails its check, a Replace tells the widget what to show instead of everything so far.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from supportbot.chat.dbthreads import in_chat_thread
from supportbot.guards.output_guard import OutputContext, SentenceBuffer, early_words, sentence_check

if TYPE_CHECKING:
    from supportbot.answering.pipeline import Draft

EARLY_WORDS_BATCH = 4


@dataclass
class Replace:
    """What the visitor should see instead of everything streamed so far (a sentence shown early failed)."""

    text: str


async def released(
    stream: AsyncIterator[str], raw: list[str], draft: Draft, guard: OutputContext
) -> AsyncIterator[str | Replace]:
    """The model's words as the visitor may see them; every piece is also kept in `raw`, and the released text in
    `draft.text`."""
    buffer, shown = SentenceBuffer(), ""  # shown: the current sentence's words already sent
    async for piece in stream:
        raw.append(piece)
        for sentence in buffer.feed(piece):
            async for out in _sentence_release(sentence, shown, draft, guard):
                yield out
            shown = ""
            if guard.leak:
                return
        # The first words go out as soon as they may; after that, every few words (fewer frames and checks).
        if (not shown or _words_since(buffer.pending, shown) >= EARLY_WORDS_BATCH) and (
            early := early_words(buffer.pending, shown, guard)
        ):
            shown += early
            yield early
    for sentence in buffer.flush():
        async for out in _sentence_release(sentence, shown, draft, guard):
            yield out


def _words_since(pending: str, shown: str) -> int:
    return pending.count(" ", len(shown))


async def _sentence_release(sentence: str, shown: str, draft: Draft, guard: OutputContext):
    checked = await guard_check(sentence, guard)
    if guard.leak:
        if shown:
            yield Replace(draft.text)
        return
    if checked and checked.startswith(shown):
        draft.text += checked
        if rest := checked[len(shown) :]:
            yield rest
        return
    if checked:
        draft.text += checked
    if shown:
        yield Replace(draft.text)


async def guard_check(sentence: str, guard: OutputContext) -> str | None:
    """The sentence as the output guard lets it out (None: withheld), with its trailing space kept."""
    checked = await in_chat_thread(sentence_check)(sentence, guard)
    if checked is None:
        return None
    tail = sentence[len(sentence.rstrip()) :] or " "
    return checked.rstrip() + tail


async def text_released(text: str, draft: Draft, guard: OutputContext) -> AsyncIterator[str]:
    """A whole text (the offline answerer's) through the output guard, word by word; kept in `draft.text`."""
    buffer = SentenceBuffer()
    for sentence in [*buffer.feed(text), *buffer.flush()]:
        if checked := await guard_check(sentence, guard):
            draft.text += checked
            for word in words_split(checked):
                yield word


def words_split(text: str) -> list[str]:
    """The text as the words a stream sends, each with the space that follows it."""
    words = text.split(" ")
    return [word if i == len(words) - 1 else word + " " for i, word in enumerate(words) if word]
