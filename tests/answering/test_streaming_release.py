"""Streaming through the output guard: an answer's first plain, sourced words reach the visitor before its
sentence ends; anything the guard could change waits for the whole sentence; words shown early that the
sentence's check then drops are withdrawn with a "replace" frame."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from supportbot.chat.models import Message
from tests.chat.conftest import ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]

SOURCED = "The page that loaded the widget is not on the widget key's list of allowed origins [1]."


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


def _shown(tokens: list[dict]) -> str:
    """What the widget shows after these frames (it appends text; "replace" sets it)."""
    text = ""
    for frame in tokens:
        text = frame["replace"] if "replace" in frame else text + frame["text"]
    return text


async def test_a_sourced_sentence_starts_streaming_before_it_ends(widget, knowledge, llm):
    # given: the model streams word by word
    llm.reply = SOURCED
    chat, _ = await open_chat()
    # when
    tokens, answer = await ask(chat, "what does E4403 mean")
    # then: the first frame is a few words, not the whole sentence, and the frames add up to the answer
    assert len(tokens) > 3
    assert len(tokens[0]["text"].split()) <= 4
    assert _shown(tokens).strip() == answer["text"].strip()
    assert not any("replace" in frame for frame in tokens)
    await chat.disconnect()


@pytest.mark.parametrize(
    ("sentence", "risky"),
    [
        ("The page is refused, call 010-9876-5432 for help [1].", "010-9876-5432"),
        ("The page is refused, call 010 9876 5432 for help [1].", "9876"),
        ("The page is refused, card 4111 1111 1111 1111 was used [1].", "4111"),
        ("The page is refused, mail jane.doe@example.com for help [1].", "jane.doe@example.com"),
        ("The page is refused, see <img src=x onerror=alert(1)> now [1].", "onerror"),
        ("The page is refused, use the api key sk-live-abcdefghijklmnopqrstuv [1].", "sk-live-abcdefghijklmnopqrstuv"),
    ],
    ids=["phone", "spaced-phone", "card-groups", "email", "markup", "secret"],
)
async def test_anything_the_guard_could_change_is_never_shown_before_its_check(widget, knowledge, llm, sentence, risky):
    # given: personal data, markup or a secret in the middle of an otherwise sourced sentence
    llm.reply = sentence
    chat, _ = await open_chat()
    # when
    tokens, answer = await ask(chat, "what does E4403 mean")
    # then: no frame ever carried it, and the answer does not either
    assert all(risky not in frame["text"] and risky not in frame.get("replace", "") for frame in tokens)
    assert risky not in answer["text"]
    await chat.disconnect()


async def test_a_number_from_the_sources_streams_early_too(widget, knowledge, llm):
    llm.reply = "E4403 means the page that loaded the widget is not on the list of allowed origins [1]."
    chat, _ = await open_chat()
    tokens, answer = await ask(chat, "what does E4403 mean")
    # then: it goes out with the first words the sources back, well before the sentence ends
    assert tokens[0]["text"].startswith("E4403") and len(tokens[0]["text"].split()) <= 8 and len(tokens) > 3
    assert _shown(tokens).strip() == answer["text"].strip()
    await chat.disconnect()


async def test_an_unsupported_sentence_is_never_streamed(widget, knowledge, llm):
    llm.reply = f"{SOURCED} Quantum penguins negotiate refunds on Saturdays."
    chat, _ = await open_chat()
    tokens, answer = await ask(chat, "what does E4403 mean")
    assert "penguins" not in _shown(tokens) and all("penguins" not in f["text"] for f in tokens)
    assert "penguins" not in answer["text"]
    await chat.disconnect()


async def test_words_shown_early_are_withdrawn_when_their_sentence_fails(widget, knowledge, llm):
    # given: a sentence that starts with the sources' words and ends with a number they don't have
    llm.reply = f"{SOURCED} The widget key's list of allowed origins refuses the page after 93 minutes."
    chat, session = await open_chat()
    # when
    tokens, answer = await ask(chat, "what does E4403 mean")
    # then: its first words went out early, were replaced, and the answer and the record agree
    early = [frame for frame in tokens if "origins refuses" not in frame["text"]]
    assert any("replace" in frame for frame in tokens)
    assert "93 minutes" not in _shown(tokens) and "93 minutes" not in answer["text"]
    assert answer["text"].startswith(_shown(tokens).strip())
    assert early
    stored = await Message.objects.aget(pk=answer["message_id"])
    assert stored.text == answer["text"]
    assert any(e.get("action") == "dropped" for e in stored.guard_results)
    await chat.disconnect()
