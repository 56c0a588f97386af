"""Signed widget session tokens: POST /api/widget/session, then the websocket with &token=..."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.db import connections
from django.test import AsyncClient

from supportbot.asgi import application
from supportbot.chat import tokens
from supportbot.chat.models import Conversation, Widget
from tests.chat.conftest import ORIGIN, open_chat

pytestmark = [pytest.mark.django_db(transaction=True)]
OTHER_ORIGIN = "https://shop.example"


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


async def session_post(body: dict, *, origin: str = ORIGIN, client: AsyncClient | None = None):
    client = client or AsyncClient()
    return await client.post("/api/widget/session", body, content_type="application/json", headers={"Origin": origin})


async def test_a_token_from_the_endpoint_opens_the_chat(widget, no_llm):
    # given: a visitor id this server issued for the widget
    visitor = tokens.visitor_id_issue(widget_key="test-widget")
    # when
    response = await session_post({"key": "test-widget", "visitor": visitor})
    # then: readable by the page that asked, never cached, the visitor kept, and good for the websocket
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ORIGIN and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["visitor_id"] == visitor and body["expires_in"] == 300
    chat, session = await open_chat(visitor=visitor, token=body["token"])
    assert session["type"] == "session" and session["visitor_id"] == visitor
    await chat.disconnect()


@pytest.mark.parametrize(
    "claimed",
    [
        pytest.param("<script>", id="malformed"),
        pytest.param("visitor-0001", id="unsigned-well-formed"),
        pytest.param(None, id="none"),
    ],
)
async def test_a_visitor_id_the_server_did_not_issue_gets_a_fresh_one_bound_to_the_token(claimed, widget, no_llm):
    body = (await session_post({"key": "test-widget", "visitor": claimed})).json()
    assert body["visitor_id"] != claimed and tokens.visitor_id_verified(body["visitor_id"], widget_key="test-widget")
    chat, session = await open_chat(visitor=body["visitor_id"], token=body["token"])
    assert session["visitor_id"] == body["visitor_id"]
    await chat.disconnect()


async def test_the_socket_takes_its_visitor_from_the_token_not_from_the_query_string(widget, no_llm):
    # given: a token the endpoint issued, and a socket that does not name a visitor
    body = (await session_post({"key": "test-widget"})).json()
    token = body["token"]
    communicator = WebsocketCommunicator(
        application,
        f"/ws/chat/?key=test-widget&token={token}",
        headers=[(b"origin", ORIGIN.encode()), (b"host", b"testserver")],
    )
    # when
    connected, _ = await communicator.connect()
    session = await communicator.receive_json_from(timeout=5)
    # then: the conversation is the token's visitor's
    assert connected and session["type"] == "session" and session["visitor_id"] == body["visitor_id"]
    conversation = await Conversation.objects.aget(pk=session["conversation_id"])
    assert conversation.visitor_id == body["visitor_id"]
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("body", "origin", "status", "code"),
    [
        pytest.param({"key": "test-widget"}, "https://evil.example", 403, "origin_not_allowed", id="origin-refused"),
        pytest.param({"key": "test-widget"}, "", 403, "origin_not_allowed", id="no-origin"),
        pytest.param({"key": "no-such-key"}, ORIGIN, 404, "unknown_widget", id="unknown-key"),
        pytest.param({"visitor": "visitor-0001"}, ORIGIN, 400, "malformed_request", id="no-key"),
        pytest.param({"key": ["test-widget"]}, ORIGIN, 400, "malformed_request", id="key-not-text"),
    ],
)
async def test_the_endpoint_refuses_clearly(body, origin, status, code, widget):
    response = await session_post(body, origin=origin)
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["detail"]
    assert "token" not in response.json()


async def test_the_endpoint_refuses_bad_json_and_other_methods(widget):
    client = AsyncClient()
    bad = await client.post(
        "/api/widget/session", "{not json", content_type="application/json", headers={"Origin": ORIGIN}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "malformed_request"
    get = await client.get("/api/widget/session", headers={"Origin": ORIGIN})
    assert get.status_code == 405


async def test_the_cors_preflight_is_answered(widget):
    response = await AsyncClient().options(
        "/api/widget/session", headers={"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == OTHER_ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "Content-Type"


def _expired() -> str:
    real = time.time
    signing.time.time = lambda: real() - 301  # issued just over the 300 s allowed
    try:
        return tokens.session_token_sign(widget_key="test-widget", origin=ORIGIN, visitor_id="visitor-0001")
    finally:
        signing.time.time = real


def _tampered() -> str:
    token = tokens.session_token_sign(widget_key="test-widget", origin=ORIGIN, visitor_id="visitor-0001")
    payload, rest = token.split(":", 1)
    claims = signing.b64_decode(payload.encode()).replace(b"visitor-0001", b"visitor-0002")
    return signing.b64_encode(claims).decode() + ":" + rest


def _forged() -> str:
    claims = {"k": "test-widget", "o": ORIGIN, "v": "visitor-0001"}
    return signing.dumps(claims, key="not-the-server-secret", salt="supportbot.chat.widget-session")


def _signed(**overrides) -> str:
    claims = {"widget_key": "test-widget", "origin": ORIGIN, "visitor_id": "visitor-0001", **overrides}
    return tokens.session_token_sign(**claims)


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        pytest.param(lambda: "", "token_missing", id="missing"),
        pytest.param(_expired, "token_expired", id="expired"),
        pytest.param(_tampered, "token_invalid", id="tampered"),
        pytest.param(_forged, "token_invalid", id="forged"),
        pytest.param(lambda: "garbage", "token_invalid", id="garbage"),
        pytest.param(lambda: _signed(origin=OTHER_ORIGIN), "token_wrong_origin", id="wrong-origin"),
        pytest.param(lambda: _signed(widget_key="other-widget"), "token_wrong_widget", id="another-widget"),
        pytest.param(lambda: _signed(visitor_id="visitor-0002"), "token_wrong_visitor", id="another-visitor"),
    ],
)
async def test_a_socket_without_a_fitting_token_is_refused(make_token, code, widget, no_llm):
    # given: both origins are allowed for the widget (so only the token can be wrong), and another widget exists
    await Widget.objects.filter(pk=widget.pk).aupdate(allowed_origins=[ORIGIN, OTHER_ORIGIN])
    await Widget.objects.acreate(key="other-widget", name="Other", allowed_origins=[ORIGIN])
    # when
    chat, frame = await open_chat(token=make_token())
    # then: a distinct code, a close, and no conversation
    assert frame["type"] == "error" and frame["code"] == code and frame["detail"]
    assert await chat.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
    assert await Conversation.objects.acount() == 0


async def test_the_tokens_age_limit_is_a_setting(widget, no_llm, settings):
    # given: a token issued 301 s ago is fine when tokens may be used for ten minutes
    settings.WIDGET_TOKEN_MAX_AGE_SECONDS = 600
    chat, session = await open_chat(token=_expired())
    assert session["type"] == "session"
    await chat.disconnect()
