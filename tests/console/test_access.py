"""Only staff reach the console: anonymous visitors are sent to sign in, other users get 403, agents get 403 on
the admin pages; the console websocket refuses anyone but staff; failed sign-ins are throttled."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.urls import reverse

from supportbot.asgi import application
from tests.console.conftest import PASSWORD

AGENT, ADMIN = "agent", "admin"
ANY_ID = uuid.uuid4()
# (url name, arguments, method, lowest role) — every console URL but sign-in and sign-out.
CONSOLE_URLS = [
    ("inbox", [], "get", AGENT),
    ("jsi18n", [], "get", AGENT),
    ("inbox-json", [], "get", AGENT),
    ("conversation", [ANY_ID], "get", AGENT),
    ("review", [], "get", AGENT),
    ("review-item", [1], "get", AGENT),
    ("review-item", [1], "post", AGENT),
    ("mark-good", [1], "post", AGENT),
    ("correction-approve", [1], "post", ADMIN),
    ("correction-reject", [1], "post", ADMIN),
    ("analytics", [], "get", AGENT),
    ("exports", [], "get", ADMIN),
    ("exports", [], "post", ADMIN),
    ("entry-create", [], "post", ADMIN),
    ("kb", [], "get", ADMIN),
    ("kb-upload", [], "post", ADMIN),
    ("kb-urls", [], "post", ADMIN),
    ("kb-jobs", [], "get", ADMIN),
    ("document", [1], "get", ADMIN),
    ("document-reingest", [1], "post", ADMIN),
    ("document-delete", [1], "post", ADMIN),
    ("document-release", [1], "post", ADMIN),
    ("document-keep-quarantined", [1], "post", ADMIN),
    ("playground", [], "get", ADMIN),
    ("widgets", [], "get", ADMIN),
    ("widget-new", [], "get", ADMIN),
    ("widget-new", [], "post", ADMIN),
    ("widget-edit", [1], "get", ADMIN),
    # Drafts from resolved conversations (issue #15)
    ("conversation-resolve", [ANY_ID], "post", AGENT),
    ("draft", [1], "get", AGENT),
    ("draft", [1], "post", AGENT),
    ("draft-approve", [1], "post", ADMIN),
    ("draft-reject", [1], "post", ADMIN),
]
ALL = [pytest.param(name, args, method, id=f"{method}-{name}") for name, args, method, _ in CONSOLE_URLS]
ADMIN_ONLY = [pytest.param(n, a, m, id=f"{m}-{n}") for n, a, m, role in CONSOLE_URLS if role == ADMIN]


def test_every_console_url_is_listed():
    from supportbot.console.urls import urlpatterns

    names = {pattern.name for pattern in urlpatterns} - {"login", "logout"}
    assert names == {name for name, *_ in CONSOLE_URLS}


@pytest.mark.parametrize(("name", "args", "method"), ALL)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, name, args, method):
    # when
    url = reverse(f"console:{name}", args=args)
    response = getattr(client, method)(url)
    # then
    assert response.status_code == 302
    assert response["Location"].startswith(reverse(settings.LOGIN_URL) + "?next=")


@pytest.mark.parametrize(("name", "args", "method"), ALL)
def test_users_who_are_not_staff_get_403(customer_client, name, args, method):
    response = getattr(customer_client, method)(reverse(f"console:{name}", args=args))
    assert response.status_code == 403


@pytest.mark.parametrize(("name", "args", "method"), ADMIN_ONLY)
def test_agents_get_403_on_admin_pages(agent_client, name, args, method):
    response = getattr(agent_client, method)(reverse(f"console:{name}", args=args))
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["inbox", "review", "analytics", "inbox-json", "jsi18n"])
def test_agents_reach_their_pages(agent_client, name):
    assert agent_client.get(reverse(f"console:{name}")).status_code == 200


@pytest.mark.parametrize("name", ["kb", "playground", "widgets", "widget-new", "exports", "kb-jobs"])
def test_admins_reach_admin_pages(support_admin_client, name):
    assert support_admin_client.get(reverse(f"console:{name}")).status_code == 200


def test_the_navigation_shows_admin_sections_to_admins_only(agent_client, support_admin_client):
    kb_url = reverse("console:kb")
    assert kb_url not in agent_client.get(reverse("console:inbox")).content.decode()
    assert kb_url in support_admin_client.get(reverse("console:inbox")).content.decode()


def test_superusers_are_admins(admin_client):
    assert admin_client.get(reverse("console:kb")).status_code == 200


def test_post_forms_need_a_csrf_token(support_admin):
    # given: a client that enforces CSRF like a browser
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(support_admin)
    # when
    response = client.post(reverse("console:kb-urls"), {"urls": "https://example.com/"})
    # then
    assert response.status_code == 403


# --- Sign-in ------------------------------------------------------------------------------------------------


def _sign_in(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(reverse("console:login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_staff_sign_in_and_land_in_the_inbox(client, agent):
    response = _sign_in(client, "sam", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("console:inbox")
    assert client.get(reverse("console:inbox")).status_code == 200


def test_users_who_are_not_staff_cannot_sign_in(client, customer):
    response = _sign_in(client, "carol", PASSWORD)
    assert response.status_code == 200
    assert "may not use the agent console" in response.content.decode()


def test_failed_sign_ins_are_throttled_per_username_and_address(client, agent):
    # given: five wrong passwords from one address
    for _ in range(5):
        assert _sign_in(client, "sam", "wrong").status_code == 200
    # when: the right password from that address
    blocked = _sign_in(client, "sam", PASSWORD)
    # then: refused with a clear message (429: tests/console/test_signin_throttling.py), not signed in
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session
    # and: another address is not affected
    assert _sign_in(client, "sam", PASSWORD, address="10.0.0.2").status_code == 302


def test_a_successful_sign_in_clears_the_failures(client, agent):
    for _ in range(4):
        _sign_in(client, "sam", "wrong")
    assert _sign_in(client, "sam", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        _sign_in(client, "sam", "wrong")
    assert _sign_in(client, "sam", PASSWORD).status_code == 302


# --- Websocket ----------------------------------------------------------------------------------------------


async def _console_socket(session_key: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if session_key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    return WebsocketCommunicator(application, "/ws/console/", headers=headers)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", [pytest.param(None, id="anonymous"), pytest.param("customer", id="not-staff")])
async def test_the_console_websocket_refuses_anyone_but_staff(who, request):
    # given
    session_key = None
    if who:
        client = await sync_to_async(request.getfixturevalue)(f"{who}_client")
        session_key = client.session.session_key
    socket = await _console_socket(session_key)
    # when
    connected, code = await socket.connect()
    # then
    assert not connected
    await socket.disconnect()
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_the_console_websocket_accepts_staff(request):
    client = await sync_to_async(request.getfixturevalue)("agent_client")
    socket = await _console_socket(await sync_to_async(lambda: client.session.session_key)())
    connected, _ = await socket.connect()
    assert connected
    hello = await socket.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["waiting"] == 0
    await socket.disconnect()
    await sync_to_async(connections.close_all)()
