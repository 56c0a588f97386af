"""CSAT: the visitor's 1–5 rating of a whole conversation, stored once per conversation through POST /api/csat
(checked like the widget's websocket: key, allowed page, session token for this visitor, their own conversation)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError, connections, transaction

from feedback.csat import csat_record, csat_summary
from feedback.models import CsatRating
from feedback.services import FeedbackError
from supportbot.chat.models import Conversation
from supportbot.chat.takeover import conversation_close
from supportbot.chat.tokens import session_token_sign
from tests.chat.conftest import ORIGIN, ask, open_chat
from tests.chat.factories import AnswerFactory, ConversationFactory, QuestionFactory, WidgetFactory

VISITOR = "visitor-0001"


@pytest.fixture
def conversation(db) -> Conversation:
    conversation = ConversationFactory(widget=WidgetFactory(), visitor_id=VISITOR)
    AnswerFactory(reply_to=QuestionFactory(conversation=conversation))
    return conversation


def _body(conversation: Conversation, **changes) -> dict:
    token = session_token_sign(widget_key=conversation.widget.key, origin=ORIGIN, visitor_id=conversation.visitor_id)
    body = {
        "key": conversation.widget.key,
        "conversation_id": str(conversation.pk),
        "visitor_id": conversation.visitor_id,
        "token": token,
        "score": 5,
        "comment": "Quick and clear",
    }
    return {**body, **changes}


def _post(client, body, *, origin: str = ORIGIN):
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"Origin": origin} if origin else {}
    return client.post("/api/csat", data=data, content_type="application/json", headers=headers)


def test_a_rating_is_stored_once_per_conversation_and_a_change_of_mind_updates_it(client, conversation):
    # when
    first = _post(client, _body(conversation))
    retried = _post(client, _body(conversation))
    # then
    assert first.status_code == retried.status_code == 200
    assert first.json() == {"type": "csat_saved", "score": 5}
    assert first["Access-Control-Allow-Origin"] == ORIGIN
    assert CsatRating.objects.filter(conversation=conversation).count() == 1
    # when
    changed = _post(client, _body(conversation, score=2, comment="on second thoughts, slow"))
    # then
    assert changed.status_code == 200
    assert list(CsatRating.objects.values_list("score", "comment")) == [(2, "on second thoughts, slow")]


def test_the_comment_is_stored_without_personal_data(client, conversation):
    # when
    _post(client, _body(conversation, comment="Great, mail me at jane@example.com"))
    # then
    assert CsatRating.objects.get().comment == "Great, mail me at [EMAIL]"


@pytest.mark.parametrize(
    ("change", "origin", "status", "code"),
    [
        pytest.param("not json", ORIGIN, 400, "malformed_json", id="not-json"),
        pytest.param("[5]", ORIGIN, 400, "malformed_json", id="not-an-object"),
        pytest.param({"score": 0}, ORIGIN, 400, "invalid_score", id="zero"),
        pytest.param({"score": 6}, ORIGIN, 400, "invalid_score", id="six"),
        pytest.param({"score": 4.5}, ORIGIN, 400, "invalid_score", id="a-fraction"),
        pytest.param({"score": "5"}, ORIGIN, 400, "invalid_score", id="a-string"),
        pytest.param({"score": True}, ORIGIN, 400, "invalid_score", id="a-boolean"),
        pytest.param({"score": None}, ORIGIN, 400, "invalid_score", id="missing"),
        pytest.param({"comment": ["x"]}, ORIGIN, 400, "malformed_field", id="comment-not-a-string"),
        pytest.param({"token": ""}, ORIGIN, 400, "missing_field", id="no-token"),
        pytest.param({"key": "nope"}, ORIGIN, 404, "unknown_widget", id="unknown-widget"),
        pytest.param({}, "https://evil.example", 403, "origin_not_allowed", id="foreign-origin"),
        pytest.param({}, "", 403, "origin_not_allowed", id="no-origin"),
        pytest.param({"token": "forged"}, ORIGIN, 403, "token_invalid", id="forged-token"),
        pytest.param({"conversation_id": "not-a-uuid"}, ORIGIN, 404, "unknown_conversation", id="bad-uuid"),
    ],
)
def test_bad_requests_get_a_clear_json_error_and_store_nothing(client, conversation, change, origin, status, code):
    # given
    body = change if isinstance(change, str) else _body(conversation, **change)
    # when
    response = _post(client, body, origin=origin)
    # then
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["detail"]
    assert not CsatRating.objects.exists()


def test_another_visitor_can_not_rate_the_conversation_even_with_a_token_of_their_own(client, conversation):
    # given: a real token, issued to another visitor of the same widget on an allowed page
    other = "visitor-9999"
    token = session_token_sign(widget_key=conversation.widget.key, origin=ORIGIN, visitor_id=other)
    # when: they name themselves, or claim to be the conversation's visitor
    as_themselves = _post(client, _body(conversation, visitor_id=other, token=token))
    as_the_visitor = _post(client, _body(conversation, token=token))
    # then
    assert (as_themselves.status_code, as_themselves.json()["code"]) == (404, "unknown_conversation")
    assert (as_the_visitor.status_code, as_the_visitor.json()["code"]) == (403, "token_wrong_visitor")
    assert not CsatRating.objects.exists()


def test_another_widgets_key_can_not_rate_the_conversation(client, conversation):
    # given: a second widget on the same site, with a valid token of its own for the same visitor id
    other = WidgetFactory(key="other-widget")
    token = session_token_sign(widget_key=other.key, origin=ORIGIN, visitor_id=VISITOR)
    # when
    response = _post(client, _body(conversation, key=other.key, token=token))
    # then
    assert (response.status_code, response.json()["code"]) == (404, "unknown_conversation")
    assert not CsatRating.objects.exists()


def test_a_conversation_nobody_answered_yet_can_not_be_rated(client, db):
    # given
    conversation = QuestionFactory(conversation=ConversationFactory(visitor_id=VISITOR)).conversation
    # when
    response = _post(client, _body(conversation))
    # then
    assert (response.status_code, response.json()["code"]) == (400, "nothing_to_rate")


def test_only_post_is_accepted_and_the_preflight_is_answered(client, conversation):
    assert client.get("/api/csat").status_code == 405
    preflight = client.options("/api/csat", headers={"Origin": ORIGIN})
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Methods"] == "POST"


@pytest.mark.parametrize("score", [pytest.param(0, id="zero"), pytest.param(6, id="six")])
def test_the_database_keeps_the_scale_whatever_writes_the_row(conversation, score):
    with pytest.raises(IntegrityError), transaction.atomic():
        CsatRating.objects.create(conversation=conversation, visitor_id=VISITOR, score=score)


def test_the_service_refuses_a_visitor_other_than_the_conversations(conversation):
    with pytest.raises(FeedbackError) as refused:
        csat_record(conversation=conversation, visitor_id="visitor-9999", score=5)
    assert refused.value.code == "unknown_conversation"


def test_the_summary_counts_scores_average_and_the_share_of_satisfied(db):
    # given: four rated conversations
    for score, comment in [(5, "great"), (4, ""), (2, "slow"), (5, "")]:
        conversation = ConversationFactory()
        AnswerFactory(reply_to=QuestionFactory(conversation=conversation))
        csat_record(conversation=conversation, visitor_id=conversation.visitor_id, score=score, comment=comment)
    # when
    summary = csat_summary()
    # then
    assert summary["ratings"] == 4 and summary["satisfied"] == 3
    assert summary["by_score"] == [0, 1, 0, 1, 2]
    assert summary["average"] == 4.0 and summary["score"] == 0.75
    assert [c["comment"] for c in summary["comments"]] == ["slow", "great"]


@pytest.mark.django_db(transaction=True)
async def test_the_widget_learns_when_to_ask_and_is_told_when_an_agent_closes_the_conversation(
    widget, knowledge, no_llm, settings
):
    # given: a visitor answered by the bot
    settings.CSAT_IDLE_SECONDS = 45
    chat, session = await open_chat()
    await ask(chat, "how do I get my money back")
    # then: the session frame says how long an idle visitor is left before the survey, and that none was given
    assert session["csat"] == {"idle_seconds": 45, "rated": False}
    # when: an agent closes the conversation
    agent = await sync_to_async(_staff)()
    await sync_to_async(conversation_close)(conversation_id=session["conversation_id"], agent=agent)
    # then: the visitor's notice says the conversation is closed (the widget's cue to ask)
    notice = await chat.receive_json_from(timeout=5)
    assert notice["type"] == "notice" and notice["status"] == "closed"
    await chat.disconnect()
    await sync_to_async(connections.close_all)()


def _staff():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("sam", is_staff=True)
