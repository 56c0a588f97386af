"""Knowing when it doesn't know (issue #18): the offline answerer declines what no passage answers, the LLM's
"cannot answer" sentinel becomes the decline with a human offer and never reaches the visitor, and two chunks of
one section are one citation linking to the section's anchor."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from supportbot.answering.sentinel import CANNOT_ANSWER, SentinelWatch, sentinel_filtered
from supportbot.chat.models import Message
from tests.chat.conftest import ask, open_chat
from tests.fake_llm import _PASSAGE

pytestmark = [pytest.mark.django_db(transaction=True)]

# One section long enough to be cut into two chunks (KB_CHUNK_TOKENS is 200), and a page beside it.
EMBEDDING_PAGE = "# Embedding the chat widget\n\n" + "\n\n".join(
    f"Step {n}: paste the widget snippet before the closing body tag of page template number {n}, then reload "
    f"the page and check that the chat bubble appears in the corner of template {n} within a few seconds."
    for n in range(1, 13)
)
OTHER_PAGE = "# Billing\n\n## Invoices\n\nInvoices are emailed on the first working day of every month."


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


def quote_each_passage(messages: list[dict]) -> str:
    """A model that quotes the first sentence of each of the first three passages, cited by its own number."""
    passages = _PASSAGE.findall(messages[0]["content"])[:3]
    return " ".join(f"{text.strip().split('. ')[0].rstrip('.')} [{n}]." for n, _, text in passages)


def _answer_requests(fake):
    return [
        r
        for r in fake.requests
        if r["path"].endswith("/chat/completions") and r["body"]["messages"][0]["role"] == "system"
    ]


async def test_the_offline_answerer_declines_a_question_no_passage_answers(widget, knowledge, no_llm):
    # given: a help centre about orders, shipping and refunds that says nothing of payment providers
    chat, _ = await open_chat()
    # when
    tokens, answer = await ask(chat, "Can I pay for my order with PayPal or Klarna?")
    # then: no quoted passage, a plain "not in the help centre" and a human offered
    assert answer["citations"] == [] and "[1]" not in answer["text"]
    assert answer["text"].startswith("I couldn't find anything about that in our help centre")
    assert answer["escalation_offered"] is True and answer["confidence_label"] == "low"
    stored = await Message.objects.aget(pk=answer["message_id"])
    assert stored.confidence_inputs["answerability"] < 0.05
    assert stored.confidence_inputs["answerability_features"]["keyword"] == 0.0
    assert not any(t["text"] for t in tokens)
    await chat.disconnect()


async def test_an_answerable_question_is_answered_with_its_answerability_recorded(widget, knowledge, no_llm):
    # given
    chat, _ = await open_chat()
    # when
    _, answer = await ask(chat, "how long does delivery take abroad")
    # then
    assert "ten" in answer["text"] and answer["citations"][0]["url"].endswith("#delivery-times")
    stored = await Message.objects.aget(pk=answer["message_id"])
    assert stored.confidence_inputs["answerability"] > 0.5
    assert stored.confidence > 0.5 and stored.confidence_label in {"high", "medium"}
    await chat.disconnect()


async def test_the_llm_saying_it_cannot_answer_becomes_a_decline_and_the_sentinel_is_never_shown(
    widget, knowledge, llm
):
    # given: a model that starts a sentence, then says the passages don't answer the question
    llm.reply = f"Parcels inside the country arrive in two to three working days [1]. {CANNOT_ANSWER}"
    chat, _ = await open_chat()
    # when
    tokens, answer = await ask(chat, "how long does delivery take abroad")
    # then: the decline with the human offer, and no frame ever carried the sentinel or a piece of it
    assert len(_answer_requests(llm)) == 1
    assert answer["text"].startswith("I couldn't find a clear answer to that in our help centre")
    assert "human" in answer["text"] and answer["escalation_offered"] is True
    assert answer["citations"] == [] and answer["confidence_label"] == "low"
    frames = [*tokens, answer]
    assert not any("NOT_IN" in (f.get("text", "") + f.get("replace", "")) for f in frames)
    assert not any("[[" in (f.get("text", "") + f.get("replace", "")) for f in frames)
    # and what was shown before the sentinel was taken back
    assert tokens[-1].get("replace") == ""
    stored = await Message.objects.aget(pk=answer["message_id"])
    assert CANNOT_ANSWER not in stored.text
    assert {"validator": "answerability", "outcome": "llm_declined", "action": "declined"} in stored.guard_results
    await chat.disconnect()


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([CANNOT_ANSWER], id="whole"),
        pytest.param(list(CANNOT_ANSWER), id="one-character-at-a-time"),
        pytest.param(["Sorry. [", "[NOT_IN_HELP", "_CENTRE]]", " more"], id="split-after-text"),
    ],
)
async def test_the_sentinel_is_held_back_however_the_stream_splits_it(pieces):
    # given
    async def stream():
        for piece in pieces:
            yield piece

    watch = SentinelWatch()
    # when
    out = [piece async for piece in sentinel_filtered(stream(), watch)]
    # then
    assert watch.found is True
    assert "[" not in "".join(out) and "NOT_IN" not in "".join(out)


async def test_a_citation_marker_that_only_looks_like_the_sentinel_passes_through():
    # given
    async def stream():
        for piece in ["Parcels arrive in two days ", "[", "1]. Abroad ", "[[2]] ten."]:
            yield piece

    watch = SentinelWatch()
    # when
    out = "".join([piece async for piece in sentinel_filtered(stream(), watch)])
    # then
    assert watch.found is False and out == "Parcels arrive in two days [1]. Abroad [[2]] ten."


async def test_two_chunks_of_one_section_are_one_citation_linking_to_its_anchor(widget, ingest, llm, tmp_path):
    # given: a help centre whose "Embedding the chat widget" section is two chunks or more, and a model that quotes
    # each passage it gets, cited by its own number
    (tmp_path / "embedding.md").write_text(EMBEDDING_PAGE, encoding="utf-8")
    (tmp_path / "billing.md").write_text(OTHER_PAGE, encoding="utf-8")
    job = await sync_to_async(ingest)(tmp_path)
    assert job.status == "succeeded", job.errors
    llm.reply = quote_each_passage
    chat, _ = await open_chat()
    # when
    _, answer = await ask(chat, "where do I paste the widget snippet in my page template?")
    # then: the section is cited once, by the number of its first chunk, and links to the section's anchor
    stored = await Message.objects.aget(pk=answer["message_id"])
    same_section = [n for n, row in enumerate(stored.retrieved, 1) if row["title"] == "Embedding the chat widget"]
    assert len(same_section) >= 2
    section_link = stored.retrieved[same_section[0] - 1]["url"]
    assert re.search(r"#embedding-the-chat-widget$", section_link)
    embedding = [c for c in answer["citations"] if c["url"] == section_link]
    assert len(embedding) == 1 and embedding[0]["n"] == same_section[0]
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer["text"])}
    assert same_section[0] in markers and not markers & set(same_section[1:])
    assert not re.search(r"(\[\d+\])\s*\1", answer["text"])
    await chat.disconnect()
