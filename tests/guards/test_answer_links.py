"""Links in answers go only where the knowledge base itself comes from (its documents' hosts and Supportbot's
own), plus the domains a widget allows (Widget.answer_link_domains, edited in the console's widget form)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connections
from django.test import Client
from django.urls import reverse

from supportbot.chat.models import Widget
from supportbot.console.access import ADMIN_GROUP
from tests.chat.conftest import ask, open_chat
from tests.fake_llm import echo_context

pytestmark = [pytest.mark.django_db(transaction=True)]

STATUS_ARTICLE = """---
title: Service status
url: https://help.acme.test/status/
---

# Service status

## Where outages are posted

Outages and maintenance windows are posted on https://status.partner.test/outages as soon as we know of them.
Each incident is explained on our help page https://help.acme.test/status/ once it is resolved.
"""


@pytest.fixture(autouse=True)
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def status_article(write_docs, ingest):
    job = ingest(write_docs({"status.md": STATUS_ARTICLE}))
    assert job.status == "succeeded", job.errors
    assert job.flagged == 0


async def _ask(question: str) -> tuple[str, str]:
    """What was streamed (every frame) and the answer's text."""
    chat, _ = await open_chat()
    tokens, answer = await ask(chat, question)
    await chat.disconnect()
    return " ".join(f"{t['text']} {t.get('replace', '')}" for t in tokens), answer["text"]


async def test_an_answer_links_to_the_knowledge_base_own_site_but_not_to_another(widget, status_article, llm):
    # given: a model that repeats its context word for word
    llm.reply = echo_context
    # when
    streamed, text = await _ask("where are outages posted?")
    # then
    assert "https://help.acme.test/status/" in text
    assert "status.partner.test" not in streamed + text
    assert "Outages and maintenance windows are posted on" in text


async def test_a_widget_allows_more_link_domains(widget, status_article, llm):
    # given
    llm.reply = echo_context
    widget.answer_link_domains = ["partner.test"]
    await widget.asave()
    # when
    _, text = await _ask("where are outages posted?")
    # then
    assert "https://status.partner.test/outages" in text
    assert "https://help.acme.test/status/" in text


def _admin_client() -> Client:
    admin = get_user_model().objects.create_user("ada", is_staff=True)
    admin.groups.add(Group.objects.get_or_create(name=ADMIN_GROUP)[0])
    client = Client()
    client.force_login(admin)
    return client


def _form(widget: Widget, **changes) -> dict:
    data = {"name": widget.name, "title": widget.title, "greeting": widget.greeting, "accent_color": "#3558e6"}
    return {**data, "allowed_origins": "http://testserver", "pii_policy": "redact", **changes}


def test_an_admin_sets_a_widget_link_domains_in_the_console(widget):
    # given
    client = _admin_client()
    # when
    form = client.get(reverse("console:widget-edit", args=[widget.pk])).content.decode()
    response = client.post(
        reverse("console:widget-edit", args=[widget.pk]),
        _form(widget, answer_link_domains="https://Status.Partner.test/\n*.docs.example.org\nstatus.partner.test"),
    )
    # then
    assert 'name="answer_link_domains"' in form
    assert response.status_code == 302
    widget.refresh_from_db()
    assert widget.answer_link_domains == ["status.partner.test", "docs.example.org"]


def test_a_link_domain_that_is_not_a_domain_is_refused_with_a_clear_error(widget):
    # given
    client = _admin_client()
    # when
    response = client.post(
        reverse("console:widget-edit", args=[widget.pk]), _form(widget, answer_link_domains="not a domain")
    )
    # then
    assert response.status_code == 200
    assert "Not a domain: not a domain" in response.content.decode()
    widget.refresh_from_db()
    assert widget.answer_link_domains == []
