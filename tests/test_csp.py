"""Content-Security-Policy: every page Supportbot renders carries a strict policy, and no template holds inline
script, inline style or an inline event handler that the policy would refuse (tests/test_csp_browser.py checks the
pages in chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.template import engines
from django.test import Client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]
PAGE = """---
title: {title}
url: {url}
---

# {title}

Paste the widget's script tag just before the closing body tag of every page.
"""
PAGES = [
    pytest.param("/", None, id="demo-page"),
    pytest.param("/ko/", None, id="demo-page-korean"),
    pytest.param("/help/csp-check/", None, id="help-page"),
    pytest.param("/help/faq/4242/", None, id="faq-page"),
    pytest.param("/console/login/", None, id="console-sign-in"),
    pytest.param("/console/", "staff", id="console-inbox"),
    pytest.param("/console/analytics/", "staff", id="console-analytics"),
    pytest.param("/console/kb/", "superuser", id="console-knowledge-base"),
    pytest.param("/admin/login/", None, id="admin-sign-in"),
    pytest.param("/admin/kb/document/", "superuser", id="admin-changelist"),
    pytest.param("/admin/feedback/reviewitem/", "superuser", id="admin-review-queue"),
]
# A standalone file the evaluate command writes to disk (never served); it carries its own meta policy.
NOT_SERVED = {"evaluation/report.html"}
INLINE = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
]


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.fixture
def pages(ingest, write_docs) -> None:
    """A help page and an FAQ page, ingested like any document."""
    folder = write_docs(
        {
            "help.md": PAGE.format(title="Embedding the widget", url="/help/csp-check/"),
            "faq.md": PAGE.format(title="FAQ - where does the tag go?", url="/help/faq/4242/"),
        }
    )
    job = ingest(folder)
    assert job.status == "succeeded", job.errors


@pytest.fixture
def users_client(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    def signed_in(who: str | None) -> Client:
        client = Client()
        if who:
            user = get_user_model().objects.create_user(who, password="pw-csp-12345", is_staff=True)
            user.is_superuser = who == "superuser"
            user.save()
            client.force_login(user)
        return client

    return signed_in


@pytest.mark.parametrize(("path", "who"), PAGES)
def test_every_page_supportbot_renders_carries_a_strict_policy(pages, users_client, path, who):
    # given
    client = users_client(who)
    # when
    response = client.get(path)
    # then
    assert response.status_code == 200
    policy = _policy(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == ["'none'"]
    assert not [value for values in policy.values() for value in values if value.startswith("'unsafe-")]
    # and: nothing on the page needs an exception the policy does not make
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert all("src=" in tag or 'type="application/json"' in tag for tag in scripts), scripts
    assert not re.search(r"\son[a-z]+\s*=\s*[\"']", html)


def test_refusals_and_api_answers_carry_the_policy_too(client):
    # given / when
    responses = [client.get("/console/"), client.get("/no-such-page/"), client.post("/api/widget/session", {})]
    # then
    assert all("frame-ancestors 'none'" in r["Content-Security-Policy"] for r in responses)


def _templates() -> list[tuple[str, str]]:
    found = []
    for folder in engines["django"].template_dirs:
        folder = Path(folder)
        if not folder.is_relative_to(ROOT) or ".venv" in folder.parts:
            continue  # Django's own (the admin, checked above and in the browser)
        for path in folder.rglob("*.html"):
            name = path.relative_to(folder).as_posix()
            if name not in NOT_SERVED:
                found.append((name, path.read_text(encoding="utf-8")))
    return found


def test_no_template_holds_inline_script_style_or_handlers():
    # given
    templates = _templates()
    assert {"base.html", "home.html", "kb/help_page.html", "console/base.html"} <= {name for name, _ in templates}
    # when
    found = [(name, what) for name, text in templates for pattern, what in INLINE if pattern.search(text)]
    # then: the policy would refuse them; move them into static files (see CONTRIBUTING.md)
    assert found == []
