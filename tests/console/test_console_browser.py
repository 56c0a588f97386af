"""The console in a real browser (Debian's chromium driven by Playwright) against a real server: an agent and a
visitor in two browser contexts, analytics drawn from conversations held through the chat, and a document
uploaded, ingested with live progress and found by the search playground."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console_in_browser import sign_in, staff_create

pytestmark = pytest.mark.browser
WIDGET_QUESTION = "How do I add the chat widget to my website?"


@pytest.fixture(scope="module")
def server(live_server_process):
    staff_create(live_server_process, "ana", first_name="Ana")
    staff_create(live_server_process, "kb-admin", admin=True)
    return live_server_process


def visitor_asks(visitor: Page, text: str) -> None:
    visitor.get_by_role("textbox", name="Your question").fill(text)
    visitor.keyboard.press("Enter")


def test_an_agent_sees_an_escalation_live_takes_over_replies_and_hands_back(server, browser: Browser, artifacts):
    order = f"order {secrets.token_hex(3)}"
    # given: an agent signed in, the console connected (so the agent counts as online)
    agent = sign_in(browser, server, "ana")
    expect(agent.locator("#socket-state.up")).to_be_attached()
    # and: a visitor, in another browser context, asks a question and then for a human
    visitor = browser.new_context().new_page()
    visitor.goto(server.url + "/")
    visitor.locator("#supportbot-widget .launcher").click()
    expect(visitor.locator("#supportbot-widget .status")).to_have_text("Agents online")
    visitor_asks(visitor, f"About {order}: {WIDGET_QUESTION}")
    expect(visitor.locator(".msg.bot[data-message-id] .sources a").first).to_be_visible(timeout=15000)
    visitor_asks(visitor, "Can I talk to a human please?")
    expect(visitor.locator(".msg.system.escalation")).to_contain_text("An agent has been notified")
    # then: the escalation appears in the agent's queue without a reload, with its reason and summary
    card = agent.locator("#escalations li", has_text=order)
    expect(card).to_be_visible()
    expect(card).to_contain_text("Visitor asked for a human")
    expect(card).to_contain_text("Can I talk to a human please?")
    expect(agent).to_have_title(re.compile(r"^\(\d+\) "))
    expect(agent.locator("#waiting-badge")).to_be_visible()
    assert agent.evaluate("window.SupportbotConsole.beeps") >= 1
    agent.screenshot(path=artifacts / "console-inbox-escalation.png")
    # when: the agent opens it and takes over
    card.get_by_role("link").first.click()
    expect(agent).to_have_url(re.compile(r"/console/conversations/[0-9a-f-]{36}/$"))
    expect(agent.locator("#transcript .msg.bot .sources a").first).to_be_visible()
    agent.get_by_role("button", name="Take over").click()
    # then: the visitor is told, live
    expect(visitor.locator(".msg.system").last).to_contain_text("Ana from support has joined the chat.")
    # when: the agent replies
    reply = agent.get_by_role("textbox", name="Your reply")
    expect(reply).to_be_visible()
    reply.fill("Hi, I'm Ana. Paste the script tag just before </body>.")
    reply.press("Enter")
    # then: the visitor sees the reply live, and the agent's transcript shows it
    expect(visitor.locator(".msg.agent")).to_contain_text("Paste the script tag just before </body>.")
    expect(visitor.locator(".msg.agent .who")).to_contain_text("Ana")
    expect(agent.locator("#transcript .msg.agent")).to_contain_text("Paste the script tag")
    visitor.screenshot(path=artifacts / "console-visitor-agent-reply.png")
    agent.screenshot(path=artifacts / "console-conversation-takeover.png")
    # when: the agent hands back and the visitor asks again
    agent.get_by_role("button", name="Hand back to the bot").click()
    expect(visitor.locator(".msg.system").last).to_contain_text("You're back with the assistant")
    expect(agent.get_by_role("button", name="Take over")).to_be_enabled()
    visitor_asks(visitor, "And where do I find my widget key?")
    # then: the bot answers again, and the agent watches it arrive
    expect(visitor.locator(".msg.bot[data-message-id]")).to_have_count(2, timeout=15000)
    expect(agent.locator("#transcript .msg.visitor").last).to_contain_text("where do I find my widget key")
    expect(agent.locator("#transcript .msg.bot")).to_have_count(2)
    visitor.screenshot(path=artifacts / "console-visitor-bot-again.png")
    agent.context.close()
    visitor.context.close()


def _chat(server, questions: list[str], rating: str | None = None) -> None:
    """A new visitor's conversation through the widget's websocket: each question answered (or escalated). Like
    the widget, it asks for a session token with no visitor id and uses the one the server issues. The
    synchronous client: Playwright's sync API already runs an event loop in this thread."""
    import httpx
    from websockets.sync.client import connect

    session = httpx.post(server.url + "/api/widget/session", json={"key": "demo"}, headers={"Origin": server.url})
    assert session.status_code == 200, session.text
    visitor_id, token = session.json()["visitor_id"], session.json()["token"]
    url = server.url.replace("http://", "ws://") + f"/ws/chat/?key=demo&visitor={visitor_id}&token={token}"
    with connect(url, origin=server.url, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "session"
        for question in questions:
            socket.send(json.dumps({"type": "message", "text": question}))
            while (frame := json.loads(socket.recv(timeout=20)))["type"] not in ("answer", "escalated"):
                pass
            if rating and frame["type"] == "answer":
                socket.send(json.dumps({"type": "feedback", "message_id": frame["message_id"], "rating": rating}))
                while json.loads(socket.recv(timeout=10))["type"] != "feedback_saved":
                    pass


def test_analytics_charts_are_drawn_from_recorded_conversations(server, browser: Browser, artifacts):
    # given: conversations held through the chat: answered and rated up, rated down, handed to a human
    _chat(server, [WIDGET_QUESTION, "How do I see who is online?"], rating="up")
    _chat(server, ["What is the airspeed of an unladen swallow?"], rating="down")
    _chat(server, ["I want to talk to a human"])
    # when
    agent = sign_in(browser, server, "ana")
    agent.goto(server.url + "/console/analytics/")
    # then: every chart is a Chart.js instance with data drawn on its canvas
    charts = agent.evaluate(
        """() => [...document.querySelectorAll("canvas")].map((canvas) => {
            const chart = Chart.getChart(canvas);
            return {
              id: canvas.id,
              drawn: !!chart && canvas.width > 0,
              datasets: chart ? chart.data.datasets.map((d) => d.data.filter((v) => v !== null).length) : [],
              total: chart ? chart.data.datasets.map((d) => d.data.reduce((a, v) => a + (v || 0), 0)) : [],
            };
        })"""
    )
    by_id = {chart["id"]: chart for chart in charts}
    expected = {"conversations", "deflection", "reasons", "thumbs", "confidence", "latency", "guards", "cache"}
    assert {f"chart-{name}" for name in expected} <= set(by_id)
    for chart in charts:
        assert chart["drawn"] and chart["datasets"] and all(chart["datasets"]), chart
    assert sum(by_id["chart-conversations"]["total"]) >= 3
    assert sum(by_id["chart-confidence"]["total"]) >= 3
    assert by_id["chart-thumbs"]["total"][0] >= 2 and by_id["chart-thumbs"]["total"][1] >= 1
    assert sum(by_id["chart-reasons"]["total"]) >= 1
    # and: the unanswerable question is a content gap, one click from an article
    gap = agent.locator("#gaps > li", has_text="unladen swallow")
    expect(gap).to_be_visible()
    expect(gap.get_by_role("link", name="Correct an answer")).to_be_visible()
    agent.screenshot(path=artifacts / "console-analytics.png", full_page=True)
    agent.context.close()


def test_an_uploaded_document_is_ingested_with_live_progress_and_found_by_the_playground(
    server, browser: Browser, artifacts
):
    word = f"quokka{secrets.token_hex(3)}"
    files = [
        {
            "name": f"guide-{n}-{word}.md",
            "mimeType": "text/markdown",
            "buffer": f"---\ntitle: {word.title()} guide {n}\n---\n\n# {word.title()} guide {n}\n\n"
            f"The {word} setting controls how often part {n} of the archive is rotated. "
            f"Open Settings, then Archive, and pick a rotation period.\n".encode(),
        }
        for n in range(1, 4)
    ]
    # given: an admin on the knowledge-base page
    admin = sign_in(browser, server, "kb-admin")
    admin.get_by_role("link", name="Knowledge base").click()
    # when: three files are uploaded
    admin.locator("#id_files").set_input_files(files)
    admin.get_by_role("button", name="Upload and ingest").click()
    # then: the job shows up and its progress advances to completion without a reload
    expect(admin.get_by_role("status").filter(has_text="Ingestion job")).to_be_visible()
    job = admin.locator("#jobs tr").first
    expect(job).to_contain_text(f"guide-1-{word}.md")
    expect(job.locator(".job-status")).to_have_text("Succeeded", timeout=60000)
    expect(job.locator(".job-progress")).to_have_text("3 of 3 documents")
    expect(job.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "3")
    expect(job).to_contain_text("3 new")
    admin.screenshot(path=artifacts / "console-kb-ingested.png")
    # when: the playground searches for it
    admin.get_by_role("link", name="Search playground").click()
    admin.get_by_role("searchbox", name="Query").fill(f"{word} rotation")
    admin.get_by_role("button", name="Search").click()
    # then: its chunks come first, with vector, keyword and fused scores
    first = admin.locator("#results tbody tr").first
    expect(first.locator(".result-title")).to_contain_text(word.title())
    cells = first.locator("td.num").all_inner_texts()
    assert cells[0] == "1" and all(re.fullmatch(r"\d+(\.\d+)?", c) for c in cells[1:]), cells
    admin.screenshot(path=artifacts / "console-playground.png")
    admin.context.close()
