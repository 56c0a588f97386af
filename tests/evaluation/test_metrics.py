"""Each metric on hand-made cases whose values are known."""

from __future__ import annotations

import pytest

from kb.embeddings import embedder
from supportbot.evaluation.judge import judge_score_parse
from supportbot.evaluation.metrics import (
    answer_groundedness,
    auroc,
    citation_precision,
    escalation_outcome,
    reliability_bins,
    rouge_l,
    semantic_f1,
)
from supportbot.evaluation.retrieval import rank_metrics

REFUNDS = "If you cancel within 14 days of purchase we return the full payment to the card you paid with."
SHIPPING = "Parcels to Germany usually arrive within three working days; tracking links are sent by email."


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        pytest.param("the cat sat on the mat", "the cat sat on the mat", 1.0, id="identical"),
        # LCS "the cat on the mat" = 5 of 6 words both ways: P = R = F = 5/6.
        pytest.param("the cat sat on the mat", "the cat lay on the mat", 0.8333, id="one-word-changed"),
        # LCS "a b" = 2 words; P = 2/2, R = 2/4, F = 2PR / (P + R) = 2/3.
        pytest.param("a b", "a x b y", 0.6667, id="subsequence"),
        pytest.param("refunds take five days", "parcels arrive quickly", 0.0, id="disjoint"),
        pytest.param("Refunds take five days [1].", "Refunds take five days.", 1.0, id="citation-markers-ignored"),
        # Porter stemming: "returns"/"returned" → "return".
        pytest.param("payments returned", "payment returns", 1.0, id="stemmed"),
    ],
)
def test_rouge_l_on_known_strings(answer, reference, expected):
    assert rouge_l(answer, reference) == expected


def test_hit_and_mrr_on_a_fake_ranking():
    # given: first-hit ranks of four questions, one missed
    ranks = [1, 3, None, 2]
    # when
    metrics = rank_metrics(ranks, 5)
    # then: MRR = (1 + 1/3 + 0 + 1/2) / 4
    assert metrics == {"hit@1": 0.25, "hit@5": 0.75, "mrr": 0.4583}


def test_groundedness_counts_supported_claims_and_skips_conversation():
    # given: two passages and an answer with a supported claim, a changed number, a claim citing the wrong
    # passage and a conversational closing line
    chunks = [REFUNDS, SHIPPING]
    vectors = embedder().embed(chunks)
    answer = (
        "If you cancel within 14 days of purchase we return the full payment [1]. "
        "If you cancel within 30 days of purchase we return the full payment [1]. "
        "Your payment goes back to the card you paid with [2]. "
        "Would you like to talk to a human?"
    )
    # when
    grounding = answer_groundedness(answer, chunks, vectors)
    # then
    assert [s["supported"] for s in grounding["sentences"]] == [True, False, False]
    assert grounding["sentences"][1]["missing_numbers"] == ["30"]
    assert (grounding["claims"], grounding["supported"], grounding["score"]) == (3, 1, 0.3333)


def test_groundedness_of_an_answer_without_claims_is_none():
    vectors = embedder().embed([REFUNDS])
    grounding = answer_groundedness("I couldn't find that. Would you like to talk to a human?", [REFUNDS], vectors)
    assert grounding == {"score": None, "claims": 0, "supported": 0, "sentences": []}


def test_citation_precision_is_the_share_of_cited_chunks_from_the_expected_document():
    cited = [
        ("/srv/docs/refunds.md", "/help/refunds/"),
        ("/srv/docs/refunds.md", "/help/refunds/"),
        ("/srv/docs/shipping.md", "/help/shipping/"),
        ("https://example.com/refunds", ""),
    ]
    assert citation_precision(cited, "refunds.md") == 0.5
    assert citation_precision(cited, "/help/shipping/") == 0.25
    assert citation_precision([], "refunds.md") is None


@pytest.mark.parametrize(
    ("citations", "human_offered", "label", "expected"),
    [
        pytest.param(0, True, "low", "declined", id="no-sources-human-offered"),
        pytest.param(2, True, "low", "hedged", id="unsure-and-human-offered"),
        pytest.param(2, False, "high", "answered", id="confident-answer"),
        pytest.param(1, True, "medium", "answered", id="human-offered-but-fairly-sure"),
        pytest.param(0, False, "low", "answered", id="no-sources-no-human"),
    ],
)
def test_escalation_outcome_on_unanswerable_questions(citations, human_offered, label, expected):
    assert escalation_outcome(citations=citations, human_offered=human_offered, confidence_label=label) == expected


def test_reliability_bins_and_calibration_error():
    # given: (confidence, correct) pairs; one without a confidence is left out
    pairs = [(0.05, False), (0.15, False), (0.15, True), (0.95, True), (1.0, True), (None, True)]
    # when
    diagram = reliability_bins(pairs)
    # then: ten bins; 1.0 falls in the last
    bins = diagram["bins"]
    assert len(bins) == 10 and diagram["n"] == 5
    assert (bins[0]["n"], bins[0]["confidence"], bins[0]["accuracy"]) == (1, 0.05, 0.0)
    assert (bins[1]["n"], bins[1]["confidence"], bins[1]["accuracy"]) == (2, 0.15, 0.5)
    assert (bins[9]["n"], bins[9]["confidence"], bins[9]["accuracy"]) == (2, 0.975, 1.0)
    assert all(b["n"] == 0 and b["accuracy"] is None for b in bins[2:9])
    # ECE = (1 × 0.05 + 2 × 0.35 + 2 × 0.025) / 5
    assert diagram["ece"] == 0.16


def test_semantic_f1_is_one_for_identical_text_and_low_for_unrelated_text():
    identical = semantic_f1(REFUNDS + " " + SHIPPING, REFUNDS + " " + SHIPPING)
    unrelated = semantic_f1("The quarterly board meeting moved to the Lisbon office.", REFUNDS)
    paraphrase = semantic_f1("Cancel in the first two weeks and your money is refunded to your card.", REFUNDS)
    assert identical == 1.0
    assert unrelated < 0.3
    assert unrelated < paraphrase < identical


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param("Every statement is in passage [1].\nScore: 5", 5, id="form"),
        pytest.param("Score (1-5): 3", 3, id="with-scale"),
        pytest.param("Steps... Score: 2\nOn reflection, Score: 4", 4, id="last-score-wins"),
        pytest.param("**Score:** 1", 1, id="markdown"),
        pytest.param("4", 4, id="bare-number"),
        pytest.param("The answer is fine.", None, id="no-score"),
        pytest.param("Score: 7", None, id="out-of-range"),
    ],
)
def test_judge_scores_are_parsed_from_the_reply(reply, expected):
    assert judge_score_parse(reply) == expected


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        pytest.param([(0.9, True), (0.8, True), (0.2, False), (0.1, False)], 1.0, id="separated"),
        pytest.param([(0.1, True), (0.9, False)], 0.0, id="reversed"),
        pytest.param([(0.5, True), (0.5, False), (0.7, True), (0.3, False)], 0.875, id="a-tie-counts-half"),
        pytest.param([(0.5, True), (None, False)], None, id="one-class-only"),
    ],
)
def test_auroc_is_the_chance_an_answerable_question_gets_more_confidence(pairs, expected):
    # given / when
    value = auroc(pairs)
    # then
    assert value == expected
