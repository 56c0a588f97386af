"""The widget in a real browser with server-issued visitor ids: an id from before signing is replaced without the
visitor noticing, and the signed one is kept, with the conversation, across reloads. Refused a session token
(429, too many from one address), it waits as long as Retry-After says and then connects. With Redis down it
says answers come from the articles (the budget could not be checked) and answers."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.live_server import ROOT, LiveServer, _free_port, _wait_until_up

pytestmark = pytest.mark.browser
STORE = "supportbot:demo:"  # the widget's localStorage prefix for the demo key
LEGACY_ID = "0123456789abcdef01234567"  # what widget.js generated itself before ids were signed


def test_a_legacy_visitor_id_is_replaced_and_the_signed_one_kept_across_reloads(live_server_process, page: Page):
    server = live_server_process
    sent: list[object] = []
    page.on(
        "request",
        lambda r: (
            sent.append(json.loads(r.post_data or "{}").get("visitor"))
            if r.url.endswith("/api/widget/session") and r.method == "POST"
            else None
        ),
    )
    # given: a browser that kept an unsigned id from an earlier version of the widget
    # (seeded before the widget's script runs, on the first load of the tab only)
    page.add_init_script(
        f"if (!sessionStorage.getItem('seeded')) {{ sessionStorage.setItem('seeded', '1');"
        f" localStorage.setItem('{STORE}visitor', '{LEGACY_ID}'); }}"
    )
    page.goto(server.url + "/")
    # when: the widget connects and the visitor asks
    page.locator("#supportbot-widget .launcher").click()
    page.get_by_role("textbox", name="Your question").fill("How do I add the chat widget to my website?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.bot[data-message-id]").last).to_be_visible(timeout=15000)
    # then: the legacy id was sent once and replaced by the server's signed one
    signed = page.evaluate("(key) => localStorage.getItem(key)", STORE + "visitor")
    assert LEGACY_ID in sent and signed != LEGACY_ID and "." in signed
    stored = server.sql("SELECT count(*) FROM chat_conversation WHERE visitor_id = %s", (signed,))
    assert stored == [(1,)]
    # when: the page is reloaded
    page.reload()
    page.locator("#supportbot-widget .launcher").click()
    # then: the same signed id, sent and kept, and the conversation is back
    expect(page.locator(".msg.visitor")).to_have_text(["How do I add the chat widget to my website?"], timeout=15000)
    assert sent[-1] == signed
    assert page.evaluate("(key) => localStorage.getItem(key)", STORE + "visitor") == signed


@contextlib.contextmanager
def server_with(server: LiveServer, **env: str) -> Iterator[LiveServer]:
    """Another daphne on the live server's database, with these settings (its limit counters are its own)."""
    port = _free_port()
    env = server.env | env | {"PORT": str(port)}
    log = server.log.with_name(f"server-{port}.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "supportbot.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    other = LiveServer(f"http://127.0.0.1:{port}", env, process, server.dsn, log)
    try:
        _wait_until_up(other)
        yield other
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a busy machine: don't let a slow shutdown fail the test
            process.kill()
            process.wait()


def test_refused_a_session_token_the_widget_waits_retry_after_and_then_connects(live_server_process, page: Page):
    with server_with(live_server_process, CHAT_RATE_IP_SESSIONS_PER_MINUTE="1") as server:
        sessions: list[tuple[float, int, str | None]] = []
        page.on(
            "response",
            lambda r: (
                sessions.append((time.monotonic(), r.status, r.headers.get("retry-after")))
                if r.url.endswith("/api/widget/session") and r.request.method == "POST"
                else None
            ),
        )
        frames: list[dict] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
        # given: this address used its one session token of the minute (not in the minute's last seconds, so the
        # page's request falls in the same window)
        if time.time() % 60 > 50:
            time.sleep(61 - time.time() % 60)
        first = httpx.post(server.url + "/api/widget/session", json={"key": "demo"}, headers={"Origin": server.url})
        assert first.status_code == 200
        # when: a page asks for one
        page.goto(server.url + "/")
        # then: refused with a wait; the widget asks again only once it is over, gets a token and connects
        wait_until(lambda: sessions, page, seconds=10)
        refused_at, status, retry_after = sessions[0]
        assert status == 429 and retry_after is not None and 1 <= int(retry_after) <= 60
        wait_until(lambda: any(frame.get("type") == "session" for frame in frames), page, seconds=int(retry_after) + 30)
        assert any(frame.get("type") == "session" for frame in frames), sessions
        asked_again_at, status_again, _ = sessions[1]
        assert status_again == 200
        assert asked_again_at - refused_at >= int(retry_after) - 0.5


def wait_until(condition, page: Page, *, seconds: float) -> None:
    """Let the page run (its events reach the handlers) until `condition()` holds or the time is up."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        page.wait_for_timeout(100)


def test_with_redis_down_the_widget_says_answers_come_from_the_articles_and_answers(live_server_process, page: Page):
    # given: a server whose Redis (counters, cache, channel layer) refuses connections
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{held.getsockname()[1]}/0"
        with server_with(live_server_process, REDIS_URL=dead) as server:
            page.goto(server.url + "/")
            page.locator("#supportbot-widget .launcher").click()
            # when: the visitor asks
            page.get_by_role("textbox", name="Your question").fill("How do I add the chat widget to my website?")
            page.keyboard.press("Enter")
            # then: told that the answer comes from the help centre's articles (the budget could not be checked),
            # not that they were too quick, and answered
            expect(page.get_by_role("alert").last).to_contain_text("help centre articles", timeout=15000)
            expect(page.locator(".msg.bot[data-message-id]").last).to_be_visible(timeout=15000)
            expect(page.get_by_role("textbox", name="Your question")).to_have_value("")
