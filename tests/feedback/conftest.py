"""Fixtures of the feedback tests. The shared ones (widget, knowledge base, LLM stand-ins, data directory) are in
tests/conftest.py."""

from __future__ import annotations

import pytest

import kb
from feedback.calibration import thresholds_cache_clear
from supportbot.chat.models import Message
from tests.chat.factories import AnswerFactory, QuestionFactory


@pytest.fixture(autouse=True)
def _fresh_thresholds():
    """Calibrated thresholds are cached per process: never let one test's calibration leak into another."""
    thresholds_cache_clear()
    yield
    thresholds_cache_clear()


def kb_answer(question: str, text: str, **fields) -> Message:
    """A stored bot answer whose retrieved passages and [1] citation come from a real search of the KB."""
    results = kb.search(question, k=5)
    retrieved = [
        {"chunk_id": r.chunk_id, "document_id": r.document_id, "title": r.title, "url": r.link, "score": r.score}
        for r in results
    ]
    top = results[0]
    citations = [{"n": 1, "title": top.title, "url": top.link, "snippet": top.text[:80], "chunk_id": top.chunk_id}]
    reply_to = fields.pop("reply_to", None) or QuestionFactory(text=question, **fields.pop("question_fields", {}))
    return AnswerFactory(reply_to=reply_to, text=text, retrieved=retrieved, citations=citations, **fields)
