"""The widget in a real browser (Debian's chromium driven by Playwright) against a real server."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
QUESTION = "How do I add the chat widget to my website?"


def _collect_frames(page: Page) -> list[dict]:
    frames: list[dict] = []

    def watch(ws) -> None:
        ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", watch)
    return frames


def test_a_visitor_asks_rates_reloads_and_asks_for_a_human(live_server_process, page: Page, artifacts):
    server = live_server_process
    frames = _collect_frames(page)
    # given: the demo page with the widget
    page.goto(server.url + "/")
    launcher = page.locator("#supportbot-widget .launcher")
    expect(launcher).to_have_text("Supportbot help")
    launcher.click()
    # when: the visitor asks a knowledge-base question
    page.get_by_role("textbox", name="Your question").fill(QUESTION)
    page.keyboard.press("Enter")
    # then: streamed text, then a cited answer with a confidence badge
    answer = page.locator(".msg.bot[data-message-id]").last
    expect(answer.locator(".sources a").first).to_be_visible(timeout=15000)
    types = [f["type"] for f in frames]
    assert types.count("token") >= 3 and types.index("token") < types.index("answer")
    streamed = "".join(f["text"] for f in frames if f["type"] == "token")
    assert streamed.strip() and streamed.split()[0] in answer.inner_text()
    link = answer.locator(".sources a").first
    assert re.search(r"/help/embedding-the-widget/#[\w-]+$", link.get_attribute("href"))
    badge = answer.locator(".badge")
    expect(badge).to_have_text(re.compile("Confident|Fairly sure|Not sure"))
    # when: thumbs-down with a reason
    answer.get_by_role("button", name="Not helpful").click()
    answer.get_by_role("combobox", name="What was wrong?").select_option("incomplete")
    answer.get_by_role("button", name="Send feedback").click()
    expect(answer.get_by_text("Thanks for the feedback.")).to_be_visible()
    message_id = int(answer.get_attribute("data-message-id"))
    _wait_for(lambda: server.sql("SELECT value, reason FROM feedback_rating WHERE message_id = %s", (message_id,)))
    assert server.sql("SELECT value, reason FROM feedback_rating WHERE message_id = %s", (message_id,)) == [
        ("down", "incomplete")
    ]
    page.screenshot(path=artifacts / "widget-answer.png")
    # when: the page is reloaded
    page.reload()
    page.locator("#supportbot-widget .launcher").click()
    # then: the conversation comes back
    expect(page.locator(".msg.visitor").first).to_have_text(QUESTION)
    restored = page.locator(f'.msg.bot[data-message-id="{message_id}"]')
    expect(restored.locator(".sources a").first).to_have_attribute("href", link.get_attribute("href"))
    expect(restored.get_by_role("button", name="Not helpful")).to_have_attribute("aria-pressed", "true")
    # when: the visitor asks for a human
    page.get_by_role("button", name="Talk to a human").first.click()
    # then
    expect(page.locator(".msg.system.escalation")).to_contain_text("No agent is online")
    page.get_by_role("textbox", name="Your email").fill("visitor@example.com")
    page.locator(".contact button").click()
    expect(page.get_by_text(re.compile(r"ticket reference is SB-[0-9A-F]{6}"))).to_be_visible()
    page.screenshot(path=artifacts / "widget-escalated.png")
    status = server.sql("SELECT status, contact_email FROM chat_conversation ORDER BY updated_at DESC LIMIT 1")
    assert status == [("escalated", "visitor@example.com")]


def _wait_for(check, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.1)
