"""The answering pipeline: the real openai SDK against a local OpenAI-compatible server, the offline answerer,
failures that lose nothing, unanswerable questions, follow-ups, the semantic cache and the `ask` command."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connections

from supportbot.chat.models import CachedAnswer, Conversation, Message
from tests.chat.conftest import FIXTURES, ask, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


def _chat_requests(fake):
    return [r for r in fake.requests if r["path"].endswith("/chat/completions")]


def _answer_requests(fake):
    """Requests that ask for an answer (with the numbered context), not for condensing a follow-up."""
    return [r for r in _chat_requests(fake) if r["body"]["messages"][0]["role"] == "system"]


async def test_the_llm_gets_numbered_context_over_http_and_its_usage_is_recorded(widget, knowledge, llm):
    # given
    chat, _ = await open_chat()
    # when
    _, answer = await ask(chat, "what does E4403 mean")
    # then: the real SDK spoke HTTP to the local server
    request = _chat_requests(llm)[-1]
    assert request["auth"] == "Bearer test-key"
    body = request["body"]
    assert body["model"] == "fake-model" and body["stream"] is True
    system = body["messages"][0]
    assert system["role"] == "system" and "[1] Error codes — Error codes > E4403" in system["content"]
    assert "cite the passage" in system["content"]
    assert body["messages"][-1] == {"role": "user", "content": "what does E4403 mean"}
    stored = await Message.objects.aget(pk=answer["message_id"])
    assert (stored.model, stored.prompt_tokens) == ("fake-model", 42)
    assert stored.completion_tokens > 3 and stored.prompt_version
    assert set(stored.timings) >= {"retrieve_ms", "generate_ms", "total_ms"}
    assert stored.retrieved[0]["chunk_id"] == answer_chunk(stored)
    await chat.disconnect()


def answer_chunk(message: Message) -> int:
    return message.citations[0]["chunk_id"]


async def test_invented_citations_are_dropped_and_recorded(widget, knowledge, llm):
    llm.reply = "The origin is not allowed [1]. See also the secret manual [7]."
    chat, _ = await open_chat()
    _, answer = await ask(chat, "what does E4403 mean")
    assert "[7]" not in answer["text"] and "[1]" in answer["text"]
    assert [c["n"] for c in answer["citations"]] == [1]
    stored = await Message.objects.aget(pk=answer["message_id"])
    fixed = [e for e in stored.guard_results if e.get("validator") == "supportbot/citations_exist"]
    assert fixed and fixed[0]["action"] == "fixed" and "[7]" in fixed[0]["detail"]
    await chat.disconnect()


@pytest.mark.parametrize("mode", ["error", "hang"], ids=["http-500", "timeout"])
async def test_an_llm_failure_gives_a_clear_message_and_loses_nothing(widget, knowledge, llm, settings, mode):
    # given
    llm.mode = mode
    settings.LLM_TIMEOUT_SECONDS = 1.0
    chat, session = await open_chat()
    # when
    _, answer = await ask(chat, "what does E4403 mean")
    # then
    assert answer["type"] == "answer"
    assert "trouble answering" in answer["text"] and "human" in answer["text"]
    assert answer["escalation_offered"] is True and answer["confidence_label"] == "low"
    texts = [m.text async for m in Message.objects.filter(conversation_id=session["conversation_id"], role="visitor")]
    assert texts == ["what does E4403 mean"]
    # and the conversation carries on once the model is back
    llm.mode = "ok"
    _, later = await ask(chat, "widget says E5002")
    assert "[1]" in later["text"]
    await chat.disconnect()


async def test_without_an_llm_the_offline_answerer_cites_the_knowledge_base(widget, knowledge, no_llm):
    chat, _ = await open_chat()
    tokens, answer = await ask(chat, "how do I get my money back")
    assert len(tokens) > 3
    assert "14 days" in answer["text"] and "[1]" in answer["text"]
    assert re.fullmatch(r"/help/doc/\d+/#getting-your-payment-returned", answer["citations"][0]["url"])
    assert answer["confidence_label"] in {"high", "medium"}
    stored = await Message.objects.aget(pk=answer["message_id"])
    assert stored.model == "offline-extractive"
    await chat.disconnect()


@pytest.mark.parametrize("use_llm", [True, False], ids=["llm", "offline"])
async def test_an_unanswerable_question_gets_no_made_up_answer_and_a_human_offer(
    widget, knowledge, settings, fake_llm, use_llm
):
    # given
    if use_llm:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = fake_llm.base_url, "k"
    else:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = None, ""
    chat, _ = await open_chat()
    # when
    _, answer = await ask(chat, "what is the capital of Australia?")
    # then
    assert answer["confidence_label"] == "low" and answer["confidence"] < 0.3
    assert answer["citations"] == [] and answer["escalation_offered"] is True
    assert "couldn't find" in answer["text"] and "human" in answer["text"]
    assert _chat_requests(fake_llm) == []  # nothing relevant: the LLM is not asked to guess
    await chat.disconnect()


async def test_two_low_confidence_answers_in_a_row_escalate(widget, knowledge, no_llm):
    # given
    chat, session = await open_chat()
    await ask(chat, "what is the capital of Australia?")
    # when
    await chat.send_json_to({"type": "message", "text": "who won the football world cup in 1998?"})
    frames = [await chat.receive_json_from(timeout=5) for _ in range(3)]
    # then
    assert [f["type"] for f in frames] == ["received", "answer", "escalated"]
    assert frames[2]["reason"] == "low_confidence"
    conversation = await Conversation.objects.aget(pk=session["conversation_id"])
    assert conversation.status == "escalated"
    await chat.disconnect()


async def test_a_follow_up_is_condensed_by_the_llm_before_retrieval(widget, knowledge, llm):
    # given
    chat, _ = await open_chat()
    await ask(chat, "what does E4403 mean")
    llm.reply = lambda messages: (
        "What does error E5002 mean?" if "standalone question" in messages[-1]["content"] else "Timeout [1]."
    )
    # when
    _, answer = await ask(chat, "and the other one, 5002?")
    # then
    condense = [r for r in _chat_requests(llm) if "standalone question" in r["body"]["messages"][-1]["content"]][-1]
    assert "what does E4403 mean" in condense["body"]["messages"][0]["content"]
    stored = await Message.objects.aget(pk=answer["message_id"])
    assert stored.condensed_question == "What does error E5002 mean?"
    assert answer["citations"][0]["url"].endswith("#e5002")
    await chat.disconnect()


async def test_the_same_question_is_answered_from_the_cache_until_its_source_changes(widget, knowledge, llm, ingest):
    # given
    chat, _ = await open_chat()
    _, first = await ask(chat, "what does E4403 mean")
    calls = len(_answer_requests(llm))
    # when: the same question again, by another visitor
    other, _ = await open_chat(visitor="visitor-0002")
    _, second = await ask(other, "What does E4403 mean?")
    # then
    assert len(_answer_requests(llm)) == calls
    assert second["text"] == first["text"] and second["citations"] == first["citations"]
    assert (await Message.objects.aget(pk=second["message_id"])).from_cache is True
    # when: the cited document changes
    changed = FIXTURES / "hybrid" / "error-codes.md"
    original = changed.read_text()
    try:
        changed.write_text(original.replace("so the chat connection is refused", "and the chat is refused"))
        await sync_to_async(ingest)(FIXTURES / "hybrid")
        _, third = await ask(other, "what does E4403 mean")
    finally:
        changed.write_text(original)
    # then
    assert len(_answer_requests(llm)) == calls + 1
    assert (await Message.objects.aget(pk=third["message_id"])).from_cache is False
    assert await CachedAnswer.objects.acount() == 1
    await chat.disconnect()
    await other.disconnect()


def test_ask_command_prints_the_pipeline_result_as_json(knowledge, no_llm):
    # given
    out = StringIO()
    # when
    call_command("ask", "how do I get my money back", "--json", stdout=out)
    # then
    result = json.loads(out.getvalue())
    assert set(result) >= {"answer", "citations", "confidence", "confidence_label", "escalate", "guards", "timings"}
    assert set(result["timings"]) == {"retrieve_ms", "generate_ms", "total_ms"}
    assert re.fullmatch(r"/help/doc/\d+/#getting-your-payment-returned", result["citations"][0]["url"])
    assert result["escalate"] is False
