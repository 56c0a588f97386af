"""Per-route websocket origin policy: /ws/console/ opens only for Supportbot's own pages, /ws/chat/ for the pages
a widget allows (supportbot/origins.py). Driven through the real ASGI application with WebsocketCommunicator."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from supportbot.asgi import application
from supportbot.chat.models import Conversation, Widget
from supportbot.chat.tokens import session_token_sign
from supportbot.origins import OWN, WIDGET, origin_is_own
from supportbot.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "https://www.customer.example"


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def staff_session(settings) -> str:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    agent = get_user_model().objects.create_user("sam", password="pw-origin-12345", is_staff=True)
    client = Client()
    client.force_login(agent)
    return client.session.session_key


def _console(session_key: str, *, origin: str | None, host: str = "testserver") -> WebsocketCommunicator:
    headers = [(b"host", host.encode()), (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(application, "/ws/console/", headers=headers)


def test_every_websocket_route_declares_its_origin_policy():
    # given / when
    policies = {
        pattern.pattern.describe(): getattr(pattern.callback, "origin_policy", None)
        for pattern in websocket_urlpatterns
    }
    # then: a new route without a policy fails here
    assert policies == {"'ws/chat/'": WIDGET, "'ws/console/'": OWN}


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(CUSTOMER, id="a-customer-page"),
        pytest.param("http://testserver.evil.example", id="a-look-alike-host"),
        pytest.param("http://testserver:8081", id="another-port"),
        pytest.param("null", id="a-sandboxed-page"),
        pytest.param("", id="an-empty-origin"),
        pytest.param(None, id="no-origin"),
    ],
)
async def test_the_console_socket_refuses_staff_on_any_page_but_supportbots_own(staff_session, origin):
    # given: a signed-in agent's cookie, sent from a page elsewhere
    socket = _console(staff_session, origin=origin)
    # when
    connected, _ = await socket.connect()
    # then: refused at the handshake (HTTP 403: closed before it was accepted)
    assert connected is False
    await socket.disconnect()


async def test_the_console_socket_accepts_staff_on_supportbots_own_page(staff_session):
    # given: Supportbot's own page (its host is in ALLOWED_HOSTS, which is left at its default)
    socket = _console(staff_session, origin="http://testserver")
    # when
    connected, _ = await socket.connect()
    # then
    assert connected is True
    assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
    await socket.disconnect()


async def test_behind_a_proxy_that_rewrites_host_the_console_trusts_csrf_trusted_origins(staff_session, settings):
    # given: the proxy passes Host "127.0.0.1:8001"; the public origin is listed as for Django's CSRF check
    settings.CSRF_TRUSTED_ORIGINS = ["https://support.example.com"]
    socket = _console(staff_session, origin="https://support.example.com", host="127.0.0.1:8001")
    # when
    connected, _ = await socket.connect()
    # then
    assert connected is True
    await socket.disconnect()


async def test_a_host_outside_allowed_hosts_is_refused_even_when_origin_and_host_agree(staff_session):
    # given: a rebound DNS name: the page and the Host header both say rebound.example
    socket = _console(staff_session, origin="http://rebound.example", host="rebound.example")
    # when
    connected, _ = await socket.connect()
    # then
    assert connected is False
    await socket.disconnect()


@pytest.mark.parametrize(
    ("origin", "host", "secure", "trusted", "expected"),
    [
        pytest.param("http://testserver", "testserver", False, [], True, id="same-origin"),
        pytest.param("HTTP://TestServer/", "testserver", False, [], True, id="case-and-slash"),
        pytest.param("https://localhost:443", "localhost", False, [], True, id="default-port"),
        pytest.param("http://localhost:8000", "localhost:8000", False, [], True, id="with-port"),
        pytest.param("http://localhost:8000", "localhost:8001", False, [], False, id="other-port"),
        pytest.param("http://testserver", "testserver", True, [], False, id="plain-http-when-secure"),
        pytest.param("https://testserver", "testserver", True, [], True, id="https-when-secure"),
        pytest.param("https://a.example.com", "10.0.0.5", False, ["https://*.example.com"], True, id="wildcard"),
        pytest.param("http://a.example.com", "10.0.0.5", False, ["https://*.example.com"], False, id="scheme-differs"),
        pytest.param("https://user@testserver", "testserver", False, [], False, id="userinfo"),
        pytest.param("http://testserver:port", "testserver", False, [], False, id="bad-port"),
        pytest.param("javascript:alert(1)", "testserver", False, [], False, id="not-http"),
    ],
)
def test_which_origins_are_supportbots_own(settings, origin, host, secure, trusted, expected):
    # given
    settings.SECURE = secure
    settings.CSRF_TRUSTED_ORIGINS = trusted
    # when / then
    assert origin_is_own(origin, host=host) is expected


async def test_the_chat_socket_opens_for_a_customer_page_the_widget_allows():
    # given: a widget on a customer's site, whose host is not one of Supportbot's (ALLOWED_HOSTS at its default)
    await Widget.objects.acreate(key="shop", name="Shop", allowed_origins=[CUSTOMER])
    token = session_token_sign(widget_key="shop", origin=CUSTOMER, visitor_id="visitor-0001")
    headers = [(b"origin", CUSTOMER.encode()), (b"host", b"testserver")]
    chat = WebsocketCommunicator(application, f"/ws/chat/?key=shop&visitor=visitor-0001&token={token}", headers=headers)
    # when
    connected, _ = await chat.connect()
    # then: the conversation starts
    assert connected is True
    assert (await chat.receive_json_from(timeout=5))["type"] == "session"
    await chat.disconnect()


async def test_the_chat_socket_refuses_a_page_the_widget_does_not_allow_even_with_a_stolen_token():
    # given: a token issued to the customer's page, replayed from another site
    await Widget.objects.acreate(key="shop", name="Shop", allowed_origins=[CUSTOMER])
    token = session_token_sign(widget_key="shop", origin=CUSTOMER, visitor_id="visitor-0001")
    headers = [(b"origin", b"https://www.evil.example"), (b"host", b"testserver")]
    chat = WebsocketCommunicator(application, f"/ws/chat/?key=shop&visitor=visitor-0001&token={token}", headers=headers)
    # when
    await chat.connect()
    # then: an error frame, the socket closed, no conversation
    assert (await chat.receive_json_from(timeout=5))["code"] == "origin_not_allowed"
    assert await chat.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    assert await Conversation.objects.acount() == 0
