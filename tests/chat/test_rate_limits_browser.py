"""The widget in a real browser when a limit refuses a message: nothing the visitor typed is lost."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_a_refused_message_goes_back_into_the_input(live_server_process, page: Page, artifacts):
    server = live_server_process
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    sessions: list[int] = []
    page.on("request", lambda r: sessions.append(1) if r.url.endswith("/api/widget/session") else None)
    # given: the demo widget allows one message a minute per visitor
    server.sql("UPDATE chat_widget SET visitor_messages_per_minute = 1 WHERE key = 'demo' RETURNING key")
    try:
        page.goto(server.url + "/")
        page.locator("#supportbot-widget .launcher").click()
        box = page.get_by_role("textbox", name="Your question")
        box.fill("How do I add the chat widget to my website?")
        page.keyboard.press("Enter")
        expect(page.locator(".msg.bot[data-message-id]").last).to_be_visible(timeout=15000)
        # when: a second message within the minute
        box.fill("And how do I change its colour?")
        page.keyboard.press("Enter")
        # then: the notice, the text back in the input, no bubble for it, and nothing stored
        expect(page.get_by_role("alert").last).to_contain_text("wait", timeout=10000)
        expect(box).to_have_value("And how do I change its colour?")
        expect(page.locator(".msg.visitor")).to_have_count(1)
        page.screenshot(path=artifacts / "widget-rate-limited.png")
        refused = [f for f in frames if f.get("code") == "rate_limited"]
        assert len(refused) == 1 and refused[0]["scope"] == "visitor_messages" and refused[0]["retry_after"] >= 1
        stored = server.sql("SELECT count(*) FROM chat_message WHERE text = %s", ("And how do I change its colour?",))
        assert stored == [(0,)]
        # and the widget asked for a session token before connecting
        assert sessions
    finally:
        server.sql("UPDATE chat_widget SET visitor_messages_per_minute = NULL WHERE key = 'demo' RETURNING key")
