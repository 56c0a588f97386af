"""Ingesting files and folders: formats, idempotence, replacing a changed document atomically, pruning, jobs."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from pypdf import PdfReader

import kb
from kb import services
from kb.models import Chunk, Document, IngestionJob, KnowledgeBaseState
from tests.kb.pdf_builder import build_pdf

pytestmark = pytest.mark.django_db

MARKDOWN = """---
title: Billing FAQ
url: https://help.example.com/billing
frontmattersecret: do not index me
---
# Refunds

Refunds are issued within five business days to the original payment method, no questions asked.

## Invoices

Every invoice is emailed as a PDF on the first day of the month; download old ones from the portal.
"""

HTML = """<!doctype html>
<html><head><title>Widget Guide</title></head>
<body>
<nav><a href="/">Home</a> <a href="/pricing">Navlinkzebra pricing menu</a></nav>
<main><article>
<h1 id="top">Widget Guide</h1>
<p>The widget is a small device that helps you calibrate the flux capacitor in every situation you meet.</p>
<h2 id="install-section">Installing the widget</h2>
<p>To install the widget, unscrew the back panel and insert the quantumbattery until it clicks into place.</p>
<h2><a id="reset-anchor"></a>Resetting the widget</h2>
<p>Hold the reset button for ten seconds; the light blinks orange and the widget restarts with defaults.</p>
</article></main>
<footer><p>Footerwombat copyright 2024 Example Corp. All rights reserved.</p></footer>
</body></html>
"""

TEXT = "Release notes.\n\nVersion 2.1 adds the teleportinator export and fixes the login loop on Safari.\n"

PDF_PAGES = [
    ["Gadget handbook, page one.", "Unpack the zorblax and place it on a flat surface."],
    ["Page two: cleaning.", "Wipe the quibbleflux filter with a dry cloth once a week."],
    ["Page three: warranty.", "The warranty covers manufacturing defects for two years."],
]


def _chunks(document: Document) -> list[Chunk]:
    return list(Chunk.objects.filter(document=document).order_by("position"))


def _keyword_hits(word: str) -> list[str]:
    """URIs of the documents whose chunks match `word` in full-text search (each once, sorted)."""
    return sorted({result.source for result in kb.search(word, k=10, mode="keyword")})


def _version() -> int:
    return KnowledgeBaseState.objects.get().version


@pytest.fixture
def mixed_folder(write_docs) -> Path:
    return write_docs(
        {
            "billing.md": MARKDOWN,
            "guide.html": HTML,
            "release-notes.txt": TEXT,
            "manuals/handbook.pdf": build_pdf(PDF_PAGES, title="Gadget Handbook"),
        }
    )


def test_the_hand_made_pdf_is_valid():
    # given
    data = build_pdf(PDF_PAGES, title="Gadget Handbook")

    # when
    reader = PdfReader(io.BytesIO(data), strict=True)

    # then
    assert len(reader.pages) == 3
    assert reader.metadata.title == "Gadget Handbook"
    assert "zorblax" in reader.pages[0].extract_text()
    assert "quibbleflux" in reader.pages[1].extract_text()


def test_a_folder_of_mixed_formats_becomes_one_document_per_file(mixed_folder, ingest):
    # when
    job = ingest(mixed_folder)

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert (job.total, job.created, job.failed) == (4, 4, 0)
    formats = dict(Document.objects.values_list("uri", "format"))
    assert formats == {
        str(mixed_folder / "billing.md"): "markdown",
        str(mixed_folder / "guide.html"): "html",
        str(mixed_folder / "release-notes.txt"): "text",
        str(mixed_folder / "manuals" / "handbook.pdf"): "pdf",
    }
    assert job.chunks_written == Chunk.objects.count() > 0
    assert all(d.chunk_count == d.chunks.count() > 0 for d in Document.objects.all())


def test_markdown_front_matter_sets_title_and_url_and_is_not_indexed(mixed_folder, ingest):
    # when
    ingest(mixed_folder)

    # then
    document = Document.objects.get(uri=str(mixed_folder / "billing.md"))
    assert document.title == "Billing FAQ"
    assert document.url == "https://help.example.com/billing"
    chunks = _chunks(document)
    assert [c.heading_path for c in chunks] == [["Refunds"], ["Refunds", "Invoices"]]
    assert [c.anchor for c in chunks] == ["refunds", "invoices"]
    for chunk in chunks:
        assert "frontmattersecret" not in chunk.text
        assert "title:" not in chunk.text
        assert "---" not in chunk.text
    assert chunks[0].link == "https://help.example.com/billing#refunds"
    assert _keyword_hits("frontmattersecret") == []


def test_html_keeps_the_main_content_and_the_heading_ids(mixed_folder, ingest):
    # when
    ingest(mixed_folder)

    # then
    document = Document.objects.get(uri=str(mixed_folder / "guide.html"))
    assert document.title == "Widget Guide"
    chunks = _chunks(document)
    assert [c.anchor for c in chunks] == ["top", "install-section", "reset-anchor"]
    assert chunks[1].heading_path == ["Widget Guide", "Installing the widget"]
    assert "quantumbattery" in chunks[1].text
    every_text = " ".join(c.text for c in chunks)
    assert "Navlinkzebra" not in every_text
    assert "Footerwombat" not in every_text
    assert _keyword_hits("navlinkzebra") == []
    assert _keyword_hits("footerwombat") == []


def test_plain_text_is_one_section_titled_after_the_file(mixed_folder, ingest):
    # when
    ingest(mixed_folder)

    # then
    document = Document.objects.get(uri=str(mixed_folder / "release-notes.txt"))
    assert document.title == "Release notes"
    assert document.url == ""
    [chunk] = _chunks(document)
    assert chunk.heading_path == []
    assert chunk.anchor == ""
    assert "teleportinator" in chunk.text
    assert _keyword_hits("teleportinator") == [str(mixed_folder / "release-notes.txt")]


def test_a_pdf_is_read_page_by_page(mixed_folder, ingest):
    # when
    ingest(mixed_folder)

    # then
    document = Document.objects.get(uri=str(mixed_folder / "manuals" / "handbook.pdf"))
    assert document.title == "Gadget Handbook"
    chunks = _chunks(document)
    assert [c.heading_path for c in chunks] == [["Page 1"], ["Page 2"], ["Page 3"]]
    assert [c.anchor for c in chunks] == ["page=1", "page=2", "page=3"]
    assert "zorblax" in chunks[0].text
    assert "quibbleflux" in chunks[1].text
    [hit] = kb.search("quibbleflux", k=1, mode="keyword")
    # A local file is cited by its page on Supportbot (never its server path), at the page of the PDF.
    assert (hit.heading, hit.link) == ("Page 2", f"/help/doc/{document.pk}/#page=2")


def test_re_ingesting_unchanged_files_changes_nothing(mixed_folder, ingest):
    # given
    ingest(mixed_folder)
    chunk_ids = sorted(Chunk.objects.values_list("id", flat=True))
    document_ids = sorted(Document.objects.values_list("id", flat=True))
    version = _version()

    # when
    job = ingest(mixed_folder)

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert (job.total, job.unchanged, job.created, job.updated, job.failed) == (4, 4, 0, 0, 0)
    assert job.chunks_written == 0
    assert sorted(Chunk.objects.values_list("id", flat=True)) == chunk_ids
    assert sorted(Document.objects.values_list("id", flat=True)) == document_ids
    assert _version() == version


def test_a_changed_document_has_its_chunks_replaced_and_the_others_are_untouched(write_docs, ingest):
    # given
    folder = write_docs(
        {"a.md": "# Alpha\n\nThe oldword appears here.\n", "b.md": "# Beta\n\nBeta talks about ferns.\n"}
    )
    ingest(folder)
    beta = Document.objects.get(uri=str(folder / "b.md"))
    beta_chunks = [(c.id, c.text) for c in _chunks(beta)]
    version = _version()
    (folder / "a.md").write_text("# Alpha\n\nThe newword appears here now.\n\n## More\n\nA second section.\n")

    # when
    job = ingest(folder)

    # then
    assert (job.updated, job.unchanged, job.created, job.failed) == (1, 1, 0, 0)
    alpha = Document.objects.get(uri=str(folder / "a.md"))
    assert alpha.chunk_count == len(_chunks(alpha)) == 2
    assert _keyword_hits("newword") == [alpha.uri]
    assert _keyword_hits("oldword") == []
    assert not Chunk.objects.filter(document=alpha, text__contains="oldword").exists()
    assert [(c.id, c.text) for c in _chunks(beta)] == beta_chunks
    assert Document.objects.get(pk=beta.pk).content_hash == beta.content_hash
    assert _version() > version


@pytest.mark.django_db(transaction=True)
def test_readers_see_the_old_chunks_until_the_new_ones_are_committed(write_docs, ingest, monkeypatch):
    # given
    folder = write_docs({"a.md": "# Alpha\n\nThe oldword appears here.\n\n## Two\n\nAnother oldword section.\n"})
    ingest(folder)
    document = Document.objects.get()
    old_texts = [c.text for c in _chunks(document)]
    (folder / "a.md").write_text("# Alpha\n\nThe newword appears here.\n")

    inside_transaction, release = threading.Event(), threading.Event()
    original = services._index_keywords

    def paused_index_keywords(document_id: int) -> None:
        original(document_id)
        inside_transaction.set()
        release.wait(timeout=30)

    monkeypatch.setattr(services, "_index_keywords", paused_index_keywords)
    outcome: dict[str, object] = {}

    def re_ingest() -> None:
        try:
            outcome["job"] = ingest(folder)
        except Exception as exc:  # noqa: BLE001 — reported by the main thread
            outcome["error"] = exc
        finally:
            connection.close()

    writer = threading.Thread(target=re_ingest)

    # when
    writer.start()
    try:
        assert inside_transaction.wait(timeout=30), "the re-ingest never reached the keyword indexing"
        seen_during = sorted(Chunk.objects.filter(document_id=document.pk).values_list("text", flat=True))
        hits_during = (_keyword_hits("oldword"), _keyword_hits("newword"))
    finally:
        release.set()
        writer.join(timeout=30)

    # then
    assert not writer.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["job"].updated == 1
    assert seen_during == sorted(old_texts)
    assert len(seen_during) == 2
    assert hits_during == ([document.uri], [])
    after = [c.text for c in _chunks(document)]
    assert after == ["The newword appears here."]
    assert (_keyword_hits("oldword"), _keyword_hits("newword")) == ([], [document.uri])


@pytest.mark.parametrize(
    "prune_with",
    [
        pytest.param("service", id="prune=True"),
        pytest.param("command", id="--prune"),
    ],
)
def test_prune_removes_documents_whose_file_is_gone(write_docs, ingest, prune_with):
    # given
    folder = write_docs({"keep.md": "# Keep\n\nStill here.\n", "gone.md": "# Gone\n\nThe vanishingword lives here.\n"})
    ingest(folder)
    (folder / "gone.md").unlink()

    # when
    without_prune = ingest(folder)
    kept_after_plain_run = Document.objects.filter(uri=str(folder / "gone.md")).exists()
    version = _version()
    if prune_with == "service":
        pruning = ingest(folder, prune=True)
    else:
        call_command("ingest", str(folder), "--prune", "--quiet", stdout=io.StringIO())
        pruning = IngestionJob.objects.order_by("-pk").first()

    # then
    assert without_prune.deleted == 0
    assert kept_after_plain_run
    assert pruning.prune is True
    assert pruning.deleted == 1
    assert list(Document.objects.values_list("uri", flat=True)) == [str(folder / "keep.md")]
    assert _keyword_hits("vanishingword") == []
    assert _version() > version


def test_a_job_records_its_counts(write_docs, ingest):
    # given
    folder = write_docs({"a.md": "# A\n\nFirst.\n", "b.md": "# B\n\nSecond.\n", "c.md": "# C\n\nThird.\n"})
    ingest(folder)
    (folder / "a.md").write_text("# A\n\nFirst, revised.\n")
    (folder / "c.md").unlink()
    (folder / "d.md").write_text("# D\n\nFourth.\n")
    (folder / "e.md").write_text("")

    # when
    job = ingest(folder)

    # then
    job.refresh_from_db()
    assert job.status == IngestionJob.Status.PARTIAL
    assert (job.total, job.processed) == (4, 4)
    assert (job.created, job.updated, job.unchanged, job.failed, job.deleted) == (1, 1, 1, 1, 0)
    assert job.chunks_written == 2
    assert [e["uri"] for e in job.errors] == [str(folder / "e.md")]
    assert job.started_at is not None and job.finished_at >= job.started_at
    assert job.is_finished


@pytest.mark.parametrize(
    ("files", "expected_status"),
    [
        pytest.param({"a.md": "# A\n\nFine.\n", "b.txt": "Also fine."}, "succeeded", id="all-good"),
        pytest.param({"a.md": "# A\n\nFine.\n", "b.txt": ""}, "partial", id="some-fail"),
        pytest.param({"a.md": "", "b.txt": "   \n"}, "failed", id="all-fail"),
    ],
)
def test_a_job_status_follows_its_outcomes(write_docs, ingest, files, expected_status):
    # given
    folder = write_docs(files)

    # when
    job = ingest(folder)

    # then
    assert job.status == expected_status
    assert job.processed == job.total == 2


def test_a_job_whose_only_target_is_missing_fails(tmp_path, ingest):
    # when
    job = ingest(tmp_path / "nowhere")

    # then
    assert job.status == IngestionJob.Status.FAILED
    assert (job.total, job.failed) == (0, 1)
    assert "no such file or folder" in job.errors[0]["error"]


def test_the_ingest_command_prints_a_summary_and_the_errors_and_succeeds_when_some_fail(write_docs):
    # given
    folder = write_docs({"good.md": "# Good\n\nA fine page.\n", "empty.md": ""})
    out = io.StringIO()

    # when
    call_command("ingest", str(folder), "--quiet", stdout=out)

    # then
    job = IngestionJob.objects.get()
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"Job {job.pk} partial: 2 of 2 documents — 1 created, 0 updated, 0 unchanged, 1 failed, 0 deleted; "
        f"{job.chunks_written} chunks written."
    )
    assert lines[1].startswith(f"  ✗ {folder / 'empty.md'}: empty")
    assert Document.objects.filter(uri=str(folder / "good.md")).exists()


def test_the_ingest_command_raises_when_every_document_fails(write_docs):
    # given
    folder = write_docs({"empty.md": "", "blank.txt": "  \n\t\n"})
    out = io.StringIO()

    # when
    with pytest.raises(CommandError, match="failed"):
        call_command("ingest", str(folder), "--quiet", stdout=out)

    # then
    assert "failed: 2 of 2 documents" in out.getvalue()
    assert out.getvalue().count("✗") == 2
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    ("chunk_tokens", "overlap_tokens"),
    [
        pytest.param(200, 40, id="defaults"),
        pytest.param(100, 40, id="100-tokens-default-overlap"),
        pytest.param(64, 40, id="64-tokens-default-overlap"),
        pytest.param(16, 8, id="minimum-size-half-overlap"),
    ],
)
def test_any_allowed_chunk_size_ingests(write_docs, ingest, settings, chunk_tokens, overlap_tokens):
    # given: KB_CHUNK_TOKENS may be set as low as 16; the overlap is clamped to fit
    settings.KB_CHUNK_TOKENS = chunk_tokens
    settings.KB_CHUNK_OVERLAP_TOKENS = overlap_tokens
    folder = write_docs({"a.md": "# A\n\n" + "Some words about chunking settings. " * 40})

    # when
    job = ingest(folder)

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert max(Chunk.objects.values_list("token_count", flat=True)) <= chunk_tokens
