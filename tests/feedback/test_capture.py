"""Capturing ratings: over the widget's websocket and over POST /api/feedback, exactly once, changeable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from feedback.models import Rating
from feedback.services import feedback_record
from kb.services import kb_state
from supportbot.chat.models import CachedAnswer
from tests.chat.conftest import ORIGIN, ask, open_chat
from tests.chat.factories import AnswerFactory, ConversationFactory, QuestionFactory, WidgetFactory


@pytest.fixture
def answer(db):
    conversation = ConversationFactory(widget=WidgetFactory(), visitor_id="visitor-0001")
    return AnswerFactory(reply_to=QuestionFactory(conversation=conversation))


def _post(client, body, *, origin: str = ORIGIN):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"Origin": origin} if origin else {}
    return client.post("/api/feedback", data=data, content_type="application/json", headers=headers)


def _body(answer, **changes) -> dict:
    body = {
        "key": answer.conversation.widget.key,
        "conversation_id": str(answer.conversation_id),
        "visitor_id": answer.conversation.visitor_id,
        "message_id": answer.pk,
        "rating": "up",
    }
    return {**body, **changes}


@pytest.mark.django_db(transaction=True)
async def test_over_the_websocket_the_same_rating_twice_is_one_row_and_a_change_updates_it(widget, knowledge, no_llm):
    # given
    chat, _ = await open_chat()
    _, answer = await ask(chat, "how do I get my money back")
    up = {"type": "feedback", "message_id": answer["message_id"], "rating": "up"}
    # when
    for frame in (up, up):
        await chat.send_json_to(frame)
        assert (await chat.receive_json_from(timeout=5))["type"] == "feedback_saved"
    # then
    assert await Rating.objects.filter(message_id=answer["message_id"]).acount() == 1
    # when
    await chat.send_json_to({**up, "rating": "down", "reason": "outdated", "comment": "prices changed"})
    saved = await chat.receive_json_from(timeout=5)
    # then
    assert saved == {"type": "feedback_saved", "message_id": answer["message_id"], "rating": "down"}
    ratings = [r async for r in Rating.objects.filter(message_id=answer["message_id"])]
    assert [(r.value, r.reason, r.comment) for r in ratings] == [("down", "outdated", "prices changed")]
    await chat.disconnect()
    await sync_to_async(connections.close_all)()


def test_over_http_a_retried_request_is_stored_once_and_a_change_updates_it(client, answer):
    # when
    first = _post(client, _body(answer, reason="", comment=""))
    retried = _post(client, _body(answer))
    # then
    assert first.status_code == retried.status_code == 200
    assert first.json() == {"type": "feedback_saved", "message_id": answer.pk, "rating": "up", "reason": ""}
    assert first["Access-Control-Allow-Origin"] == ORIGIN
    assert Rating.objects.filter(message=answer).count() == 1
    # when
    changed = _post(client, _body(answer, rating="down", reason="wrong", comment="not what I asked"))
    # then
    assert changed.status_code == 200 and changed.json()["rating"] == "down"
    assert list(Rating.objects.values_list("value", "reason", "comment")) == [("down", "wrong", "not what I asked")]


@pytest.mark.parametrize(
    ("change", "origin", "status", "code"),
    [
        pytest.param("not json", ORIGIN, 400, "malformed_json", id="not-json"),
        pytest.param("[1, 2]", ORIGIN, 400, "malformed_json", id="not-an-object"),
        pytest.param({"rating": ""}, ORIGIN, 400, "missing_field", id="no-rating"),
        pytest.param({"visitor_id": 7}, ORIGIN, 400, "missing_field", id="visitor-not-a-string"),
        pytest.param({"message_id": "12"}, ORIGIN, 400, "malformed_field", id="message-id-a-string"),
        pytest.param({"message_id": True}, ORIGIN, 400, "malformed_field", id="message-id-a-boolean"),
        pytest.param({"comment": ["x"]}, ORIGIN, 400, "malformed_field", id="comment-not-a-string"),
        pytest.param({"rating": "meh"}, ORIGIN, 400, "invalid_rating", id="bad-rating"),
        pytest.param({"rating": "down", "reason": "boring"}, ORIGIN, 400, "invalid_reason", id="bad-reason"),
        pytest.param({"key": "nope"}, ORIGIN, 404, "unknown_widget", id="unknown-widget"),
        pytest.param({}, "https://evil.example", 403, "origin_not_allowed", id="foreign-origin"),
        pytest.param({}, "", 403, "origin_not_allowed", id="no-origin"),
        pytest.param({"visitor_id": "visitor-9999"}, ORIGIN, 404, "unknown_conversation", id="someone-elses"),
        pytest.param({"conversation_id": "not-a-uuid"}, ORIGIN, 404, "unknown_conversation", id="bad-uuid"),
        pytest.param({"message_id": 10**9}, ORIGIN, 404, "unknown_message", id="unknown-answer"),
    ],
)
def test_bad_http_requests_get_a_clear_json_error_and_store_nothing(client, answer, change, origin, status, code):
    # given
    body = change if isinstance(change, str) else _body(answer, **change)
    # when
    response = _post(client, body, origin=origin)
    # then
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["detail"]
    assert not Rating.objects.exists()
    if status == 403:
        assert "Access-Control-Allow-Origin" not in response  # a refused page may not even read the answer


def test_the_question_itself_can_not_be_rated_over_http(client, answer):
    response = _post(client, _body(answer, message_id=answer.reply_to_id))
    assert response.status_code == 404 and response.json()["code"] == "unknown_message"


def test_only_post_is_accepted_and_the_preflight_is_answered(client, answer):
    # when
    get = client.get("/api/feedback")
    preflight = client.options("/api/feedback", headers={"Origin": ORIGIN})
    # then
    assert get.status_code == 405 and get.json()["code"] == "method_not_allowed"
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Methods"] == "POST"


def _cache_entry(message) -> CachedAnswer:
    return CachedAnswer.objects.create(
        widget=message.conversation.widget,
        question=message.reply_to.text,
        embedding=np.full(384, 0.05).tolist(),
        message=message,
        kb_version=kb_state().version,
    )


@pytest.mark.parametrize("served_from_cache", [False, True], ids=["original", "cached-copy"])
def test_a_down_rated_answer_leaves_the_semantic_cache(db, answer, served_from_cache):
    # given: the answer is cached; maybe the visitor got a copy of it from the cache
    _cache_entry(answer)
    rated = answer
    if served_from_cache:
        rated = AnswerFactory(text=answer.text, from_cache=True, timings={"cached_from": answer.pk})
    # when
    feedback_record(
        message_id=rated.pk,
        conversation_id=rated.conversation_id,
        visitor_id=rated.conversation.visitor_id,
        rating="down",
    )
    # then
    assert not CachedAnswer.objects.exists()


def test_an_up_rated_answer_stays_in_the_cache(db, answer):
    _cache_entry(answer)
    feedback_record(
        message_id=answer.pk, conversation_id=answer.conversation_id, visitor_id="visitor-0001", rating="up"
    )
    assert CachedAnswer.objects.count() == 1
