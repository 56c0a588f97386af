"""kb.search: hybrid beats either signal alone; the `search` and `evaluate` commands print the promised JSON."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import kb
from supportbot.evaluation.cases import cases_load
from supportbot.evaluation.retrieval import retrieval_evaluate

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"
HYBRID_EVAL = FIXTURES / "hybrid-eval.jsonl"


@pytest.fixture
def help_centre(ingest):
    job = ingest(FIXTURES / "hybrid")
    assert job.status == "succeeded", job.errors
    return job


def test_hybrid_ranks_better_than_either_signal_alone(help_centre):
    # given: questions where only exact codes help (keyword) and paraphrases with no shared words (vector)
    cases = cases_load(HYBRID_EVAL)
    # when
    report = retrieval_evaluate(cases, k=3)["modes"]
    # then
    hybrid, vector, keyword = report["hybrid"], report["vector"], report["keyword"]
    for metric in ("section_hit@1", "section_mrr"):
        assert hybrid[metric] > vector[metric], metric
        assert hybrid[metric] > keyword[metric], metric
    assert hybrid["section_hit@3"] == 1.0


def test_exact_codes_are_found_by_keyword_and_kept_by_hybrid(help_centre):
    top = kb.search("what does E4403 mean", k=1)[0]
    assert top.heading_path == ["Error codes", "E4403"]
    assert top.source.endswith("error-codes.md")
    # A local file has no public URL: it is cited by its page on Supportbot, never by its server path.
    assert top.link == f"/help/doc/{top.document_id}/#e4403"
    assert top.keyword_rank == 1 and top.vector_rank is not None


def test_paraphrases_are_found_by_vector_and_kept_by_hybrid(help_centre):
    assert kb.search("I forgot how to update my password", k=5, mode="keyword") == []
    top = kb.search("I forgot how to update my password", k=1)[0]
    assert top.heading_path == ["Accounts", "Changing the sign-in secret"]
    assert top.keyword_rank is None and top.vector_rank == 1


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_each_mode_returns_at_most_k_results_best_first(help_centre, mode):
    results = kb.search("error code widget refused", k=3, mode=mode)
    assert 0 < len(results) <= 3
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


@pytest.mark.parametrize("query", ["", "   ", "the and of"], ids=["empty", "blank", "stopwords-only"])
def test_queries_with_nothing_to_search_are_fine(help_centre, query):
    results = kb.search(query, k=5, mode="keyword")
    assert results == []


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        kb.search("anything", mode="fuzzy")


def test_search_command_prints_the_promised_json(help_centre):
    # when
    out = StringIO()
    call_command("search", "widget key revoked", "--k", "2", "--mode", "hybrid", "--json", stdout=out)
    # then
    payload = json.loads(out.getvalue())
    assert set(payload) == {"results", "took_ms"}
    assert len(payload["results"]) == 2
    first = payload["results"][0]
    assert set(first) == {"chunk_id", "document_id", "title", "source", "url", "heading", "text", "score"}
    assert first["title"] == "Error codes"
    assert first["heading"] == "Error codes > E4011"
    # The command is for staff: `source` is where the document was read from, `url` what visitors are shown.
    assert first["source"].endswith("error-codes.md")
    assert first["url"] == f"/help/doc/{first['document_id']}/#e4011"
    assert first["source"].endswith("error-codes.md")
    assert isinstance(first["score"], float) and payload["took_ms"] >= 0


def test_search_command_readable_output(help_centre):
    out = StringIO()
    call_command("search", "refund", stdout=out)
    assert "Refunds" in out.getvalue() and "results in" in out.getvalue()


def test_evaluate_command_prints_the_promised_json(help_centre):
    # when
    out = StringIO()
    call_command("evaluate", str(HYBRID_EVAL), "--k", "5", "--json", stdout=out)
    # then
    payload = json.loads(out.getvalue())
    assert payload["n"] == 12 and payload["k"] == 5
    assert set(payload["modes"]) == {"hybrid", "vector", "keyword"}
    expected = {"hit@1", "hit@5", "mrr", "section_hit@1", "section_hit@5", "section_mrr", "p50_ms", "p95_ms"}
    for metrics in payload["modes"].values():
        assert set(metrics) == expected
        assert all(0 <= metrics[name] <= 1 for name in expected - {"p50_ms", "p95_ms"})
    assert payload["modes"]["hybrid"]["hit@5"] == 1.0


def test_evaluate_command_readable_table(help_centre):
    out = StringIO()
    call_command("evaluate", str(HYBRID_EVAL), "--k", "3", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "12 questions, k=3"
    assert lines[1].split()[:4] == ["mode", "hit@1", "hit@3", "mrr"]
    assert [line.split()[0] for line in lines[2:]] == ["hybrid", "vector", "keyword"]


def test_evaluate_rejects_a_malformed_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no source"}\n')
    with pytest.raises(CommandError, match="bad.jsonl:1"):
        call_command("evaluate", str(bad))
