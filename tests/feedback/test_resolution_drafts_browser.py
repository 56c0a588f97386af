"""Drafts from resolved conversations in a real browser (Debian's chromium, Playwright, a real server): a visitor
asks through the widget and asks for a human, an agent takes over, answers and marks the conversation resolved,
a support admin approves the draft, and the next visitor's reworded question cites the new article."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console_in_browser import sign_in, staff_create

pytestmark = pytest.mark.browser
EMAIL = "jane.doe@example.com"
QUESTION = f"Can I change the delivery address after my order has shipped? My email is {EMAIL}"
REPLY = "Hi! Yes: until the courier collects the parcel, change the delivery address under Orders, then Change address."
PARAPHRASE = "How do I update the shipping address once the parcel is on its way?"


@pytest.fixture(scope="module")
def server(live_server_process):
    staff_create(live_server_process, "dana", first_name="Dana")
    staff_create(live_server_process, "dora", admin=True)
    return live_server_process


def visitor_opens_chat(browser: Browser, server) -> Page:
    visitor = browser.new_context().new_page()
    visitor.goto(server.url + "/")
    visitor.locator("#supportbot-widget .launcher").click()
    return visitor


def visitor_asks(visitor: Page, text: str) -> None:
    visitor.get_by_role("textbox", name="Your question").fill(text)
    visitor.keyboard.press("Enter")


def test_an_agent_resolves_a_conversation_and_the_approved_draft_answers_the_next_visitor(
    server, browser: Browser, artifacts
):
    # given: a visitor asks, then asks for a human; an agent is online
    agent = sign_in(browser, server, "dana")
    expect(agent.locator("#socket-state.up")).to_be_attached()
    visitor = visitor_opens_chat(browser, server)
    visitor_asks(visitor, QUESTION)
    expect(visitor.locator(".msg.bot[data-message-id]")).to_have_count(1, timeout=15000)
    visitor_asks(visitor, "Can I talk to a human please?")
    expect(visitor.locator(".msg.system.escalation")).to_be_visible()
    # when: the agent takes over, answers and marks the conversation resolved
    agent.locator("#escalations li", has_text="Can I talk to a human please?").get_by_role("link").first.click()
    agent.get_by_role("button", name="Take over").click()
    agent.get_by_role("textbox", name="Your reply").fill(REPLY)
    agent.keyboard.press("Enter")
    expect(visitor.locator(".msg.agent")).to_contain_text("Change address")
    agent.get_by_role("button", name="Mark resolved and draft an article").click()
    # then: the draft is in the review queue: the visitor's question, the agent's answer, no personal data
    expect(agent).to_have_url(re.compile(r"/console/review/drafts/\d+/$"))
    draft_url = agent.url
    expect(agent.get_by_label("Question (the article's title)")).to_have_value(
        "Can I change the delivery address after my order has shipped?"
    )
    expect(agent.get_by_label("Answer")).to_have_value(re.compile(r"^Yes: until the courier collects the parcel"))
    assert EMAIL not in agent.content()
    expect(agent.locator("body")).to_contain_text("A support admin approves drafts")
    expect(visitor.locator(".msg.system").last).to_contain_text("This conversation has been closed")
    agent.screenshot(path=artifacts / "drafts-draft-for-review.png")
    # when: a support admin approves it from the review queue
    admin = sign_in(browser, server, "dora")
    admin.goto(server.url + "/console/review/")
    admin.locator("#drafts").get_by_role("link", name=re.compile("Can I change the delivery address")).click()
    expect(admin).to_have_url(draft_url)
    admin.get_by_role("button", name="Approve into the knowledge base").click()
    # then: published as an article of the knowledge base
    expect(admin.locator(".messages")).to_contain_text("Approved")
    expect(admin.get_by_role("link", name="Published article")).to_be_visible()
    # when: the next visitor asks the same question in other words
    second = visitor_opens_chat(browser, server)
    visitor_asks(second, PARAPHRASE)
    # then: the answer cites the new article
    source = second.locator(".msg.bot[data-message-id] .sources a").first
    expect(source).to_have_attribute("href", re.compile(r"/help/articles/\d+/"), timeout=15000)
    expect(second.locator(".msg.bot[data-message-id]").last).to_contain_text("Change address")
    second.screenshot(path=artifacts / "drafts-next-visitor-cites-article.png")
    for page in (agent, admin, visitor, second):
        page.context.close()
