"""The demo help centre that `make run` serves: it ingests cleanly and retrieval on its eval set is good."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils.html import escape

from kb.models import Document
from supportbot.evaluation.cases import cases_load
from supportbot.evaluation.retrieval import retrieval_evaluate

pytestmark = pytest.mark.django_db
DEMO = Path(__file__).resolve().parents[2] / "kb" / "demo"


@pytest.fixture
def demo_kb(ingest):
    job = ingest(DEMO / "docs")
    assert job.status == "succeeded", job.errors
    return job


def test_every_demo_page_has_a_public_help_url(demo_kb):
    documents = Document.objects.all()
    assert documents.count() == len(list((DEMO / "docs").glob("*.md")))
    assert all(d.url == f"/help/{Path(d.uri).stem}/" for d in documents)


def test_retrieval_quality_on_the_demo_eval_set(demo_kb):
    # given: paraphrased visitor questions, each with the page and section that answers it
    cases = cases_load(DEMO / "eval.jsonl")
    # when
    modes = retrieval_evaluate(cases, k=5)["modes"]
    # then
    assert len(cases) >= 60
    assert modes["hybrid"]["hit@5"] >= 0.9
    assert modes["hybrid"]["hit@5"] >= modes["vector"]["hit@5"]
    assert modes["hybrid"]["mrr"] >= modes["vector"]["mrr"]


def test_demo_setup_ingests_and_prints_a_staff_login(settings, tmp_path):
    # given
    settings.DATA_DIR = tmp_path
    out = StringIO()
    # when
    call_command("demo_setup", stdout=out)
    # then
    printed = out.getvalue()
    assert " succeeded: " in printed and " 0 failed" in printed
    username, password = printed.split("Staff login: ")[1].split()[0:3:2]
    from django.contrib.auth import authenticate

    user = authenticate(username=username, password=password)
    assert user is not None and user.is_staff


def test_help_pages_render_with_anchors_that_citations_use(demo_kb, client):
    # given
    document = Document.objects.get(uri__endswith="embedding-the-widget.md")
    chunk = document.chunks.exclude(anchor="").last()
    # when
    response = client.get(document.url)
    # then
    assert response.status_code == 200
    assert f'id="{chunk.anchor}"' in response.content.decode()
    assert client.get("/help/no-such-page/").status_code == 404


def test_home_page_lists_the_help_centre(demo_kb, client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    for document in Document.objects.all():
        assert f'href="{document.url}"' in page and escape(document.title) in page
