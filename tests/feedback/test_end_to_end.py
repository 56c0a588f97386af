"""The whole loop: a visitor rates an answer down, an agent corrects it, the correction is approved, and the
next visitor asking the same question is answered from the new FAQ page, with a citation of it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from feedback.models import Correction, Rating
from feedback.services import correction_approve, correction_write
from supportbot.chat.models import CachedAnswer
from tests.chat.conftest import ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]
QUESTION = "How long does delivery to Canada take?"
CORRECTION = "Deliveries to Canada take 5 to 8 working days with our Canadian partner carrier."


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


async def test_a_down_rated_answer_corrected_by_an_agent_answers_the_next_visitor(
    widget, knowledge, no_llm, data_dir, django_user_model
):
    # given: the bot answers from the shipping page, and the answer is cached
    chat, _ = await open_chat(visitor="visitor-0001")
    _, bad = await ask(chat, QUESTION)
    assert "5 to 8" not in bad["text"] and await CachedAnswer.objects.acount() == 1
    # when: the visitor rates it down through the widget
    await chat.send_json_to({"type": "feedback", "message_id": bad["message_id"], "rating": "down", "reason": "wrong"})
    assert (await chat.receive_json_from(timeout=5))["type"] == "feedback_saved"
    await chat.disconnect()
    # then: it is never served from the cache again
    assert await Rating.objects.filter(message_id=bad["message_id"], value="down").aexists()
    assert await CachedAnswer.objects.acount() == 0
    # when: an agent writes the right answer and an admin approves it
    agent = await django_user_model.objects.acreate(username="agent", is_staff=True)
    correction = await sync_to_async(correction_write)(message_id=bad["message_id"], author=agent, text=CORRECTION)
    await sync_to_async(correction_approve)(correction_id=correction.pk, approver=agent)
    # then: it is a document of the knowledge base
    correction = await Correction.objects.select_related("document").aget(pk=correction.pk)
    assert correction.status == "approved" and correction.document.url == f"/help/faq/{correction.pk}/"
    assert correction.document.title == f"FAQ: {QUESTION}"
    # when: another visitor asks the same question
    other, _ = await open_chat(visitor="visitor-0002")
    _, good = await ask(other, QUESTION)
    await other.disconnect()
    # then: the answer comes from the FAQ page and cites it
    assert "5 to 8 working days" in good["text"]
    faq_citations = [c for c in good["citations"] if c["url"].split("#")[0] == f"/help/faq/{correction.pk}/"]
    assert faq_citations and faq_citations[0]["title"] == f"FAQ: {QUESTION}"
