"""The held-out eval sets (supportbot/evaluation/heldout/): every line is a question the evaluator can load,
every answerable one names exactly one page of its corpus and a heading that page really has, and the
development/test split follows the rule the README states, so nobody can tune on a test question by accident."""

from __future__ import annotations

import json
from pathlib import Path

import frontmatter
import pytest

from kb.chunking import split_sections
from supportbot.evaluation.cases import cases_load
from supportbot.evaluation.heldout.build import splits_assign

HELDOUT = Path(__file__).resolve().parents[2] / "supportbot" / "evaluation" / "heldout"
LANGUAGES = ("en", "ko")
SPLITS = ("dev", "test")
ANSWERABLE = [pytest.param(lang, split, id=f"{lang}-{split}") for lang in LANGUAGES for split in SPLITS]


def _pages(language: str) -> list[Path]:
    return sorted((HELDOUT / language / "docs").rglob("*.md"))


def _headings(page: Path) -> set[str]:
    """Every heading a chunk of this page can carry in its heading path, as the chunker spells it."""
    body = frontmatter.loads(page.read_text(encoding="utf-8")).content
    return {heading.strip().lower() for section in split_sections(body) for heading in section.heading_path}


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (HELDOUT / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize(("language", "split"), ANSWERABLE)
def test_every_answerable_question_names_one_page_and_a_heading_it_has(language, split):
    # given
    path = HELDOUT / f"{language}-{split}.jsonl"
    pages = _pages(language)
    # when
    cases = cases_load(path)
    # then
    assert len(cases) >= 20
    for case in cases:
        matching = [page for page in pages if page.as_posix().endswith("/" + case.source_doc)]
        assert len(matching) == 1, f"{case.source_doc!r} names {len(matching)} pages: {case.question}"
        if case.section:
            assert case.section.strip().lower() in _headings(matching[0]), f"{case.section!r} not in {matching[0]}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("split", SPLITS)
def test_unanswerable_questions_load_as_unanswerable(language, split):
    # given
    path = HELDOUT / f"{language}-unanswerable-{split}.jsonl"
    # when
    cases = cases_load(path, unanswerable=True)
    # then
    assert cases and all(case.unanswerable and not case.source_doc for case in cases)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", ["", "unanswerable-"])
def test_questions_sit_in_the_split_the_stated_rule_gives_and_in_one_split_only(language, kind):
    # given
    rows = {split: _rows(f"{language}-{kind}{split}.jsonl") for split in SPLITS}
    everything = rows["dev"] + rows["test"]
    # when
    expected = splits_assign(everything)
    # then
    for split in SPLITS:
        assert sorted(r["question"] for r in rows[split]) == sorted(r["question"] for r in expected[split])
    questions = [row["question"].strip().lower() for row in everything]
    assert len(questions) == len(set(questions)), "a question appears twice"


@pytest.mark.parametrize("language", LANGUAGES)
def test_answerable_and_unanswerable_questions_do_not_overlap(language):
    # given
    answerable = {r["question"] for split in SPLITS for r in _rows(f"{language}-{split}.jsonl")}
    unanswerable = {r["question"] for split in SPLITS for r in _rows(f"{language}-unanswerable-{split}.jsonl")}
    # then
    assert not answerable & unanswerable


@pytest.mark.parametrize(("language", "least", "most"), [("en", 150, 400), ("ko", 15, 30)])
def test_each_corpus_is_a_help_centre_of_the_size_the_readme_states(language, least, most):
    # given
    pages = _pages(language)
    # then: pages with text, most of them with headings to cite, few enough bytes to ship in the repository
    assert least <= len(pages) <= most
    assert all(page.read_text(encoding="utf-8").strip() for page in pages)
    assert sum(1 for page in pages if _headings(page)) >= 0.95 * len(pages)
    assert sum(page.stat().st_size for page in pages) < 6_000_000
