"""Eval files: plain questions, reference answers, the feedback `eval` export and unanswerable questions."""

from __future__ import annotations

import pytest

from supportbot.evaluation.cases import EvalCase, EvalFileError, cases_load
from supportbot.evaluation.services import answers_select


def test_reference_answers_come_from_reference_then_answer(write_jsonl):
    # given
    path = write_jsonl(
        [
            {"question": "q1", "source_doc": "a.md"},
            {"question": "q2", "source_doc": "a.md", "answer": "A hand-written answer."},
            # the eval export of feedback: "answer" is the bot's old answer, "reference" the one to match
            {"question": "q3", "source_doc": "b.md", "answer": "old", "reference": "right", "contexts": ["..."]},
            {"question": "q4", "unanswerable": True},
        ]
    )
    # when
    cases = cases_load(path)
    # then
    assert cases == [
        EvalCase("q1", "a.md"),
        EvalCase("q2", "a.md", reference="A hand-written answer."),
        EvalCase("q3", "b.md", reference="right"),
        EvalCase("q4", unanswerable=True),
    ]


def test_a_file_of_unanswerable_questions_needs_no_source(write_jsonl):
    path = write_jsonl([{"question": "How much is the cloud plan?"}, {"question": "Weather in Berlin?"}])
    assert cases_load(path, unanswerable=True) == [
        EvalCase("How much is the cloud plan?", unanswerable=True),
        EvalCase("Weather in Berlin?", unanswerable=True),
    ]


@pytest.mark.parametrize(
    "row",
    [
        pytest.param({"question": "no source"}, id="no-source"),
        pytest.param({"question": "  ", "source_doc": "a.md"}, id="blank-question"),
        pytest.param({"question": "q", "source_doc": ""}, id="blank-source"),
        pytest.param({"question": 7, "source_doc": "a.md"}, id="not-text"),
    ],
)
def test_lines_that_are_not_questions_are_refused_with_their_line_number(write_jsonl, row):
    path = write_jsonl([{"question": "fine", "source_doc": "a.md"}, row])
    with pytest.raises(EvalFileError, match=r"eval\.jsonl:2: expected JSON with question and source_doc"):
        cases_load(path)


def test_answers_are_selected_by_reference_or_all_and_spread_by_limit():
    # given: ten questions, every third with a reference, and two unanswerable ones
    cases = [EvalCase(f"q{i}", "a.md", reference="r" if i % 3 == 0 else None) for i in range(10)]
    cases += [EvalCase("u1", unanswerable=True), EvalCase("u2", unanswerable=True)]
    # when / then
    assert [i for i, _ in answers_select(cases, answers="auto", limit=None)] == [0, 3, 6, 9, 10, 11]
    assert [i for i, _ in answers_select(cases, answers="all", limit=4)] == [0, 2, 5, 7, 10, 11]
    assert answers_select(cases, answers="none", limit=None) == []
