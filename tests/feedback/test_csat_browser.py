"""CSAT in a real browser (Debian's chromium driven by Playwright) against a real server: a visitor chats, the
conversation ends (an agent closes it, or the visitor stays idle), the widget asks for a 1–5 rating with a comment,
and the console's analytics show it next to thumbs, with the conversation counted as a confirmed resolution."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console_in_browser import sign_in, staff_create

pytestmark = pytest.mark.browser
QUESTION = "How do I add the chat widget to my website?"


@pytest.fixture(scope="module")
def server(live_server_process):
    staff_create(live_server_process, "csat-agent", first_name="Cleo")
    return live_server_process


def visitor_chats(browser: Browser, server) -> Page:
    """A new visitor on the demo page asks a question and gets a cited answer."""
    visitor = browser.new_context().new_page()
    visitor.goto(server.url + "/")
    visitor.locator("#supportbot-widget .launcher").click()
    visitor.get_by_role("textbox", name="Your question").fill(QUESTION)
    visitor.keyboard.press("Enter")
    expect(visitor.locator(".msg.bot[data-message-id] .sources a").first).to_be_visible(timeout=15000)
    return visitor


def analytics_numbers(agent: Page, server) -> dict[str, int]:
    agent.goto(server.url + "/console/analytics/")
    confirmed = agent.locator('#resolution-counts tr[data-outcome="confirmed"] td').inner_text()
    fives = agent.locator("#csat-scores tbody tr").nth(4).locator("td").nth(1).inner_text()
    return {"confirmed": int(confirmed), "fives": int(fives)}


def rate(visitor: Page, *, score: int, comment: str) -> None:
    survey = visitor.get_by_role("form", name="How would you rate this conversation?")
    expect(survey).to_be_visible(timeout=15000)
    survey.get_by_role("button", name=f"{score} out of 5").click()
    expect(survey.get_by_role("button", name=f"{score} out of 5")).to_have_attribute("aria-pressed", "true")
    survey.get_by_role("textbox", name="Comment (optional)").fill(comment)
    survey.get_by_role("button", name="Send rating").click()
    expect(visitor.get_by_role("status").filter(has_text="Thanks for your rating.")).to_be_visible()
    expect(survey).to_have_count(0)


def test_a_visitor_rates_a_closed_conversation_and_the_console_counts_it(server, browser: Browser, artifacts):
    comment = f"Clear steps, thanks {secrets.token_hex(3)}"
    agent = sign_in(browser, server, "csat-agent")
    before = analytics_numbers(agent, server)
    # given: a visitor answered by the bot
    visitor = visitor_chats(browser, server)
    expect(visitor.get_by_role("form", name="How would you rate this conversation?")).to_have_count(0)
    conversation = visitor.evaluate("() => window.Supportbot.conversation")
    # when: an agent closes the conversation from the console
    agent.goto(server.url + f"/console/conversations/{conversation}/")
    agent.once("dialog", lambda dialog: dialog.accept())
    agent.get_by_role("button", name="Close conversation").click()
    expect(visitor.locator(".msg.system").last).to_contain_text("This conversation has been closed.")
    # then: the widget asks for a rating; the visitor gives 5 with a comment
    visitor.screenshot(path=artifacts / "csat-widget-survey.png")
    rate(visitor, score=5, comment=comment)
    visitor.screenshot(path=artifacts / "csat-widget-thanks.png")
    # and: the console's analytics show it next to thumbs, counted as a confirmed resolution, and say how
    after = analytics_numbers(agent, server)
    assert after["fives"] == before["fives"] + 1
    assert after["confirmed"] == before["confirmed"] + 1
    expect(agent.locator("#csat-comments")).to_contain_text(comment)
    expect(agent.locator("#csat-score")).to_have_text(re.compile(r"^\d+%$"))
    expect(agent.locator("#resolution-rate")).to_have_text(re.compile(r"^\d+%$"))
    expect(agent.locator("#resolution-rules")).to_contain_text("a CSAT rating of 4 or 5")
    expect(agent.locator("#resolution-rules")).to_contain_text("left without asking again")
    expect(agent.locator("#chart-thumbs")).to_be_attached()
    agent.locator("#csat").screenshot(path=artifacts / "csat-console-analytics.png")
    agent.context.close()
    visitor.context.close()


def test_an_idle_visitor_is_asked_once_and_a_reload_does_not_ask_again(server, browser: Browser, artifacts):
    # given: a visitor on the demo page, with the server's idle delay shortened for the test
    visitor = browser.new_context().new_page()
    visitor.goto(server.url + "/")
    visitor.locator("#supportbot-widget .launcher").click()
    expect(visitor.locator("#supportbot-widget .status")).not_to_have_text("Connecting…")
    visitor.wait_for_function("() => window.Supportbot && window.Supportbot.ready")
    visitor.evaluate("() => { window.Supportbot.csat.idle_seconds = 1; }")
    # when: the bot answers and the visitor says nothing more
    visitor.get_by_role("textbox", name="Your question").fill(QUESTION)
    visitor.keyboard.press("Enter")
    expect(visitor.locator(".msg.bot[data-message-id]")).to_have_count(1, timeout=15000)
    # then: the survey appears; a submission without a score is refused in place
    survey = visitor.get_by_role("form", name="How would you rate this conversation?")
    expect(survey).to_be_visible(timeout=10000)
    survey.get_by_role("button", name="Send rating").click()
    expect(survey.get_by_role("alert")).to_have_text("Choose a rating from 1 to 5.")
    rate(visitor, score=4, comment="")
    # when: the page is reloaded on the same conversation
    conversation = visitor.evaluate("() => window.Supportbot.conversation")
    visitor.reload()
    visitor.locator("#supportbot-widget .launcher").click()
    visitor.wait_for_function("() => window.Supportbot && window.Supportbot.ready && window.Supportbot.csat")
    # then: the server says it was rated, and no survey comes back however idle the visitor is
    assert visitor.evaluate("() => window.Supportbot.conversation") == conversation
    assert visitor.evaluate("() => window.Supportbot.csat.rated") is True
    visitor.evaluate("() => window.Supportbot.askCsat()")
    expect(survey).to_have_count(0)
    rows = server.sql("SELECT score FROM feedback_csatrating WHERE conversation_id = %s", (conversation,))
    assert rows == [(4,)]
    visitor.context.close()
