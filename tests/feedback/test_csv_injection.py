"""CSV exports open in spreadsheets: no cell a visitor (or a fetched page) wrote may run there as a formula."""

from __future__ import annotations

import csv
from io import StringIO

import pytest

from feedback.datasets import ExportFilters
from feedback.exports import CSV_COLUMNS, dataset_export
from tests.feedback.factories import RatingFactory

pytestmark = [pytest.mark.django_db]
HYPERLINK = '=HYPERLINK("http://evil.example","x")'


def _csv_rows() -> list[dict]:
    out = StringIO()
    dataset_export(fmt="csv", out=out, filters=ExportFilters.parse(), collect_signals=False)
    return list(csv.DictReader(StringIO(out.getvalue(), newline="")))


@pytest.mark.parametrize(
    "comment",
    [
        pytest.param(HYPERLINK, id="equals-hyperlink"),
        pytest.param("+SUM(1+1)*cmd|' /C calc'!A0", id="plus"),
        pytest.param("-2+3+cmd|' /C calc'!A0", id="minus"),
        pytest.param("@SUM(1+1)*cmd|' /C calc'!A0", id="at"),
        pytest.param("\t=1+1", id="tab"),
        pytest.param("\r=1+1", id="carriage-return"),
        pytest.param('\uff1dHYPERLINK("http://evil.example")', id="full-width-equals"),
    ],
)
def test_a_comment_that_starts_like_a_formula_is_exported_as_text(comment):
    # given: a visitor's comment on a thumbs-down
    RatingFactory(value="down", reason="wrong", comment=comment)
    # when
    [row] = _csv_rows()
    # then: a leading quote makes the spreadsheet show it as text; the visitor's words are all still there
    assert row["comment"] == "'" + comment


def test_every_column_is_neutralised_not_just_the_comment():
    # given: a question and an answer that start like formulas, and a rating reason that is plain text
    RatingFactory(
        value="down",
        reason="wrong",
        message__text="=1+1 is what the page said",
        message__reply_to__text="@admin what is =cmd?",
    )
    # when
    [row] = _csv_rows()
    # then
    assert row["question"] == "'@admin what is =cmd?"
    assert row["answer"] == "'=1+1 is what the page said"
    assert row["reason"] == "wrong"
    assert list(row) == CSV_COLUMNS


@pytest.mark.parametrize(
    "comment",
    [
        pytest.param("great answer, thanks", id="plain"),
        pytest.param("it said 1+1=2", id="formula-sign-inside"),
        pytest.param("", id="empty"),
    ],
)
def test_ordinary_text_is_exported_unchanged(comment):
    RatingFactory(value="up", comment=comment)
    [row] = _csv_rows()
    assert row["comment"] == comment
