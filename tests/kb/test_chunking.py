"""Heading-aware chunking: sections never cross headings, code blocks stay whole, sizes and overlap hold."""

from __future__ import annotations

import pytest

from kb.chunking import chunk_markdown, chunk_pages, chunk_text, count_tokens, slugify_heading, split_sections


def test_headings_become_paths_and_anchors():
    # given
    markdown = "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n### On Debian\n\nUse apt.\n\n## Use\n\nAsk away.\n"
    # when
    chunks = chunk_markdown(markdown)
    # then
    assert [(c.heading_path, c.anchor, c.text) for c in chunks] == [
        (["Guide"], "guide", "Intro."),
        (["Guide", "Install"], "install", "Run it."),
        (["Guide", "Install", "On Debian"], "on-debian", "Use apt."),
        (["Guide", "Use"], "use", "Ask away."),
    ]
    assert [c.position for c in chunks] == [0, 1, 2, 3]


def test_a_heading_with_no_body_makes_no_chunk():
    chunks = chunk_markdown("# Title\n\n## Parent\n\n### Child\n\nBody text.\n")
    assert [c.heading_path for c in chunks] == [["Title", "Parent", "Child"]]


def test_setext_headings_and_inline_markup_in_headings():
    chunks = chunk_markdown(
        "Guide\n=====\n\nIntro.\n\nThe `ingest` **command**\n------------------------\n\nIt ingests.\n"
    )
    assert [c.heading_path for c in chunks] == [["Guide"], ["Guide", "The ingest command"]]
    assert chunks[1].anchor == "the-ingest-command"


def test_hash_lines_inside_code_blocks_are_not_headings():
    # given
    markdown = "# Setup\n\n```bash\n# install the package\npip install supportbot\n```\n\nDone.\n"
    # when
    chunks = chunk_markdown(markdown)
    # then
    assert len(chunks) == 1
    assert chunks[0].heading_path == ["Setup"]
    assert "# install the package" in chunks[0].text


def test_a_code_block_that_fits_is_never_cut():
    code = "```python\n" + "\n".join(f"value_{i} = compute({i})" for i in range(12)) + "\n```"
    markdown = "# Code\n\n" + "Some words before. " * 30 + "\n\n" + code + "\n\n" + "Some words after. " * 30
    chunks = chunk_markdown(markdown, max_tokens=220, overlap=0)
    holding = [c for c in chunks if "value_0" in c.text]
    assert len(holding) == 1 and "value_11" in holding[0].text


def test_duplicate_headings_get_distinct_anchors():
    chunks = chunk_markdown("# A\n\n## Notes\n\none\n\n## Notes\n\ntwo\n")
    assert [c.anchor for c in chunks] == ["notes", "notes-1"]


def test_known_html_ids_win_over_slugs():
    sections = split_sections("# Title\n\n## Allowed origins\n\ntext\n", anchors={"Allowed origins": "origins"})
    assert sections[-1].anchor == "origins"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        pytest.param("Allowed origins", "allowed-origins", id="words"),
        pytest.param("What's new in 2.0?", "whats-new-in-20", id="punctuation"),
        pytest.param("위젯 설치하기", "위젯-설치하기", id="korean"),
    ],
)
def test_anchor_slugs_follow_docs_sites(heading, anchor):
    assert slugify_heading(heading) == anchor


def test_a_tiny_document_is_one_chunk():
    chunks = chunk_text("Hi.")
    assert [(c.text, c.heading_path, c.anchor) for c in chunks] == [("Hi.", [], "")]


def test_an_empty_document_has_no_chunks():
    assert chunk_markdown("") == []
    assert chunk_markdown("# Only a heading\n") == []
    assert chunk_text("   \n\n ") == []


def test_a_huge_section_is_split_within_the_budget():
    # given: one section of ~6,000 tokens
    paragraph = " ".join(f"Sentence number {i} explains one more detail of the setup." for i in range(40))
    markdown = "# Big\n\n" + "\n\n".join([paragraph] * 12)
    # when
    chunks = chunk_markdown(markdown, max_tokens=200, overlap=40)
    # then
    assert len(chunks) > 20
    assert all(c.token_count <= 200 for c in chunks)
    assert all(c.heading_path == ["Big"] for c in chunks)


def test_neighbouring_chunks_overlap():
    # given
    text = " ".join(f"Step {i} of the procedure is done next." for i in range(120))
    # when
    chunks = chunk_text(text, max_tokens=80, overlap=20)
    # then: the end of each chunk reappears at the start of the next
    assert len(chunks) > 3
    for first, second in zip(chunks, chunks[1:], strict=False):
        tail = first.text.split()[-4:]
        assert " ".join(tail) in second.text


def test_no_overlap_when_asked_for_none():
    text = " ".join(f"Item{i} is listed here." for i in range(200))
    chunks = chunk_text(text, max_tokens=60, overlap=0)
    words = [w for c in chunks for w in c.text.split()]
    assert words == text.split()


def test_token_counts_are_the_models_tokens():
    chunk = chunk_text("Supportbot answers questions.")[0]
    assert chunk.token_count == count_tokens("Supportbot answers questions.") > 3


def test_pdf_pages_are_sections_with_page_anchors():
    chunks = chunk_pages(["First page text.", "", "Third page text."])
    assert [(c.heading_path, c.anchor) for c in chunks] == [(["Page 1"], "page=1"), (["Page 3"], "page=3")]


def test_heading_words_keep_underscores_and_code():
    chunks = chunk_markdown(
        "# Errors\n\n## `SECRET_KEY` is missing\n\nSet it.\n\n## [Links](https://x.test) *work*\n\nYes.\n"
    )
    assert [c.heading_path[-1] for c in chunks] == ["SECRET_KEY is missing", "Links work"]
    assert chunks[0].anchor == "secret_key-is-missing"
