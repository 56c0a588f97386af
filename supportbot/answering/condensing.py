"""Follow-up questions made standalone before retrieval ("and for that one?" searches for nothing)."""

from __future__ import annotations

import re

from supportbot.answering import prompts
from supportbot.llm import LLMError, chat_complete, llm_configured

_REFERRING = re.compile(
    r"\b(it|its|that|this|those|these|they|them|there|one|ones|same|above|previous|else|also|too)\b"
    r"|^\s*(and|or|but|so|what about|how about)\b|그거|그것|이거|이것|저거|그럼|それ|これ|あれ",
    re.IGNORECASE,
)


def needs_condensing(question: str) -> bool:
    """A short question, or one that points back ("and for that one?"), depends on the conversation."""
    return len(question.split()) <= 4 or bool(_REFERRING.search(question))


async def question_condense(*, question: str, history: list[dict], use_llm: bool = True) -> str:
    """Make a follow-up standalone: by the LLM when there is one, else by borrowing the last question.
    A question that stands on its own skips this (it would cost a whole model call before retrieval)."""
    if not history or not needs_condensing(question):
        return question
    if use_llm and llm_configured():
        try:
            condensed = await chat_complete(prompts.condense_messages(question, history))
            return condensed or question
        except LLMError:
            pass
    previous = next((turn["content"] for turn in reversed(history) if turn["role"] == "user"), "")
    return f"{previous} {question}" if previous and len(question.split()) <= 6 else question
