"""The widget on a customer's own website (issue #13, must-show 1), in Debian's chromium against a real server.

The customer's site is another host name, www.acme.test (chromium's --host-resolver-rules sends it to a tiny local
web server), whose page holds nothing but the one script tag, under a strict Content-Security-Policy that names
Supportbot as its script and connection source and nothing else. Supportbot's DJANGO_ALLOWED_HOSTS stays as the
live server sets it: its own host names only, none of the customer's.
"""

from __future__ import annotations

import json
import re
import secrets
import time

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.http_server import LocalSite

pytestmark = pytest.mark.browser
ACME, EVIL = "www.acme.test", "www.evil.test"
PASSWORD = "origin-pw-12345"
QUESTION = "How do I add the chat widget to my website?"
SETUP = """
from django.contrib.auth.models import User
from supportbot.chat.models import Widget
Widget.objects.update_or_create(
    key="acme", defaults={{"name": "Acme", "title": "Acme help", "allowed_origins": ["{origin}"]}}
)
agent, _ = User.objects.get_or_create(username="olga", defaults={{"first_name": "Olga", "is_staff": True}})
agent.set_password("{password}"); agent.save()
"""
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Inc.</title></head>
<body><h1>Acme Inc.</h1><p>Anvils and rockets.</p>
<script src="{server}/static/supportbot/widget.js" data-key="acme" defer></script>
</body></html>"""
# What a customer with a strict policy adds for the widget: Supportbot as a script source and as a connection
# source (https and wss in production). No 'unsafe-inline', no 'unsafe-eval', nothing for styles or images.
HOST_POLICY = (
    "default-src 'none'; script-src {server}; connect-src {server} {ws}; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'"
)
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture(scope="module")
def customer_site(live_server_process):
    """The customer's web server: one page, the widget's script tag, a strict CSP; reached as acme or evil."""
    server = live_server_process
    site = LocalSite().start()
    policy = HOST_POLICY.format(server=server.url, ws=server.url.replace("http://", "ws://"))
    site.route("/", body=HOST_PAGE.format(server=server.url), headers={"Content-Security-Policy": policy})
    port = site.base_url.rsplit(":", 1)[1]
    server.manage("shell", "-c", SETUP.format(origin=f"http://{ACME}:{port}", password=PASSWORD))
    yield {"acme": f"http://{ACME}:{port}", "evil": f"http://{EVIL}:{port}"}
    site.stop()


@pytest.fixture(scope="module")
def customer_browser(browser_type, browser_type_launch_args):
    """Chromium resolving the customers' host names to this machine (the only browser here that needs to)."""
    rules = f"--host-resolver-rules=MAP {ACME} 127.0.0.1, MAP {EVIL} 127.0.0.1"
    browser = browser_type.launch(**{**browser_type_launch_args, "args": [*browser_type_launch_args["args"], rules]})
    yield browser
    browser.close()


def _visitor_page(browser: Browser, url: str) -> tuple[Page, list[dict], list[tuple[str, int]]]:
    page = browser.new_context().new_page()
    page.add_init_script(WATCH_VIOLATIONS)
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    sessions: list[tuple[str, int]] = []
    page.on(
        "response", lambda r: sessions.append((r.request.method, r.status)) if "/api/widget/session" in r.url else None
    )
    page.goto(url + "/")
    return page, frames, sessions


def _agent_signs_in(browser: Browser, server) -> Page:
    agent = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    agent.goto(server.url + "/console/login/")
    agent.get_by_label("Username").fill("olga")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    expect(agent).to_have_url(server.url + "/console/")
    expect(agent.locator("#socket-state.up")).to_be_attached()  # the console's own socket, under Supportbot's CSP
    return agent


def _staff_session(server) -> str:
    with httpx.Client(base_url=server.url) as client:
        client.get("/console/login/")
        client.post(
            "/console/login/",
            data={"username": "olga", "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
            headers={"Referer": server.url + "/console/login/"},
        )
        return client.cookies["sessionid"]


def test_a_visitor_on_a_customer_site_asks_rates_asks_for_a_human_and_an_agent_replies(
    live_server_process, customer_site, customer_browser, artifacts
):
    server, order = live_server_process, f"order {secrets.token_hex(3)}"
    assert ACME not in server.env["DJANGO_ALLOWED_HOSTS"]
    # given: an agent in the console, and a visitor on the customer's page with the one script tag
    agent = _agent_signs_in(customer_browser, server)
    visitor, frames, sessions = _visitor_page(customer_browser, customer_site["acme"])
    launcher = visitor.locator("#supportbot-widget .launcher")
    # then: the widget got its token and its session across origins, styled despite the page's style-src
    expect(launcher).to_have_text("Acme help")
    assert ("POST", 200) in sessions
    assert launcher.evaluate("(node) => getComputedStyle(node).position") == "fixed"
    assert visitor.evaluate("document.querySelector('#supportbot-widget').shadowRoot.adoptedStyleSheets.length") == 1
    # when: the visitor asks
    launcher.click()
    visitor.get_by_role("textbox", name="Your question").fill(f"About {order}: {QUESTION}")
    visitor.keyboard.press("Enter")
    # then: a streamed answer with citations
    answer = visitor.locator(".msg.bot[data-message-id]").last
    expect(answer.locator(".sources a").first).to_be_visible(timeout=15000)
    types = [frame["type"] for frame in frames]
    assert types.count("token") >= 3 and types.index("token") < types.index("answer")
    assert re.search(r"/help/embedding-the-widget/#[\w-]+$", answer.locator(".sources a").first.get_attribute("href"))
    # when: the visitor rates it
    answer.get_by_role("button", name="Helpful", exact=True).click()
    message_id = int(answer.get_attribute("data-message-id"))
    rating = "SELECT value FROM feedback_rating WHERE message_id = %s"
    _wait_for(lambda: server.sql(rating, (message_id,)))
    assert server.sql(rating, (message_id,)) == [("up",)]
    # when: the visitor asks for a human
    visitor.locator("#supportbot-widget button.human").click()
    expect(visitor.locator(".msg.system.escalation")).to_contain_text("An agent has been notified")
    # then: the agent sees it live, takes over and replies
    card = agent.locator("#escalations li", has_text=order)
    expect(card).to_be_visible()
    card.get_by_role("link").first.click()
    agent.get_by_role("button", name="Take over").click()
    expect(visitor.locator(".msg.system").last).to_contain_text("Olga from support has joined the chat.")
    reply = agent.get_by_role("textbox", name="Your reply")
    reply.fill("Hi, Olga here. The tag goes just before </body>.")
    reply.press("Enter")
    # then: the reply reaches the customer's page
    expect(visitor.locator(".msg.agent")).to_contain_text("The tag goes just before </body>.")
    visitor.screenshot(path=artifacts / "widget-cross-origin.png")
    # and: the conversation is the customer's, and the page's strict policy refused nothing the widget did
    origin = server.sql(
        "SELECT DISTINCT c.origin FROM chat_conversation c JOIN chat_message m ON m.conversation_id = c.id "
        "WHERE m.id = %s",
        (message_id,),
    )
    assert origin == [(customer_site["acme"],)]
    assert visitor.evaluate("window.__violations") == []
    agent.context.close()
    visitor.context.close()


def test_a_site_the_widget_does_not_allow_gets_no_token_and_no_session(
    live_server_process, customer_site, customer_browser
):
    server = live_server_process
    # given: the same page, copied to another site, with the customer's widget key
    visitor, frames, sessions = _visitor_page(customer_browser, customer_site["evil"])
    sockets: list[str] = []
    visitor.on("websocket", lambda ws: sockets.append(ws.url))
    # then: the token request is refused and the widget says so, without ever opening a socket
    expect(visitor.locator("#supportbot-widget .status")).to_have_text("Chat unavailable on this site")
    assert ("POST", 403) in sessions and ("POST", 200) not in sessions
    assert sockets == [] and frames == []
    visitor.context.close()
    # when: a token issued to the customer's page is replayed from the other site
    issued = httpx.post(
        server.url + "/api/widget/session", json={"key": "acme"}, headers={"Origin": customer_site["acme"]}
    ).json()
    visitor_id = issued["visitor_id"]
    query = f"/ws/chat/?key=acme&visitor={visitor_id}&token={issued['token']}"
    with connect(server.url.replace("http://", "ws://") + query, origin=customer_site["evil"]) as socket:
        refusal = json.loads(socket.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    # then: refused, and no conversation was started
    assert refusal["code"] == "origin_not_allowed"
    assert closed.value.rcvd.code == 4403
    assert server.sql("SELECT count(*) FROM chat_conversation WHERE visitor_id = %s", (visitor_id,)) == [(0,)]


def test_the_console_socket_refuses_every_origin_but_supportbots_own(live_server_process, customer_site):
    server = live_server_process
    ws_url = server.url.replace("http://", "ws://") + "/ws/console/"
    # given: a signed-in agent's session cookie
    cookie = {"Cookie": f"sessionid={_staff_session(server)}"}
    # when / then: from the customer's page or any other, the handshake is refused
    for origin in (customer_site["acme"], customer_site["evil"], "http://localhost:1"):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url, origin=origin, additional_headers=cookie, open_timeout=10)
        assert refused.value.response.status_code == 403, origin
    # when / then: from Supportbot's own page, the agent is welcome
    with connect(ws_url, origin=server.url, additional_headers=cookie, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "hello"


def _wait_for(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.1)
