"""The LLM judge (G-Eval style) against the local OpenAI-compatible server standing in for the model."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from supportbot.evaluation.judge import judge_prompt
from tests.fake_llm import cite_first_passage

pytestmark = pytest.mark.django_db(transaction=True)
CASES = [
    {"question": "what does E4403 mean", "source_doc": "error-codes.md", "reference": "Your site is not allowed."},
    {"question": "how do I get my money back", "source_doc": "refunds.md", "answer": "Cancel within 14 days."},
]


def _model(faithfulness: str, relevancy: str):
    """Answers like a well-behaved model; as a judge, replies per criterion."""

    def reply(messages: list[dict]) -> str:
        prompt = messages[0]["content"]
        if "Faithfulness (1-5)" in prompt:
            return faithfulness
        if "Relevancy (1-5)" in prompt:
            return relevancy
        return cite_first_passage(messages)

    return reply


@pytest.mark.parametrize(
    ("faithfulness", "relevancy", "expected"),
    [
        pytest.param("All backed by [1].\nScore: 4", "Score: 5", (4.0, 5.0, ""), id="scored"),
        pytest.param("Looks fine to me.", "Score: 3", (None, 3.0, "2 judge calls gave no score"), id="unparsed"),
    ],
)
def test_the_judge_scores_answers_with_its_rubric(
    widget, knowledge, llm, write_jsonl, faithfulness, relevancy, expected
):
    # given: an eval set with reference answers, and a model that also judges
    llm.reply = _model(faithfulness, relevancy)
    path = write_jsonl(CASES)
    out = StringIO()
    # when
    call_command("evaluate", str(path), "--json", stdout=out, stderr=StringIO())
    # then: scores parsed and averaged
    answers = json.loads(out.getvalue())["answers"]
    assert (answers["judge_faithfulness"], answers["judge_relevancy"], answers["judge_note"]) == expected
    assert answers["n"] == 2 and answers["reference_n"] == 2
    # and the judge saw the rubric file with the question, the passages and the answer
    judged = [r["body"]["messages"][0]["content"] for r in llm.requests if "Evaluation Steps" in str(r["body"])]
    assert len(judged) == 4
    faithful = next(p for p in judged if "Faithfulness (1-5)" in p and "E4403" in p)
    assert faithful.startswith(judge_prompt("faithfulness").split("{question}")[0])
    assert "\n[1] " in faithful and "[1]" in faithful.split("Answer:")[1]
