"""Supportbot's own pages under their Content-Security-Policy, in Debian's chromium against a real server: every
page works (the widget, the search box, the console's websocket, charts, the admin) and the browser refuses
nothing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser
PASSWORD = "csp-pw-12345"
CREATE_ADMIN = f"""
from django.contrib.auth.models import User
user, _ = User.objects.get_or_create(username="csp-admin", defaults={{"is_staff": True, "is_superuser": True}})
user.set_password("{PASSWORD}"); user.save()
"""
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture(scope="module")
def server(live_server_process):
    live_server_process.manage("shell", "-c", CREATE_ADMIN)
    return live_server_process


@pytest.fixture
def watched(browser: Browser) -> Page:
    """A page that records every CSP violation the browser reports, whatever page it shows next."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(WATCH_VIOLATIONS)
    page = context.new_page()
    page.refused = []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.refused.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    context.close()


def _visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, url
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def _nothing_refused(page: Page) -> None:
    assert page.evaluate("window.__violations") == [], page.url
    assert page.refused == [], page.url  # type: ignore[attr-defined]


def test_the_public_pages_work_under_their_policy(server, watched: Page):
    # when: the demo page
    _visit(watched, server.url + "/")
    # then: the widget connects and the search box (a static script now) answers
    expect(watched.locator("#supportbot-widget .launcher")).to_have_text("Supportbot help")
    watched.get_by_role("searchbox", name="Search the knowledge base").fill("embed the widget")
    watched.get_by_role("button", name="Search").click()
    expect(watched.locator("#results .result").first).to_be_visible()
    assert watched.locator("body").evaluate("(b) => getComputedStyle(b).maxWidth") != "none"  # site.css applies
    _nothing_refused(watched)
    # when: a help page
    _visit(watched, server.url + "/help/embedding-the-widget/")
    # then
    expect(watched.locator("article h1")).to_be_visible()
    _nothing_refused(watched)


def test_the_console_works_under_its_policy(server, watched: Page):
    # given: signed in
    _visit(watched, server.url + "/console/login/")
    watched.get_by_label("Username").fill("csp-admin")
    watched.get_by_label("Password").fill(PASSWORD)
    watched.get_by_role("button", name="Sign in").click()
    # then: the console's websocket connects (connect-src 'self' covers ws: to the same host)
    expect(watched.locator("#socket-state.up")).to_be_attached()
    _nothing_refused(watched)
    # when / then: the charts are drawn by the vendored Chart.js
    _visit(watched, server.url + "/console/analytics/")
    expect(watched.locator("canvas#chart-conversations")).to_be_visible()
    assert watched.evaluate("!!Chart.getChart(document.getElementById('chart-conversations'))")
    _nothing_refused(watched)
    # when / then: the other pages that used to carry inline styles or handlers
    for path in ("/console/kb/", "/console/kb/playground/?q=widget&mode=hybrid&k=5", "/console/widgets/new/"):
        _visit(watched, server.url + path)
        _nothing_refused(watched)
    # when: deleting a document asks first (a listener in console.js, no longer an onsubmit attribute)
    document_id = server.sql("SELECT id FROM kb_document ORDER BY id LIMIT 1")[0][0]
    _visit(watched, server.url + f"/console/kb/documents/{document_id}/")
    asked: list[str] = []
    watched.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    watched.get_by_role("button", name="Delete").click()
    # then: dismissed, nothing was deleted
    expect(watched).to_have_url(re.compile(rf"/console/kb/documents/{document_id}/$"))
    assert asked == ["Delete this document and its chunks?"]
    assert server.sql("SELECT count(*) FROM kb_document WHERE id = %s", (document_id,)) == [(1,)]
    _nothing_refused(watched)


def test_the_django_admin_works_under_the_policy(server, watched: Page):
    # given: the admin's own sign-in form
    _visit(watched, server.url + "/admin/login/")
    watched.get_by_label("Username").fill("csp-admin")
    watched.get_by_label("Password").fill(PASSWORD)
    watched.get_by_role("button", name="Log in").click()
    expect(watched.locator("#site-name")).to_be_visible()
    _nothing_refused(watched)
    # when / then: changelists and an add form
    for path in ("/admin/kb/document/", "/admin/feedback/reviewitem/", "/admin/chat/widget/add/"):
        _visit(watched, server.url + path)
        _nothing_refused(watched)
    # and: the admin's scripts run (select all ticks every row)
    _visit(watched, server.url + "/admin/kb/document/")
    watched.locator("#action-toggle").check()
    expect(watched.locator("input.action-select").first).to_be_checked()
    _nothing_refused(watched)
