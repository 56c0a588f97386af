"""The reranker (kb/reranking.py): it fixes fused orders, off changes nothing, a bad model fails clearly."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

import kb
from kb import reranking
from kb.management.commands.demo_setup import DEMO_DOCS

pytestmark = pytest.mark.django_db
QUESTION = "how do i change the chat button to our brand blue"


@pytest.fixture
def widget_pages(ingest, write_docs):
    # Two real demo pages that both talk about the chat button: fusion puts the embedding page first.
    names = ("customising-the-widget.md", "embedding-the-widget.md")
    job = ingest(write_docs({name: (DEMO_DOCS / name).read_text() for name in names}))
    assert job.status == "succeeded", job.errors
    return job


@pytest.fixture
def fresh_reranker():
    reranking.reranker.cache_clear()
    yield
    reranking.reranker.cache_clear()


def test_reranking_puts_the_answering_section_first_where_fusion_did_not(widget_pages, settings):
    # given
    settings.KB_RERANK = True
    fused = kb.search(QUESTION, k=5, rerank=False)
    assert fused[0].heading_path[-1] != "Colours and branding"
    # when
    reranked = kb.search(QUESTION, k=5)
    # then
    assert reranked[0].heading_path[-1] == "Colours and branding"
    assert all(0.0 <= r.rerank_score <= 1.0 for r in reranked)
    assert reranked[0].rerank_score == max(r.rerank_score for r in reranked)


def test_off_keeps_the_fused_order_and_no_rerank_score(widget_pages, settings):
    # given
    settings.KB_RERANK = False
    # when
    results = kb.search(QUESTION, k=5)
    # then
    assert [r.chunk_id for r in results] == [r.chunk_id for r in kb.search(QUESTION, k=5, rerank=False)]
    assert all(r.rerank_score is None for r in results)


def test_questions_outside_the_models_languages_keep_the_fused_order(widget_pages, settings):
    # given: the bundled model reads English only
    settings.KB_RERANK = True
    question = "채팅 버튼 색을 바꾸려면?"
    # when
    results = kb.search(question, k=5)
    # then
    assert [r.chunk_id for r in results] == [r.chunk_id for r in kb.search(question, k=5, rerank=False)]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param({}, "expected 'all-MiniLM-L6-v2' or a folder", id="missing"),
        pytest.param({"model.onnx": b"not a model", "tokenizer.json": b"{}"}, "cannot load", id="unloadable"),
    ],
)
def test_a_missing_or_unloadable_model_is_a_clear_configuration_error(
    tmp_path, settings, fresh_reranker, files, message
):
    # given
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    settings.KB_RERANK_MODEL = str(tmp_path)
    # when / then
    with pytest.raises(ImproperlyConfigured, match=message):
        reranking.reranker()
