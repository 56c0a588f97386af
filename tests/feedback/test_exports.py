"""Exports: each format checked line by line against what its consumer accepts, and no personal data in any."""

from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from feedback.exports import CSV_COLUMNS
from feedback.models import ExportJob, GoodExample
from feedback.tasks import export_job_task
from kb.models import Document
from supportbot.chat.models import Message
from supportbot.evaluation.cases import cases_load
from tests.chat.factories import ConversationFactory, QuestionFactory, WidgetFactory
from tests.feedback.conftest import kb_answer
from tests.feedback.factories import CorrectionFactory, RatingFactory

pytestmark = [pytest.mark.django_db]
EMAIL, PHONE, CARD = "jane.doe@example.com", "+1 (415) 555-2671", "4111 1111 1111 1111"


@pytest.fixture
def dataset(knowledge):
    """Answers with every kind of feedback, and personal data typed by visitors all over them."""
    up = kb_answer(f"how do I get my money back? I'm {EMAIL}", "We return the full payment within 14 days [1].")
    RatingFactory(message=up, value="up", comment=f"great, call me on {PHONE}")
    corrected = kb_answer("how long does shipping to Canada take", "Shipping is free [1].")
    RatingFactory(message=corrected, value="down", reason="wrong")
    CorrectionFactory(message=corrected, text="Parcels to Canada arrive in 5 to 8 working days [1].")
    handed_over = kb_answer("what does E4403 mean", f"Please send your card number {CARD} [1].")
    RatingFactory(message=handed_over, value="down", reason="unsafe", comment=f"it asked for my card {CARD}")
    Message.objects.create(
        conversation=handed_over.conversation, role="agent", text="E4403: add your site to the allowed origins."
    )
    unanswered = kb_answer(f"can I pay with card {CARD}?", "Refunds take five days [1].")
    RatingFactory(message=unanswered, value="down", reason="not_relevant")
    pii_only = kb_answer(EMAIL, "Here is how refunds work [1].")
    RatingFactory(message=pii_only, value="up")
    good = kb_answer("how do I change my sign-in secret", "Open your profile and choose Security [1].")
    GoodExample.objects.create(message=good)
    empty = kb_answer("what does E5002 mean", "")
    RatingFactory(message=empty, value="up")
    kb_answer("an answer nobody rated", "Nothing to see [1].")
    other_widget = ConversationFactory(widget=WidgetFactory(key="other-widget"))
    other = kb_answer("how do I get a refund", "Within 14 days [1].", question_fields={"conversation": other_widget})
    RatingFactory(message=other, value="up")
    return {"up": up, "corrected": corrected, "handed_over": handed_over, "unanswered": unanswered, "other": other}


def _export(tmp_path: Path, fmt: str, *options: str) -> tuple[Path, str]:
    out, path = StringIO(), tmp_path / f"export.{fmt}"
    call_command("export_feedback", "--format", fmt, "--out", str(path), *options, stdout=out)
    return path, out.getvalue()


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_openai_chat_example(line: dict) -> None:
    """OpenAI's chat fine-tuning rules for one example."""
    assert set(line) == {"messages"} and isinstance(line["messages"], list)
    roles = [m["role"] for m in line["messages"]]
    assert all(set(m) == {"role", "content"} for m in line["messages"])
    assert all(isinstance(m["content"], str) and m["content"].strip() for m in line["messages"])
    assert set(roles) <= {"system", "user", "assistant"} and "system" not in roles[1:]
    turns = roles[1:] if roles[0] == "system" else roles
    assert turns == ["user", "assistant"] * (len(turns) // 2) and turns[-1] == "assistant"


def test_openai_chat_lines_follow_the_fine_tuning_format(dataset, tmp_path):
    # when
    path, output = _export(tmp_path, "openai-chat")
    # then
    lines = _jsonl(path)
    for line in lines:
        assert_openai_chat_example(line)
    assistants = [line["messages"][-1]["content"] for line in lines]
    assert assistants == [
        "We return the full payment within 14 days [1].",
        "Parcels to Canada arrive in 5 to 8 working days [1].",
        "Open your profile and choose Security [1].",
        "Within 14 days [1].",
    ]
    user = lines[1]["messages"][1]["content"]
    assert user.startswith("Context:\n[1] ") and user.endswith("Question: how long does shipping to Canada take")
    system = lines[0]["messages"][0]["content"]
    assert "numbered context passages" in system and "{" not in system  # no template slot, no canary
    assert output.startswith("Wrote 4 rows, skipped 4 (")
    assert "2 no reference" in output and "1 PII-only" in output and "1 empty answer" in output


def test_preference_pairs_have_a_distinct_chosen_and_rejected_answer(dataset, tmp_path):
    # when
    path, output = _export(tmp_path, "preference")
    # then
    lines = _jsonl(path)
    for line in lines:
        assert all(isinstance(line[k], str) and line[k].strip() for k in ("prompt", "chosen", "rejected"))
        assert line["chosen"] != line["rejected"]
    assert [(line["chosen"], line["reason"]) for line in lines] == [
        ("Parcels to Canada arrive in 5 to 8 working days [1].", "wrong"),
        ("E4403: add your site to the allowed origins.", "unsafe"),
    ]
    reproduction = lines[0]["metadata"]
    assert reproduction["answer_id"] == dataset["corrected"].pk and reproduction["prompt_version"] == "test.1"
    assert reproduction["retrieved"][0]["score"] > 0 and reproduction["model"] == "offline-extractive"
    assert {"confidence", "guard_results", "condensed_question"} <= set(reproduction)
    assert output.startswith("Wrote 2 rows")


@pytest.mark.django_db(transaction=True)  # `evaluate` answers through the async chat pipeline
def test_eval_lines_are_read_by_the_evaluate_command(dataset, no_llm, tmp_path):
    # when
    path, _ = _export(tmp_path, "eval")
    # then
    lines = _jsonl(path)
    cases = cases_load(path)
    assert len(cases) == len(lines) == 4
    for line in lines:
        assert {"question", "contexts", "answer", "reference", "rating", "source_doc"} <= set(line)
        assert line["contexts"] and all(isinstance(c, str) and c for c in line["contexts"])
    assert [line["source_doc"] for line in lines] == ["refunds.md", "shipping.md", "accounts.md", "refunds.md"]
    assert lines[1]["reference"] == "Parcels to Canada arrive in 5 to 8 working days [1]."
    out = StringIO()
    call_command("evaluate", str(path), "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["n"] == 4 and report["modes"]["hybrid"]["hit@5"] == 1.0


def test_csv_has_one_row_per_answer_with_feedback(dataset, tmp_path):
    # when
    path, output = _export(tmp_path, "csv")
    # then
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
    assert reader.fieldnames == CSV_COLUMNS
    assert len(rows) == 8 and output.startswith("Wrote 8 rows, skipped 0")
    by_id = {int(row["answer_id"]): row for row in rows}
    handed_over = by_id[dataset["handed_over"].pk]
    assert (handed_over["rating"], handed_over["reason"]) == ("down", "unsafe")
    assert handed_over["agent_reply"] == "E4403: add your site to the allowed origins."
    # What the visitor was shown: the local file's page on Supportbot, not its server path.
    cited = Document.objects.get(uri__endswith="error-codes.md")
    assert handed_over["cited_documents"] == f"/help/doc/{cited.pk}/"
    assert json.loads(handed_over["retrieved"])[0]["chunk_id"]
    assert handed_over["visitor"] != dataset["handed_over"].conversation.visitor_id


@pytest.mark.parametrize("fmt", ["openai-chat", "preference", "eval", "csv"])
def test_personal_data_typed_by_visitors_never_reaches_an_export(dataset, tmp_path, fmt):
    # when
    path, _ = _export(tmp_path, fmt)
    # then
    text = path.read_text(encoding="utf-8")
    # (not a bare "4111": a random conversation UUID may contain it)
    assert EMAIL not in text and "555-2671" not in text and CARD not in text and "4111 1111" not in text
    assert "[EMAIL]" in text or "[CARD]" in text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(["--rating", "down"], {"corrected", "handed_over", "unanswered"}, id="rating-down"),
        pytest.param(["--widget", "other-widget"], {"other"}, id="widget"),
        pytest.param(["--since", "2001-01-01", "--until", "2001-12-31"], set(), id="period-before"),
    ],
)
def test_filters_select_the_answers(dataset, tmp_path, options, expected):
    # when
    path, _ = _export(tmp_path, "csv", *options)
    # then
    with path.open(newline="", encoding="utf-8") as stream:
        ids = {int(row["answer_id"]) for row in csv.DictReader(stream)}
    assert ids == {dataset[name].pk for name in expected}


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(CommandError, match="--since must be a date"):
        call_command("export_feedback", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--since", "yesterday")


def test_an_export_job_writes_its_file_under_the_data_dir_and_admins_can_download_it(
    dataset, data_dir, client, django_user_model
):
    # given
    job = ExportJob.objects.create(format="preference", filters={"rating": "down"})
    # when
    export_job_task.delay(job.pk)
    # then
    job.refresh_from_db()
    assert (job.status, job.rows_written, job.skipped) == ("succeeded", 2, {"no reference": 1})
    assert Path(job.path).parent == data_dir / "exports" and job.finished_at
    url = f"/feedback/exports/{job.pk}/download"
    assert client.get(url).status_code == 302  # to the sign-in page
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    assert client.get(url).status_code == 403
    # Exports hold every visitor's words: agents may not download them (tests/console/test_roles.py), admins may.
    client.force_login(django_user_model.objects.create_user("agent", password="x", is_staff=True))
    assert client.get(url).status_code == 403
    client.force_login(django_user_model.objects.create_superuser("lead", password="x"))
    response = client.get(url)
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content).decode().count("\n") == 2
    assert client.get(f"/feedback/exports/{job.pk + 1}/download").status_code == 404


def test_a_question_without_answer_feedback_exports_nothing(knowledge, tmp_path):
    QuestionFactory(text="hello")
    path, output = _export(tmp_path, "openai-chat")
    assert path.read_text() == "" and output.startswith("Wrote 0 rows, skipped 0")
