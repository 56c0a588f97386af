"""Rated answers exported by feedback's `eval` exporter are an eval set: `evaluate` reads and re-answers them."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from feedback.datasets import ExportFilters
from feedback.exports import dataset_export
from feedback.services import feedback_record
from supportbot.chat.ask import question_ask
from supportbot.chat.models import Message

pytestmark = pytest.mark.django_db(transaction=True)
# Questions the bot answers: "I forgot how to update my password" shares no word with its page and sits too far from
# it for answerability (supportbot/answering/answerability.py), so it is declined, and a declined answer is no
# reference to export.
QUESTIONS = ("how do I get my money back", "how do I change my sign-in secret", "how long until my order gets here")


def test_the_eval_export_of_rated_answers_round_trips_into_evaluate(widget, knowledge, no_llm, tmp_path):
    # given: answers of the chat pipeline, rated up by their visitors
    for number, question in enumerate(QUESTIONS):
        visitor = f"visitor-{number:04d}"
        result = async_to_sync(question_ask)(text=question, widget_key=widget.key, visitor_id=visitor)
        answer = Message.objects.get(pk=result["message_id"])
        feedback_record(message_id=answer.pk, conversation_id=answer.conversation_id, visitor_id=visitor, rating="up")
    # when: exported in the eval format and evaluated
    path = tmp_path / "eval.jsonl"
    with path.open("w", encoding="utf-8") as out:
        exported = dataset_export(fmt="eval", out=out, filters=ExportFilters())
    printed = StringIO()
    call_command("evaluate", str(path), "--json", stdout=printed, stderr=StringIO())
    # then: every line is a question with its page, answered again by the same pipeline
    report = json.loads(printed.getvalue())
    assert exported.rows == 3
    assert report["n"] == 3 and report["modes"]["hybrid"]["hit@5"] == 1.0
    answers = report["answers"]
    assert answers["n"] == 3 and answers["reference_n"] == 3
    # the offline answerer is deterministic: the up-rated answer (the reference) comes back word for word
    assert answers["rouge_l"] == 1.0 and answers["semantic_f1"] == 1.0
    assert answers["cited_source_rate"] == 1.0 and answers["groundedness"] == 1.0
