"""Guards must not get in the way of normal questions: on the demo knowledge base's own eval questions, at most
2% may be blocked or degraded by a guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from supportbot.chat.ask import question_ask
from supportbot.chat.models import Message
from supportbot.chat.services import widget_ensure_demo

pytestmark = pytest.mark.django_db(transaction=True)
DEMO = Path(__file__).resolve().parents[2] / "kb" / "demo"
DEGRADING = {"blocked", "redirected", "dropped", "refused", "reask"}


@pytest.fixture
def demo_kb(ingest):
    assert ingest(DEMO / "docs").status == "succeeded"
    widget_ensure_demo()


def _degraded(message_id: int) -> list[dict]:
    bot = Message.objects.get(pk=message_id)
    events = list(bot.guard_results) + list(bot.reply_to.guard_results if bot.reply_to else [])
    return [e for e in events if e.get("action") in DEGRADING]


@pytest.mark.parametrize("use_llm", [False, True], ids=["offline", "llm"])
def test_normal_questions_pass_the_guards(demo_kb, settings, fake_llm, use_llm):
    # given: the demo eval questions, answered offline or by a well-behaved model
    if use_llm:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = fake_llm.base_url, "k"
    questions = [json.loads(line)["question"] for line in (DEMO / "eval.jsonl").read_text().splitlines() if line]
    # when
    degraded = {}
    for number, question in enumerate(questions):
        result = async_to_sync(question_ask)(text=question, visitor_id=f"fp-visitor-{number:04d}")
        if events := _degraded(result["message_id"]):
            degraded[question] = events
    # then
    assert len(degraded) / len(questions) <= 0.02, json.dumps(degraded, indent=1)[:3000]
