"""Keyword search is BM25 over the whole index, and hybrid fusion is weighted so it can never fall below a part."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

import kb

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def help_centre(ingest):
    job = ingest(FIXTURES / "hybrid")
    assert job.status == "succeeded", job.errors
    return job


def bm25_by_hand(question: str) -> dict[int, float]:
    """BM25 (k1 1.2, b 0.75) of every chunk for `question`, from the stored full-text vectors, in Python."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme FROM unnest(kb_tsvector(%s::regconfig, %s))", [settings.KB_TEXT_SEARCH_CONFIG, question]
        )
        terms = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT c.id, u.lexeme, array_length(u.positions, 1), length(c.search_vector) "
            "FROM kb_chunk AS c, unnest(c.search_vector) AS u"
        )
        rows = cursor.fetchall()
    lengths = {chunk: length for chunk, _, _, length in rows}
    average = sum(lengths.values()) / len(lengths)
    ndoc = {term: sum(1 for _, lexeme, _, _ in rows if lexeme == term) for term in terms}
    scores: dict[int, float] = {}
    for chunk, lexeme, tf, length in rows:
        if lexeme in terms:
            idf = math.log(1 + (len(lengths) - ndoc[lexeme] + 0.5) / (ndoc[lexeme] + 0.5))
            norm = 1.2 * (0.25 + 0.75 * length / average)
            scores[chunk] = scores.get(chunk, 0.0) + idf * tf * 2.2 / (tf + norm)
    return scores


@pytest.mark.parametrize(
    "question",
    [
        pytest.param("why was my refund for the order declined", id="common-and-rare-words"),
        pytest.param("how do I change my account password settings", id="common-words"),
        pytest.param("E4403", id="one-code"),
    ],
)
def test_keyword_search_is_bm25_over_every_query_term(help_centre, question):
    # given: BM25 of every chunk of the knowledge base, computed by hand
    expected = bm25_by_hand(question)
    best = sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:5]
    # when
    results = kb.search(question, k=5, mode="keyword")
    # then: the same chunks in the same order, with the same scores
    assert [(r.chunk_id, round(r.keyword_score, 6)) for r in results] == [(c, round(s, 6)) for c, s in best]


def test_a_chunk_with_all_the_common_terms_is_found_even_past_the_per_term_cap(ingest, write_docs, settings):
    # given: "printer" and "network" are each in three pages; only the last page has both (twice: BM25's best).
    # A term may bring in one chunk, so each brings in only its first page; the chunks holding both find the last.
    folder = write_docs(
        {
            "a.md": "# Printers\n\nThe printer prints pages on paper.\n",
            "b.md": "# Networks\n\nThe network connects the office.\n",
            "c.md": "# Printer ink\n\nA printer needs ink.\n",
            "d.md": "# Network cables\n\nA network needs cables.\n",
            "z.md": "# Sharing\n\nShare the printer on the network: a network printer.\n",
        }
    )
    assert ingest(folder).status == "succeeded"
    settings.KB_KEYWORD_TERM_CANDIDATES = 1
    question = "printer network"
    expected = bm25_by_hand(question)
    # when
    results = kb.search(question, k=3, mode="keyword")
    # then: the page with both words ranks first, and every score is exact BM25
    assert results[0].title == "Sharing"
    assert results[0].chunk_id == max(expected, key=expected.get)
    assert all(round(r.keyword_score, 6) == round(expected[r.chunk_id], 6) for r in results)


@pytest.mark.parametrize("fusion", ["score", "rrf"])
def test_hybrid_with_a_zero_weight_ranks_exactly_as_the_other_signal(help_centre, settings, fusion):
    # given
    question = "what does the error code for a revoked widget key mean"
    settings.KB_FUSION = fusion
    # when: keyword weight 0, then vector weight 0
    settings.KB_FUSION_VECTOR_WEIGHT, settings.KB_FUSION_KEYWORD_WEIGHT = 1.0, 0.0
    vector_only = [r.chunk_id for r in kb.search(question, k=5, mode="hybrid")]
    settings.KB_FUSION_VECTOR_WEIGHT, settings.KB_FUSION_KEYWORD_WEIGHT = 0.0, 1.0
    keyword_only = [r.chunk_id for r in kb.search(question, k=5, mode="hybrid")]
    # then
    assert vector_only == [r.chunk_id for r in kb.search(question, k=5, mode="vector")]
    assert keyword_only == [r.chunk_id for r in kb.search(question, k=5, mode="keyword")]


def test_hybrid_results_carry_both_signals(help_centre):
    # when
    results = kb.search("what does E4403 mean", k=5)
    # then: every candidate has its exact cosine, and BM25 wherever a query word occurs
    assert all(r.vector_score is not None for r in results)
    top = results[0]
    assert top.heading_path == ["Error codes", "E4403"]
    assert top.keyword_rank == 1 and top.keyword_score > 0
