"""Every endpoint has an access rule (supportbot/access_rules.py), and each is requested as the rule's outsiders.

The walker lists every URL pattern of the project (includes recursed, Django's admin site too) and every websocket
route; a pattern without a rule fails here, and so does a rule that differs from the one pinned below, so a new
endpoint is public only when someone wrote that down twice.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connections
from django.http import HttpResponse
from django.test import Client
from django.urls import get_resolver, path, resolve, reverse
from django.urls.resolvers import RoutePattern

from supportbot.access_rules import ADMIN, AGENT, ANONYMOUS, WIDGET, unruled, url_endpoints, websocket_endpoints
from supportbot.asgi import application
from supportbot.chat.models import Conversation, Widget
from supportbot.chat.tokens import session_token_sign

PASSWORD = "access-pw-12345"
ALLOWED = "https://www.acme.test"
FOREIGN = "https://www.evil.example"
ENDPOINTS = url_endpoints()
# Supportbot's own endpoints and their rules; Django's admin site is checked as a whole below.
EXPECTED = {
    "home": ANONYMOUS,
    "home-ko": ANONYMOUS,
    "healthz": ANONYMOUS,
    "readyz": ANONYMOUS,
    "metrics": ANONYMOUS,
    "widget-strings": ANONYMOUS,
    "set_language": ANONYMOUS,
    "kb:help-page": ANONYMOUS,
    "kb:document-page": ANONYMOUS,
    "console:login": ANONYMOUS,
    "console:logout": ANONYMOUS,
    "widget-session": WIDGET,
    "kb:search": WIDGET,
    "feedback:api": WIDGET,
    "feedback:csat": WIDGET,  # CSAT (issue #15): the widget's end-of-conversation survey
    "feedback:analytics": AGENT,
    "console:inbox": AGENT,
    "console:jsi18n": AGENT,
    "console:inbox-json": AGENT,
    "console:conversation": AGENT,
    "console:review": AGENT,
    "console:review-item": AGENT,
    "console:mark-good": AGENT,
    "console:analytics": AGENT,
    # Drafts from resolved conversations (issue #15): agents resolve and edit drafts; admins publish or reject.
    "console:conversation-resolve": AGENT,
    "console:draft": AGENT,
    "console:draft-approve": ADMIN,
    "console:draft-reject": ADMIN,
    "feedback:export-download": ADMIN,
    "console:correction-approve": ADMIN,
    "console:correction-reject": ADMIN,
    "console:exports": ADMIN,
    "console:entry-create": ADMIN,
    "console:kb": ADMIN,
    "console:kb-upload": ADMIN,
    "console:kb-urls": ADMIN,
    "console:kb-jobs": ADMIN,
    "console:document": ADMIN,
    "console:document-reingest": ADMIN,
    "console:document-delete": ADMIN,
    "console:document-release": ADMIN,
    "console:document-keep-quarantined": ADMIN,
    "console:playground": ADMIN,
    "console:widgets": ADMIN,
    "console:widget-new": ADMIN,
    "console:widget-edit": ADMIN,
}


def _params(rule: str) -> list:
    return [pytest.param(e, id=e.name or e.route) for e in ENDPOINTS if e.rule == rule]


def _in_admin_site(endpoint) -> bool:
    return endpoint.route.startswith("admin/")


def _sample_path(endpoint) -> str:
    """A concrete path that resolves to the endpoint: converters and named groups filled with sample values."""
    samples = {"int": "1", "uuid": str(uuid.uuid4())}
    parts = []
    for pattern in endpoint.patterns:
        text = str(pattern.pattern)
        if isinstance(pattern.pattern, RoutePattern):  # path(): <int:pk>, <path:slug>
            text = re.sub(r"<(?:(\w+):)?\w+>", lambda m: samples.get(m.group(1) or "str", "x"), text)
        else:  # re_path(): the first alternative of a named group, else one character
            text = re.sub(
                r"\(\?P<\w+>([\w|]+|[^)]*)\)", lambda m: m.group(1).split("|")[0] if "|" in m.group(1) else "x", text
            )
            text = text.lstrip("^").rstrip("$")
        parts.append(text)
    return "/" + "".join(parts)


def _refused(response: HttpResponse) -> bool:
    """No data: sent to a sign-in page, or told no (401, 403), or the method is refused before anything runs."""
    if response.status_code == 302:
        # The admin site's sign-out sends anyone not signed in to its index, which sends them to sign in.
        if response["Location"] == reverse("admin:index"):
            return True
        return response["Location"].startswith((reverse("console:login") + "?", reverse("admin:login") + "?"))
    return response.status_code in (401, 403, 405)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _signed_in(**flags) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user(f"user-{uuid.uuid4().hex[:8]}", password=PASSWORD, **flags))
    return client


@pytest.fixture
def agent_client(db) -> Client:
    return _signed_in(is_staff=True)


@pytest.fixture
def customer_client(db) -> Client:
    """Signed in but not staff: nothing beyond what anonymous visitors get."""
    return _signed_in()


@pytest.fixture
def widget(db) -> Widget:
    return Widget.objects.create(key="access-widget", name="Access", allowed_origins=[ALLOWED], title="Help")


# --- Every endpoint has a rule --------------------------------------------------------------------------------


def test_every_url_pattern_and_websocket_route_has_an_access_rule():
    # when
    missing = unruled([*ENDPOINTS, *websocket_endpoints()])
    # then
    assert missing == []


def test_a_new_endpoint_without_a_rule_is_caught_by_the_walker():
    # given: the project's URL conf plus a view that declares nothing
    def new_view(request):
        return HttpResponse("secrets")

    patterns = [*get_resolver().url_patterns, path("api/new", new_view, name="new")]
    # when
    missing = unruled(url_endpoints(patterns))
    # then
    assert missing == ["api/new (new)"]


def test_each_endpoint_has_the_rule_it_is_meant_to_have():
    # given
    own = {e.name: e.rule for e in ENDPOINTS if not _in_admin_site(e)}
    admin_site = {e.name or e.route: e.rule for e in ENDPOINTS if _in_admin_site(e)}
    # then: Supportbot's own endpoints as pinned; Django's admin site is staff only but for its sign-in form
    assert own == EXPECTED
    assert {name: rule for name, rule in admin_site.items() if rule != AGENT} == {"admin:login": ANONYMOUS}
    assert {e.route: e.rule for e in websocket_endpoints()} == {"ws/chat/": WIDGET, "ws/console/": AGENT}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name or e.route for e in ENDPOINTS])
def test_each_sample_path_reaches_its_endpoint(endpoint):
    # The request tests below are only worth something if they reach the view they are about.
    assert resolve(_sample_path(endpoint)).func is endpoint.callback


# --- Each rule holds, requested by those it keeps out ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", _params(AGENT) + _params(ADMIN))
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_requests_get_no_data_from_staff_endpoints(client, endpoint, method):
    # when
    response = getattr(client, method)(_sample_path(endpoint))
    # then
    assert _refused(response), (response.status_code, response.get("Location"))


@pytest.mark.parametrize("endpoint", _params(AGENT) + _params(ADMIN))
@pytest.mark.parametrize("method", ["get", "post"])
def test_signed_in_users_who_are_not_staff_get_no_data_from_staff_endpoints(customer_client, endpoint, method):
    response = getattr(customer_client, method)(_sample_path(endpoint))
    assert _refused(response), (response.status_code, response.get("Location"))


@pytest.mark.parametrize("endpoint", _params(ADMIN))
def test_agents_get_403_from_admin_endpoints(agent_client, endpoint):
    # when: whichever method the endpoint takes
    statuses = {
        agent_client.get(_sample_path(endpoint)).status_code,
        agent_client.post(_sample_path(endpoint)).status_code,
    }
    # then: refused, not merely redirected or missing
    assert statuses <= {403, 405} and 403 in statuses, statuses


# A widget endpoint reads its key from the request in its own way; each one needs an entry here.
def _session(client: Client, url: str, *, key: str, origin: str | None) -> HttpResponse:
    body = json.dumps({"key": key, "visitor": ""})
    return client.post(url, body, content_type="application/json", **_origin(origin))


def _feedback(client: Client, url: str, *, key: str, origin: str | None) -> HttpResponse:
    body = {"key": key, "conversation_id": str(uuid.uuid4()), "visitor_id": "v1", "rating": "up", "message_id": 1}
    return client.post(url, json.dumps(body), content_type="application/json", **_origin(origin))


# CSAT (issue #15): with a token the server signed for the page and visitor, so only the key and origin decide.
def _csat(client: Client, url: str, *, key: str, origin: str | None) -> HttpResponse:
    token = session_token_sign(widget_key=key, origin=origin or "", visitor_id="v1")
    body = {"key": key, "conversation_id": str(uuid.uuid4()), "visitor_id": "v1", "token": token, "score": 5}
    return client.post(url, json.dumps(body), content_type="application/json", **_origin(origin))


def _search(client: Client, url: str, *, key: str, origin: str | None) -> HttpResponse:
    return client.get(url, {"key": key, "q": "refund"}, **_origin(origin))


def _origin(origin: str | None) -> dict:
    return {"HTTP_ORIGIN": origin} if origin else {}


WIDGET_REQUESTS = {"widget-session": _session, "feedback:api": _feedback, "kb:search": _search, "feedback:csat": _csat}


def test_every_widget_endpoint_is_requested_below():
    assert {e.name for e in ENDPOINTS if e.rule == WIDGET} == set(WIDGET_REQUESTS)


@pytest.mark.parametrize("endpoint", _params(WIDGET))
@pytest.mark.parametrize(
    ("key", "origin"),
    [
        pytest.param("", ALLOWED, id="no-key"),
        pytest.param("no-such-widget", ALLOWED, id="an-unknown-key"),
        pytest.param("access-widget", FOREIGN, id="a-page-the-widget-does-not-allow"),
        pytest.param("access-widget", None, id="no-origin"),
    ],
)
def test_widget_endpoints_refuse_requests_without_a_valid_key_and_allowed_origin(client, widget, endpoint, key, origin):
    # when
    response = WIDGET_REQUESTS[endpoint.name](client, _sample_path(endpoint), key=key, origin=origin)
    # then: refused before anything is read or written
    assert response.status_code in (400, 403, 404), response.content


@pytest.mark.parametrize("endpoint", _params(WIDGET))
def test_widget_endpoints_answer_the_pages_their_widget_allows(client, widget, endpoint):
    # The control for the refusals above: the same request with the widget's key from its page goes through.
    response = WIDGET_REQUESTS[endpoint.name](client, _sample_path(endpoint), key=widget.key, origin=ALLOWED)
    assert response.status_code not in (400, 403, 500), response.content
    assert response["Access-Control-Allow-Origin"] == ALLOWED


@pytest.mark.parametrize("endpoint", _params(ANONYMOUS))
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_endpoints_answer_anyone_without_errors(client, db, endpoint, method):
    response = getattr(client, method)(_sample_path(endpoint))
    assert response.status_code < 500


def test_metrics_need_the_bearer_token_when_one_is_set(client, db, settings):
    # given
    settings.METRICS_TOKEN = "metrics-token-123"
    # when
    anonymous = client.get(reverse("metrics"))
    scraper = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer metrics-token-123")
    # then
    assert anonymous.status_code == 401 and b"supportbot" not in anonymous.content
    assert scraper.status_code == 200


def test_readiness_names_a_failing_part_but_not_its_internal_address(client, db, settings, tmp_path):
    # given: Redis configured at a socket where nothing listens
    settings.REDIS_URL = f"unix://{tmp_path / 'internal-redis.sock'}"
    # when
    response = client.get(reverse("readyz"))
    # then
    assert response.status_code == 503 and response.json()["checks"]["redis"] == "failed"
    assert "internal-redis" not in response.content.decode()


# --- Websocket routes -----------------------------------------------------------------------------------------


@pytest.fixture
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_connections")
async def test_the_console_websocket_refuses_anonymous_visitors_even_from_supportbots_own_pages():
    # given
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    # when
    connected, _ = await communicator.connect()
    # then
    assert connected is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_connections")
@pytest.mark.parametrize(
    ("query", "origin"),
    [
        pytest.param("", ALLOWED, id="no-key"),
        pytest.param("key=access-widget", FOREIGN, id="a-page-the-widget-does-not-allow"),
        pytest.param("key=access-widget", ALLOWED, id="no-session-token"),
    ],
)
async def test_the_chat_websocket_refuses_without_a_widget_key_allowed_origin_and_token(query, origin):
    # given
    await sync_to_async(Widget.objects.create)(key="access-widget", name="Access", allowed_origins=[ALLOWED])
    headers = [(b"host", b"testserver"), (b"origin", origin.encode())]
    communicator = WebsocketCommunicator(application, f"/ws/chat/?{query}", headers=headers)
    # when
    connected, _ = await communicator.connect()
    frame = await communicator.receive_json_from() if connected else {"type": "error"}
    # then: an error frame, then the socket closes; no session, no conversation
    assert frame["type"] == "error"
    if connected:
        assert (await communicator.receive_output())["type"] == "websocket.close"
    assert not await sync_to_async(Conversation.objects.filter(widget__key="access-widget").exists)()
