"""No acknowledged question is left without a reply: the answering killed mid-stream (the visitor's connection
closing, Redis dying during the broadcast, the database refusing the answer) still ends with the question answered,
or apologised for with a human offer, and no empty bot message anywhere — through the real ASGI application,
the real Postgres, a real redis-server and the local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from supportbot.answering.pipeline import HUMAN_OFFER, LLM_FAILED, OFFLINE_MODEL
from supportbot.chat import recovery
from supportbot.chat.answer_states import answer_pending_create
from supportbot.chat.models import Conversation, Message
from supportbot.chat.tasks import answers_sweep_task
from supportbot.console.inbox import InboxFilters, escalation_rows, inbox_rows
from supportbot.console.inbox import agent_transcript as console_transcript
from tests.chat.conftest import ask, open_chat
from tests.fake_llm import cite_first_passage

pytestmark = [pytest.mark.django_db(transaction=True)]
QUESTION = "how do I get my money back"
# Long enough to still be streaming when the test acts, slow enough to act in the middle of it.
SLOW_REPLY = " ".join(
    ["If you cancel within 14 days of purchase we return the full payment to the card you paid with [1]."] * 6
)


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def redis_layer(settings, redis_server) -> str:
    """The channel layer of a scaled-out deployment, on a real redis-server this test may kill."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "supportbot.channel_layer.ReconnectingRedisChannelLayer",
            "CONFIG": {"hosts": [redis_server]},
        }
    }
    return redis_server


@pytest.fixture
def answers_refused(transactional_db):
    """A real database error on storing a finished answer: a trigger that raises when a bot reply becomes done."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse_answers() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the disk is full (test trigger)'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_refuse_answers BEFORE INSERT OR UPDATE ON chat_message FOR EACH ROW "
            "WHEN (NEW.role = 'bot' AND NEW.state = 'done') EXECUTE FUNCTION test_refuse_answers()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_refuse_answers ON chat_message")
        cursor.execute("DROP FUNCTION test_refuse_answers()")


async def frames_until(chat, kind: str, *, timeout: float = 10) -> list[dict]:
    """Every frame up to and including the first of `kind`."""
    frames = []
    while not frames or frames[-1]["type"] != kind:
        frames.append(await chat.receive_json_from(timeout=timeout))
    return frames


async def no_empty_bot_message() -> bool:
    return not await Message.objects.filter(role="bot", text="").aexists()


def abandoned_question(widget, *, text: str = QUESTION, claimed_seconds_ago: float | None = None) -> Message:
    """A question acknowledged on a server that died before answering: its reply pending, claimed long ago."""
    conversation = Conversation.objects.create(widget=widget, visitor_id="visitor-gone")
    question = Message.objects.create(conversation=conversation, role="visitor", text=text)
    bot = answer_pending_create(conversation=conversation, question=question)
    ago = django_settings.CHAT_ANSWER_GRACE_SECONDS + 1 if claimed_seconds_ago is None else claimed_seconds_ago
    Message.objects.filter(pk=bot.pk).update(claimed_at=timezone.now() - timedelta(seconds=ago))
    return bot


async def test_a_visitor_who_leaves_mid_answer_finds_it_answered_when_they_come_back(widget, knowledge, llm, settings):
    # given: the model streams slowly
    llm.reply, llm.token_delay, settings.LLM_TIMEOUT_SECONDS = SLOW_REPLY, 0.1, 20.0
    chat, session = await open_chat()
    await chat.send_json_to({"type": "message", "text": QUESTION, "client_id": "q-1"})
    assert (await chat.receive_json_from(timeout=5))["type"] == "received"
    streaming = await chat.receive_json_from(timeout=10)
    assert streaming["type"] == "token"
    # when: the connection closes while tokens flow, and Channels cancels the answering
    await chat.disconnect(timeout=0.2)
    bot = await Message.objects.aget(pk=streaming["message_id"])
    assert (bot.state, bot.text, bot.claimed_at) == ("pending", "", None)  # released for recovery, nothing half
    again, resumed = await open_chat(conversation=session["conversation_id"])
    # then: the transcript holds the question answered (from the help centre) with a human offer
    visitor, reply = resumed["messages"]
    assert (visitor["role"], visitor["text"], reply["role"]) == ("visitor", QUESTION, "bot")
    assert reply["message_id"] == streaming["message_id"]
    assert "14 days" in reply["text"] and str(HUMAN_OFFER) in reply["text"]
    assert reply["escalation_offered"] is True and reply["citations"]
    # and the same answer follows the session, for a widget that kept its half-streamed bubble
    follow_up = await again.receive_json_from(timeout=5)
    assert follow_up["type"] == "answer" and follow_up["message_id"] == reply["message_id"]
    assert follow_up["text"] == reply["text"]
    bot = await Message.objects.aget(pk=reply["message_id"])
    assert (bot.state, bot.model) == ("done", OFFLINE_MODEL)
    assert await no_empty_bot_message()
    await again.disconnect()


async def test_redis_dying_during_the_answer_never_keeps_it_from_the_visitor(
    widget, knowledge, llm, redis_layer, caplog, settings
):
    # given: a conversation on the Redis channel layer, an answer streaming
    llm.reply, llm.token_delay, settings.LLM_TIMEOUT_SECONDS = SLOW_REPLY, 0.02, 20.0
    chat, session = await open_chat()
    await chat.send_json_to({"type": "message", "text": QUESTION})
    assert (await chat.receive_json_from(timeout=5))["type"] == "received"
    assert (await chat.receive_json_from(timeout=10))["type"] == "token"
    # when: Redis dies before the answer is broadcast to agents' consoles
    caplog.set_level(logging.WARNING, logger="supportbot.chat.broadcasts")
    await sync_to_async(redis.Redis.from_url(redis_layer).shutdown)(nosave=True)
    frames = await frames_until(chat, "answer")
    # then: the visitor has the whole answer, stored
    answer = frames[-1]
    assert [f["type"] for f in frames] == ["token"] * (len(frames) - 1) + ["answer"]
    assert "14 days" in answer["text"] and answer["citations"]
    bot = await Message.objects.aget(pk=answer["message_id"])
    assert (bot.state, bot.text, bot.model) == ("done", answer["text"], "fake-model")
    # and the conversation goes on without Redis: the next question is answered too
    llm.reply = cite_first_passage
    _, again = await ask(chat, "what does E4403 mean")
    assert again["type"] == "answer" and "allowed origins" in again["text"]
    await chat.disconnect()
    # and the broadcasts that failed (both answers', each after it was sent, and the next question's) were logged
    assert caplog.text.count("could not send conversation.updated to agents") == 3
    # and coming back shows both answers
    back, resumed = await open_chat(conversation=session["conversation_id"])
    assert [m["role"] for m in resumed["messages"]] == ["visitor", "bot", "visitor", "bot"]
    assert await no_empty_bot_message()
    await back.disconnect()


async def test_a_database_error_on_storing_the_answer_gives_an_apology_and_a_human(
    widget, knowledge, llm, answers_refused
):
    # given: the database refuses to store finished answers
    chat, session = await open_chat()
    # when
    await chat.send_json_to({"type": "message", "text": QUESTION})
    assert (await chat.receive_json_from(timeout=5))["type"] == "received"
    frames = await frames_until(chat, "answer")
    escalated = await chat.receive_json_from(timeout=5)
    # then: the visitor gets the apology with a human offer, and the conversation goes to a human
    apology = frames[-1]
    assert apology["text"] == f"{LLM_FAILED} {HUMAN_OFFER}" and apology["escalation_offered"] is True
    assert escalated["type"] == "escalated" and escalated["reason"] == "answer_failed"
    bot = await Message.objects.aget(pk=apology["message_id"])
    assert (bot.state, bot.text) == ("failed", apology["text"])
    assert bot.guard_results[-1]["action"] == "apology"
    conversation = await Conversation.objects.aget(pk=session["conversation_id"])
    assert conversation.status == "escalated"
    await chat.disconnect()
    # and after reconnecting, the transcript says the same: question, apology, the escalation note
    again, resumed = await open_chat(conversation=session["conversation_id"])
    assert [(m["role"], m["message_id"]) for m in resumed["messages"][:2]] == [
        ("visitor", bot.reply_to_id),
        ("bot", bot.pk),
    ]
    assert resumed["messages"][1]["text"] == apology["text"] and resumed["messages"][2]["role"] == "system"
    assert await again.receive_nothing(timeout=0.3)  # nothing was left to recover
    assert await no_empty_bot_message()
    await again.disconnect()


@pytest.fixture
def database(request) -> str:
    """The database as the test's parameter wants it: "working", or "refusing" to store finished answers."""
    if request.param == "refusing":
        request.getfixturevalue("answers_refused")
    return request.param


@pytest.mark.parametrize(
    "database, state, status",
    [
        pytest.param("working", "done", "open", id="answered-from-the-help-centre"),
        pytest.param("refusing", "failed", "escalated", id="apologised-and-escalated"),
    ],
    indirect=["database"],
)
async def test_the_sweep_answers_a_question_whose_visitor_never_came_back(
    widget, knowledge, llm, database, state, status
):
    # given: a question whose server died before answering it, and an agent console listening
    refuse = database == "refusing"
    bot = await sync_to_async(abandoned_question)(widget)
    layer = get_channel_layer()
    console = await layer.new_channel()
    await layer.group_add("agents", console)
    # when: the periodic sweep runs (Celery beat's task; eager here)
    swept = await sync_to_async(lambda: answers_sweep_task.delay().get())()
    # then: the reply is answered, or apologised for, always with a human offer
    assert swept == [bot.pk]
    bot = await Message.objects.select_related("conversation").aget(pk=bot.pk)
    assert bot.state == state and bot.text and str(HUMAN_OFFER) in bot.text
    assert bot.escalation_offered is True and bot.conversation.status == status
    assert len(llm.requests) == 0  # nobody was waiting: answered without spending the model's tokens
    # and agents see it: a live update, and the inbox row (or the escalation queue)
    event = await layer.receive(console)
    assert event["conversation_id"] == str(bot.conversation_id)
    rows = await sync_to_async(escalation_rows if refuse else lambda: inbox_rows(InboxFilters()))()
    assert [(row["id"], row["last_role"]) for row in rows] == [
        (str(bot.conversation_id), "system" if refuse else "bot")
    ]
    # and a second sweep has nothing left to do
    assert await sync_to_async(lambda: answers_sweep_task.delay().get())() == []
    assert await no_empty_bot_message()


async def test_a_reply_still_being_written_is_left_to_its_answerer_and_never_shown_empty(widget, knowledge, no_llm):
    # given: a reply an answerer (on another server) claimed a moment ago
    bot = await sync_to_async(abandoned_question)(widget, claimed_seconds_ago=1)
    conversation = await Conversation.objects.aget(pk=bot.conversation_id)
    # when: its visitor reconnects
    chat, resumed = await open_chat(visitor=conversation.visitor_id, conversation=str(conversation.pk))
    # then: the transcript has the question and no empty reply; the answerer keeps it
    assert [m["role"] for m in resumed["messages"]] == ["visitor"]
    bot = await Message.objects.aget(pk=bot.pk)
    assert (bot.state, bot.text) == ("pending", "")
    # and so do the agents' console: its transcript and its inbox row
    assert [m["role"] for m in await sync_to_async(console_transcript)(conversation)] == ["visitor"]
    assert await sync_to_async(lambda: inbox_rows(InboxFilters())[0]["last_role"])() == "visitor"
    await chat.disconnect()


async def test_a_visitor_connected_when_the_sweep_answers_gets_the_answer(widget, knowledge, no_llm, settings):
    # given: a reply left unfinished in a conversation whose visitor is connected (it was claimed after they
    # connected, so their connection did not recover it)
    settings.CHAT_SWEEP_SECONDS = 0
    chat, session = await open_chat()
    conversation = await Conversation.objects.aget(pk=session["conversation_id"])
    question = await Message.objects.acreate(conversation=conversation, role="visitor", text=QUESTION)
    bot = await sync_to_async(answer_pending_create)(conversation=conversation, question=question)
    await Message.objects.filter(pk=bot.pk).aupdate(claimed_at=None)
    # when: the sweep runs (in this event loop, as the server's own sweep does without a broker)
    assert await recovery.answers_sweep() == [bot.pk]
    # then
    answer = await chat.receive_json_from(timeout=5)
    assert answer["type"] == "answer" and answer["message_id"] == bot.pk and str(HUMAN_OFFER) in answer["text"]
    await chat.disconnect()


async def test_without_a_broker_the_server_runs_the_sweep_itself(widget, knowledge, no_llm, settings):
    # given: no Redis (Celery eager), a one-second sweep, and a question a dead server left unanswered
    assert settings.CELERY_TASK_ALWAYS_EAGER
    assert settings.CELERY_BEAT_SCHEDULE["chat-answers-sweep"]["task"] == answers_sweep_task.name
    settings.CHAT_SWEEP_SECONDS = 1
    bot = await sync_to_async(abandoned_question)(widget)
    # when: the server is up (its first chat connection starts the loop) and a while passes
    chat, _ = await open_chat()
    for _ in range(100):
        await asyncio.sleep(0.1)
        if (await Message.objects.aget(pk=bot.pk)).state == "done":
            break
    # then
    bot = await Message.objects.aget(pk=bot.pk)
    assert bot.state == "done" and str(HUMAN_OFFER) in bot.text
    await chat.disconnect()


def test_replies_left_empty_before_states_existed_become_apologies(widget):
    # given: the database as it was before bot messages had a state, with a reply the old answering left empty
    executor = MigrationExecutor(connection)
    before, after = [("chat", "0004_widget_limits")], executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    conversation = old.get_model("chat", "Conversation").objects.create(widget_id=widget.pk, visitor_id="v-old")
    messages = old.get_model("chat", "Message").objects
    question = messages.create(conversation=conversation, role="visitor", text=QUESTION)
    empty = messages.create(conversation=conversation, role="bot", text="", reply_to=question)
    answered = messages.create(conversation=conversation, role="bot", text="Within 14 days [1].", reply_to=question)
    # when
    MigrationExecutor(connection).migrate(after)
    # then: the empty reply apologises with a human offer; everything else is done, as it was
    empty, answered = Message.objects.get(pk=empty.pk), Message.objects.get(pk=answered.pk)
    assert (empty.state, empty.text, empty.escalation_offered) == ("failed", f"{LLM_FAILED} {HUMAN_OFFER}", True)
    assert (answered.state, answered.text) == ("done", "Within 14 days [1].")
    assert Message.objects.get(pk=question.pk).state == "done"
