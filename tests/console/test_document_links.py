"""Document links: a front-matter URL that a browser would run never becomes a link (dropped at ingestion, and
filtered in every template), and a document without a public URL is cited by its page on Supportbot, never by the
server path it was read from (kb/public_links.py)."""

from __future__ import annotations

import html
import re

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.urls import reverse

import kb
from kb.models import Document
from kb.public_links import public_url
from supportbot.chat.models import Widget
from tests.chat.conftest import ask, open_chat
from tests.chat.factories import AnswerFactory

GUIDE = """---
title: Moving your workspace to another region
{front_matter}
---

# Moving your workspace to another region

## Before you move

Export your data first. Moving a workspace to another region takes about an hour, during which the workspace is
read-only. Your widget keeps working and answers from the copy that is being moved.
"""
RUNNABLE = [
    pytest.param("javascript:alert(document.cookie)", id="javascript"),
    pytest.param("JavaScript:alert(1)", id="javascript-capitals"),
    pytest.param('"java\\tscript:alert(1)"', id="javascript-with-a-tab"),
    pytest.param("data:text/html,<script>alert(1)</script>", id="data"),
    pytest.param("vbscript:msgbox(1)", id="vbscript"),
    pytest.param("//evil.example/steal", id="protocol-relative"),
]


def _upload(client, name: str, content: str, capture) -> Document:
    with capture(execute=True):
        response = client.post(reverse("console:kb-upload"), {"files": [SimpleUploadedFile(name, content.encode())]})
    assert response.status_code == 302
    return Document.objects.get(uri__endswith=name)


def _hrefs(page: str) -> list[str]:
    return [html.unescape(href).strip().lower() for href in re.findall(r'href="([^"]*)"', page)]


def _runnable(hrefs: list[str]) -> list[str]:
    return [h for h in hrefs if re.sub(r"[\x00-\x20]", "", h).startswith(("javascript:", "data:", "vbscript:", "//"))]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        pytest.param("https://help.acme.test/refunds/", True, id="https"),
        pytest.param("http://help.acme.test/", True, id="http"),
        pytest.param("/help/getting-started/", True, id="a-path-on-this-site"),
        pytest.param("javascript:alert(1)", False, id="javascript"),
        pytest.param(" javascript:alert(1)", False, id="javascript-after-a-space"),
        pytest.param("java\tscript:alert(1)", False, id="javascript-with-a-tab"),
        pytest.param("data:text/html,x", False, id="data"),
        pytest.param("vbscript:msgbox(1)", False, id="vbscript"),
        pytest.param("//evil.example/", False, id="protocol-relative"),
        pytest.param("/\\evil.example/", False, id="backslash"),
        pytest.param("https:///no-host", False, id="https-without-a-host"),
        pytest.param("/home/ada/docs/secret.md", True, id="a-path-someone-declared-as-public"),
    ],
)
def test_only_http_links_and_paths_on_this_site_are_public(value, kept):
    assert public_url(value) == (value if kept else "")


@pytest.mark.parametrize("url", RUNNABLE)
def test_a_runnable_front_matter_url_never_becomes_a_link(
    url, support_admin_client, agent_client, data_dir, run_jobs_inline, django_capture_on_commit_callbacks
):
    # given: an uploaded article whose front matter gives a runnable url
    document = _upload(
        support_admin_client, "regions.md", GUIDE.format(front_matter=f"url: {url}"), django_capture_on_commit_callbacks
    )
    answer = AnswerFactory(
        citations=[{"n": 1, "title": document.title, "url": r.link, "snippet": ""} for r in kb.search("move region")]
    )
    # when: an admin opens the document, an agent reviews an answer citing it
    document_page = support_admin_client.get(reverse("console:document", args=[document.pk])).content.decode()
    review_page = agent_client.get(reverse("console:review-item", args=[answer.pk])).content.decode()
    # then: the url was dropped at ingestion; citations lead to the article's page on Supportbot
    assert document.url == ""
    assert _runnable(_hrefs(document_page)) == [] and _runnable(_hrefs(review_page)) == []
    assert f"/help/doc/{document.pk}/#before-you-move" in _hrefs(review_page)


@pytest.mark.parametrize("url", [p.values[0].strip('"').replace("\\t", "\t") for p in RUNNABLE])
def test_runnable_urls_stored_before_the_check_are_not_links_either(url, support_admin_client, agent_client, db):
    # given: a document row and a cited answer stored before ingestion dropped such urls
    document = Document.objects.create(uri="/srv/docs/old.md", url=url, title="Old article", format="markdown")
    answer = AnswerFactory(citations=[{"n": 1, "title": "Old article", "url": url, "snippet": ""}])
    # when
    document_page = support_admin_client.get(reverse("console:document", args=[document.pk])).content.decode()
    review_page = agent_client.get(reverse("console:review-item", args=[answer.pk])).content.decode()
    # then: the templates' safe_url filter leaves the href empty
    assert _runnable(_hrefs(document_page)) == [] and _runnable(_hrefs(review_page)) == []


def test_an_uploaded_documents_citations_and_search_results_carry_no_server_path(
    client, support_admin_client, data_dir, run_jobs_inline, django_capture_on_commit_callbacks
):
    # given: an uploaded article (stored under the data directory) and the demo page's widget
    document = _upload(
        support_admin_client, "regions.md", GUIDE.format(front_matter=""), django_capture_on_commit_callbacks
    )
    Widget.objects.create(key="demo", name="Demo", allowed_origins=["self"])
    assert document.uri.startswith(str(data_dir))
    # when: searched by kb.search and by the demo page's search box
    top = kb.search("move my workspace to another region", k=1)[0]
    found = client.get(
        "/api/search", {"key": "demo", "q": "move my workspace to another region"}, HTTP_ORIGIN="http://testserver"
    )
    # then: cited by its page on Supportbot, which visitors can open; the server path is nowhere
    assert top.link == f"/help/doc/{document.pk}/#before-you-move"
    assert found.json()["results"][0]["url"] == top.link
    page = client.get(top.link.split("#")[0])
    assert page.status_code == 200 and "Export your data first" in page.content.decode()
    for body in (found.content.decode(), page.content.decode()):
        assert str(data_dir) not in body and "regions.md" not in body


def test_a_quarantined_documents_page_is_not_shown_to_visitors(client, db):
    # given
    held = Document.objects.create(uri="/srv/docs/held.md", title="Held", format="markdown", flag_status="quarantined")
    # when
    response = client.get(reverse("kb:document-page", args=[held.pk]))
    # then
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_the_chat_cites_a_local_document_by_its_page_not_its_path(ingest, write_docs, widget, no_llm):
    # given: an article read from a file on the server
    folder = await sync_to_async(write_docs)({"regions.md": GUIDE.format(front_matter="")})
    job = await sync_to_async(ingest)(folder)
    assert job.status == "succeeded", job.errors
    document = await Document.objects.aget(title="Moving your workspace to another region")
    chat, _ = await open_chat()
    # when
    _, answer = await ask(chat, "how long does moving my workspace to another region take?")
    # then
    assert answer["type"] == "answer" and answer["citations"], answer
    assert {c["url"] for c in answer["citations"]} == {f"/help/doc/{document.pk}/#before-you-move"}
    assert str(folder) not in str(answer)
    await chat.disconnect()
    await sync_to_async(connections.close_all)()
