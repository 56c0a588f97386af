"""Answers of an evaluation come from the whole chat pipeline, on a widget of their own, never from the cache."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from supportbot.chat.ask import question_ask
from supportbot.chat.models import CachedAnswer, Conversation
from supportbot.evaluation.models import EvalRun

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "how do I get my money back"


def test_the_same_question_twice_is_answered_afresh_apart_from_real_conversations(
    widget, knowledge, no_llm, write_jsonl
):
    # given: a visitor's conversation, whose answer is in the semantic cache
    async_to_sync(question_ask)(text=QUESTION, widget_key=widget.key, visitor_id="visitor-0001")
    assert CachedAnswer.objects.filter(widget=widget).count() == 1
    line = {"question": QUESTION, "source_doc": "refunds.md", "reference": "We return the full payment."}
    path = write_jsonl([line, line])
    out = StringIO()
    # when
    call_command("evaluate", str(path), "--json", stdout=out, stderr=StringIO())
    # then: both answers went through retrieval and generation; none was replayed from a cache
    answers = [case["answer"] for case in EvalRun.objects.get().cases]
    assert [a["from_cache"] for a in answers] == [False, False]
    assert all(set(a["timings"]) == {"retrieve_ms", "generate_ms", "total_ms"} for a in answers)
    assert all(a["timings"]["retrieve_ms"] is not None for a in answers)
    assert answers[0]["answer"] == answers[1]["answer"] and answers[0]["citations"]
    # and the visitor's conversation and cache are as they were; the evaluation left nothing behind
    assert Conversation.objects.filter(widget=widget).count() == 1
    assert CachedAnswer.objects.filter(widget=widget).count() == 1
    assert not Conversation.objects.filter(widget__key="eval").exists()
    report = json.loads(out.getvalue())
    assert report["answers"]["n"] == 2 and report["latency"]["total_ms"]["p50"] > 0
