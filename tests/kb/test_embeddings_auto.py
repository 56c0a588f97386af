"""Multilingual with no setting: KB_EMBEDDING_MODEL=auto keeps the English model while every document is English
and moves the whole knowledge base to multilingual-e5-small at the first document in another language; `reembed`
moves a knowledge base embedded before (or with a fixed model) to what its documents call for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.db import connection

import kb
from kb.embeddings import AUTO, BUNDLED_MODEL, MULTILINGUAL_MODEL, active_model, embedder, embedder_for
from kb.models import Chunk, KnowledgeBaseState
from kb.reembedding import documents_reembed
from kb.services import embedding_text
from supportbot.evaluation.cases import cases_load
from supportbot.evaluation.retrieval import retrieval_evaluate

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "kb" / "demo"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KOREAN_PAGES = ["widget-keys-and-allowed-origins.md", "accounts-and-security.md"]


@pytest.fixture
def auto_model(settings):
    """The shipped default, whatever the environment running the tests says; models rebuilt around the test."""
    settings.KB_EMBEDDING_BACKEND, settings.KB_EMBEDDING_MODEL, settings.KB_EMBEDDING_DIMENSIONS = "local", AUTO, 384
    embedder.cache_clear()
    yield settings
    embedder.cache_clear()


def _stored_vectors_match(model_name: str) -> bool:
    """Every stored chunk vector is what `model_name` makes of the chunk's text."""
    chunks = list(Chunk.objects.select_related("document").order_by("pk"))
    expected = embedder_for(model_name).embed(
        [embedding_text(c.document.title, c.heading_path, c.text) for c in chunks]
    )
    stored = np.array([np.asarray(c.embedding, dtype=np.float32) for c in chunks])
    return bool(np.allclose(stored, expected, atol=1e-4))


def _korean_cases(tmp_path: Path):
    lines = (DEMO / "eval-ko.jsonl").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "ko.jsonl"
    path.write_text("\n".join(line for line in lines if any(page in line for page in KOREAN_PAGES)), encoding="utf-8")
    return cases_load(path)


def _immediate_constraints() -> None:
    # The test's own uncommitted inserts leave deferred foreign-key checks; a real job commits per document.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
def test_an_english_knowledge_base_keeps_the_english_model(auto_model, ingest):
    # given / when
    job = ingest(FIXTURES / "hybrid")
    # then
    assert job.status == "succeeded", job.errors
    assert active_model() == BUNDLED_MODEL == KnowledgeBaseState.objects.get().embedding_model
    assert embedder().model_name == BUNDLED_MODEL
    assert _stored_vectors_match(BUNDLED_MODEL)


@pytest.mark.django_db
def test_a_korean_document_moves_the_whole_knowledge_base_to_the_multilingual_model(auto_model, ingest, tmp_path):
    # given: an English knowledge base, embedded with the English model
    assert ingest(FIXTURES / "hybrid").status == "succeeded"
    version_before = KnowledgeBaseState.objects.get().version
    _immediate_constraints()
    # when: Korean pages are ingested with no setting changed
    job = ingest(*(DEMO / "docs-ko" / name for name in KOREAN_PAGES))
    # then: every chunk, the English ones included, carries a multilingual vector, and questions use that model
    assert job.status == "succeeded", job.errors
    state = KnowledgeBaseState.objects.get()
    assert state.embedding_model == MULTILINGUAL_MODEL == active_model() == embedder().model_name
    assert state.version > version_before
    assert _stored_vectors_match(MULTILINGUAL_MODEL)
    # and: Korean paraphrases find their sections, English questions still find theirs
    hybrid = retrieval_evaluate(_korean_cases(tmp_path), k=5, modes=("hybrid",))["modes"]["hybrid"]
    assert hybrid["hit@5"] >= 0.85 and hybrid["section_hit@5"] >= 0.8
    assert kb.search("what does error E4403 mean", k=3)[0].title == "Error codes"


@pytest.mark.django_db
def test_a_fixed_model_is_never_switched(auto_model, ingest):
    # given: a team that chose the English model explicitly
    auto_model.KB_EMBEDDING_MODEL = BUNDLED_MODEL
    # when
    job = ingest(DEMO / "docs-ko" / KOREAN_PAGES[0])
    # then
    assert job.status == "succeeded", job.errors
    assert KnowledgeBaseState.objects.get().embedding_model == BUNDLED_MODEL == embedder().model_name
    assert _stored_vectors_match(BUNDLED_MODEL)


@pytest.mark.django_db
def test_reembed_migrates_an_existing_korean_knowledge_base_to_the_new_default(auto_model, ingest, tmp_path):
    # given: Korean pages embedded by the English model, as every knowledge base was before `auto`
    auto_model.KB_EMBEDDING_MODEL = BUNDLED_MODEL
    assert ingest(*(DEMO / "docs-ko" / name for name in KOREAN_PAGES)).status == "succeeded"
    cases = _korean_cases(tmp_path)
    before = retrieval_evaluate(cases, k=5, modes=("hybrid",))["modes"]["hybrid"]
    # when: the upgrade's default, then `manage.py reembed`
    auto_model.KB_EMBEDDING_MODEL = AUTO
    assert active_model() == BUNDLED_MODEL  # what the stored vectors are, until they are re-embedded
    _immediate_constraints()
    state = documents_reembed()
    # then
    assert state.embedding_model == MULTILINGUAL_MODEL == active_model()
    assert _stored_vectors_match(MULTILINGUAL_MODEL)
    after = retrieval_evaluate(cases, k=5, modes=("hybrid",))["modes"]["hybrid"]
    assert after["section_mrr"] >= before["section_mrr"] + 0.15
    assert after["section_hit@5"] >= 0.8


@pytest.mark.django_db
def test_reembed_keeps_an_english_knowledge_base_on_the_english_model(auto_model, ingest):
    # given
    assert ingest(FIXTURES / "hybrid").status == "succeeded"
    _immediate_constraints()
    # when
    state = documents_reembed()
    # then
    assert state.embedding_model == BUNDLED_MODEL == active_model()
    assert _stored_vectors_match(BUNDLED_MODEL)
