"""No script runs in the visitor's browser, whatever is in the message, the knowledge base or the answer."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

POISONED_DOC = """---
title: Error E9999
url: /help/error-e9999/
---
# Error E9999

## Fixing E9999

To fix error E9999 <img src=x onerror="window.__xss=1"> restart the chat widget from the admin page.
Then open [the status page](javascript:window.__xss=2) and check that error E9999 is gone
<script>window.__xss=3</script>.
"""
PAYLOADS = [
    '<img src=x onerror="window.__xss=4"> How do I fix error E9999?',
    "<script>window.__xss=5</script>",
    "[click me](javascript:window.__xss=6)",
    "<svg/onload=window.__xss=7>",
]


def test_script_payloads_never_execute_in_the_widget(live_server_process, page: Page, artifacts, tmp_path):
    # given: a knowledge base document with script in it, ingested into the running server
    doc = tmp_path / "e9999.md"
    doc.write_text(POISONED_DOC)
    live_server_process.manage("ingest", str(doc), "--quiet")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(live_server_process.url + "/")
    page.locator("#supportbot-widget .launcher").click()
    box = page.get_by_role("textbox", name="Your question")
    # when: the visitor sends script payloads and asks about the poisoned page
    for payload in PAYLOADS:
        box.fill(payload)
        page.keyboard.press("Enter")
        expect(page.locator(".msg.bot[data-message-id]")).to_have_count(PAYLOADS.index(payload) + 1, timeout=15000)
    # then: the answer quotes the page without its markup, and nothing ran
    answer = page.locator(".msg.bot[data-message-id]").first
    expect(answer).to_contain_text("restart the chat widget")
    assert "onerror" not in answer.inner_text() and "<img" not in answer.inner_text()
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    shadow_elements = page.evaluate(
        "[...document.querySelector('#supportbot-widget').shadowRoot.querySelectorAll('img,script,svg,iframe')]"
        ".filter(e => !e.closest('.thumb')).length"
    )
    assert shadow_elements == 0
    hrefs = page.evaluate(
        "[...document.querySelector('#supportbot-widget').shadowRoot.querySelectorAll('a')].map(a => a.href)"
    )
    assert all(h.startswith(("http://", "https://")) for h in hrefs)
    page.reload()
    page.locator("#supportbot-widget .launcher").click()
    expect(page.locator(".msg.visitor").first).to_contain_text("<img src=x")  # shown as text, after reload too
    assert page.evaluate("window.__xss") is None and dialogs == []
    page.screenshot(path=artifacts / "widget-xss.png")
