"""Bad input is a clear per-document error: the run goes on, and nothing half-written is left behind."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import kb
from kb import fetching
from kb.models import Chunk, Document, IngestionJob, Source
from tests.kb.pdf_builder import build_pdf

pytestmark = pytest.mark.django_db

GOOD_MARKDOWN = "# Good page\n\nThe goodword document is ingested whatever else fails.\n"
GOOD_HTML = (
    "<html><head><title>Good page</title></head><body><main><h1>Good page</h1>"
    "<p>The goodword page is ingested whatever else fails in the same run, and it has enough words.</p>"
    "</main></body></html>"
)
NO_MAIN_TEXT_PAGES = {
    "empty-body": "<html><head><title>Nothing here</title></head><body></body></html>",
    "images-only": "<html><head><title>Gallery</title></head><body><img src='a.png'><img src='b.png'></body></html>",
    "scripts-only": (
        "<html><head><style>p{color:red}</style></head><body><script>document.write('x')</script></body></html>"
    ),
    "navigation-and-footer-only": (
        "<html><head><title>Menu</title></head><body><nav><ul><li><a href='/'>Home</a></li>"
        "<li><a href='/docs'>Docs</a></li><li><a href='/pricing'>Pricing</a></li></ul></nav>"
        "<footer><p>Copyright 2024 Example Corp.</p></footer></body></html>"
    ),
}


def _error_for(job: IngestionJob, uri: str) -> str:
    errors = [e["error"] for e in job.errors if e["uri"] == uri]
    assert len(errors) == 1, job.errors
    return errors[0]


def _assert_good_one_ingested(job: IngestionJob, good_uri: str) -> None:
    assert job.status == IngestionJob.Status.PARTIAL, job.errors
    assert (job.created, job.failed) == (1, 1)
    assert Document.objects.filter(uri=good_uri).exists()
    assert {r.source for r in kb.search("goodword", k=5, mode="keyword")} == {good_uri}


def _assert_nothing_written_for(uri: str) -> None:
    assert not Document.objects.filter(uri=uri).exists()
    assert not Chunk.objects.filter(document__uri=uri).exists()


# --- files ---------------------------------------------------------------------------------------------------


def _dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "no-such-target.md")


def _symlink_loop(path: Path) -> None:
    path.symlink_to(path)


def _writer(content: str | bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return write


# Note: tests run as root, so `chmod 000` does not make a file unreadable; a dangling symlink or a symlink loop
# really does fail with an OSError when read.
@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        pytest.param("dangling.md", _dangling_symlink, "unreadable", id="unreadable-dangling-symlink"),
        pytest.param("loop.md", _symlink_loop, "unreadable", id="unreadable-symlink-loop"),
        pytest.param(
            "blob.txt", _writer(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 4), "binary", id="binary"
        ),
        pytest.param("empty.md", _writer(b""), "empty", id="empty"),
        pytest.param("blank.txt", _writer(" \n\t\n\r\n   "), "empty", id="whitespace-only"),
        pytest.param("latin1.md", _writer("# Café\n\nCrème brûlée.\n".encode("latin-1")), "encoding", id="broken-utf8"),
        pytest.param(
            "bad-yaml.md",
            _writer("---\ntitle: [unclosed\n---\n# Hi\n\nBody.\n"),
            "front matter is not valid YAML",
            id="invalid-yaml-front-matter",
        ),
        pytest.param(
            "page.html", _writer(NO_MAIN_TEXT_PAGES["empty-body"]), "no main text", id="html-without-main-text"
        ),
        pytest.param(
            "broken.pdf", _writer(b"%PDF-1.4\n1 0 obj\n<< /Type /Catal"), "not a readable PDF", id="corrupt-pdf"
        ),
        pytest.param(
            "random.pdf", _writer(random.Random(7).randbytes(2048)), "not a readable PDF", id="random-bytes-pdf"
        ),
        pytest.param("scan.pdf", _writer(build_pdf([[], []])), "no extractable text", id="pdf-without-text"),
        pytest.param(
            "meta-only.md", _writer("---\ntitle: Only metadata\n---\n"), "empty", id="front-matter-without-body"
        ),
    ],
)
def test_a_bad_file_is_a_clear_error_and_the_run_goes_on(write_docs, ingest, name, make, expected):
    # given
    folder = write_docs({"good.md": GOOD_MARKDOWN})
    make(folder / name)
    bad_uri = str(folder / name)

    # when
    job = ingest(folder)

    # then
    assert expected in _error_for(job, bad_uri)
    _assert_good_one_ingested(job, str(folder / "good.md"))
    _assert_nothing_written_for(bad_uri)


def test_an_oversized_file_is_refused(write_docs, ingest, settings):
    # given
    settings.KB_MAX_DOCUMENT_BYTES = 1_000
    folder = write_docs({"good.md": GOOD_MARKDOWN, "huge.md": "# Huge\n\n" + "lorem ipsum " * 200})

    # when
    job = ingest(folder)

    # then
    error = _error_for(job, str(folder / "huge.md"))
    assert "too large" in error
    assert "1,000" in error
    _assert_good_one_ingested(job, str(folder / "good.md"))
    _assert_nothing_written_for(str(folder / "huge.md"))


def test_a_missing_path_is_a_job_error_and_the_other_targets_go_on(write_docs, ingest, tmp_path):
    # given
    folder = write_docs({"good.md": GOOD_MARKDOWN})
    missing = tmp_path / "not-there"

    # when
    job = ingest(missing, folder)

    # then
    assert "no such file or folder" in _error_for(job, str(missing))
    _assert_good_one_ingested(job, str(folder / "good.md"))
    assert job.total == 1
    assert not Source.objects.filter(location__contains="not-there").exists()


def test_a_folder_named_like_a_document_is_not_a_document(write_docs, ingest):
    # given
    folder = write_docs({"good.md": GOOD_MARKDOWN, "notes.md/inner.txt": "Inner text file."})

    # when
    job = ingest(folder)

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert sorted(Document.objects.values_list("uri", flat=True)) == [
        str(folder / "good.md"),
        str(folder / "notes.md" / "inner.txt"),
    ]


def test_a_named_pipe_in_the_folder_does_not_hang_the_run(write_docs, ingest):
    # given: a FIFO nobody writes to — reading it blocks until a writer comes
    folder = write_docs({"good.md": GOOD_MARKDOWN})
    pipe = folder / "pipe.md"
    os.mkfifo(pipe)
    finished, had_to_unblock = threading.Event(), []

    def unblock_after_a_while() -> None:
        if finished.wait(3):
            return
        had_to_unblock.append(True)
        while not finished.is_set():  # open the write end so the blocked reader sees end-of-file
            with contextlib.suppress(OSError):
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            finished.wait(0.05)

    guard = threading.Thread(target=unblock_after_a_while, daemon=True)
    guard.start()

    # when
    try:
        job = ingest(folder)
    finally:
        finished.set()
        guard.join(timeout=5)

    # then
    assert not had_to_unblock, "ingestion blocked reading the named pipe pipe.md"
    assert Document.objects.filter(uri=str(folder / "good.md")).exists()
    _assert_nothing_written_for(str(pipe))
    assert job.is_finished


# --- web pages -----------------------------------------------------------------------------------------------


@pytest.fixture
def short_fetch_timeout(settings) -> Iterator[float]:
    # Short enough to keep the run quick, long enough for the healthy pages of the same site on a busy machine.
    settings.KB_FETCH_TIMEOUT_SECONDS = 0.75
    fetching._client.cache_clear()  # the cached client keeps the timeout it was built with
    yield settings.KB_FETCH_TIMEOUT_SECONDS
    fetching._client.cache_clear()


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        pytest.param({"status": 404, "body": "nope"}, "404", id="not-found"),
        pytest.param({"status": 500, "body": "oops"}, "500", id="server-error"),
        pytest.param({"body": NO_MAIN_TEXT_PAGES["empty-body"]}, "no main text", id="html-without-main-text"),
        pytest.param(
            {"body": b"\x00\x01\x02binary" * 50, "content_type": "application/octet-stream"}, "binary", id="binary-page"
        ),
        pytest.param(
            {"body": "caf\xe9 cr\xe8me".encode("latin-1"), "content_type": "text/plain"},
            "encoding",
            id="broken-utf8-page",
        ),
        pytest.param(
            {"body": b"%PDF-1.4\ngarbage", "content_type": "application/pdf"}, "not a readable PDF", id="corrupt-pdf"
        ),
    ],
)
def test_a_bad_page_is_a_clear_error_and_the_run_goes_on(http_site, ingest, route, expected):
    # given
    http_site.route("/good.html", body=GOOD_HTML)
    http_site.route("/bad", **route)

    # when
    job = ingest(http_site.url("/bad"), http_site.url("/good.html"))

    # then
    assert expected in _error_for(job, http_site.url("/bad"))
    _assert_good_one_ingested(job, http_site.url("/good.html"))
    _assert_nothing_written_for(http_site.url("/bad"))


def test_an_unreachable_host_is_a_clear_error(http_site, ingest, settings):
    # given: a port nothing listens on, allowed like the test site so the fetcher does try to connect
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
        dead = f"http://127.0.0.1:{dead_port}/page.html"
    settings.KB_FETCH_ALLOWED_NETWORKS = [*settings.KB_FETCH_ALLOWED_NETWORKS, f"127.0.0.1:{dead_port}"]
    http_site.route("/good.html", body=GOOD_HTML)

    # when
    job = ingest(dead, http_site.url("/good.html"))

    # then
    assert "could not fetch" in _error_for(job, dead)
    _assert_good_one_ingested(job, http_site.url("/good.html"))
    _assert_nothing_written_for(dead)


def test_a_malformed_url_is_a_clear_error_and_the_run_goes_on(http_site, ingest):
    # given: a typo in the port — httpx raises InvalidURL, which is not an httpx.HTTPError
    malformed = "http://127.0.0.1:80a/page.html"
    http_site.route("/good.html", body=GOOD_HTML)

    # when
    job = ingest(malformed, http_site.url("/good.html"))

    # then
    assert job.is_finished
    assert "port" in _error_for(job, malformed).lower()
    _assert_good_one_ingested(job, http_site.url("/good.html"))
    _assert_nothing_written_for(malformed)


def test_a_page_that_times_out_is_a_clear_error(http_site, ingest, short_fetch_timeout):
    # given
    http_site.route("/good.html", body=GOOD_HTML)
    http_site.route("/slow.html", body=GOOD_HTML, delay=30)  # cut short when the site stops

    # when
    job = ingest(http_site.url("/slow.html"), http_site.url("/good.html"))

    # then
    assert f"timed out after {short_fetch_timeout:g} s" in _error_for(job, http_site.url("/slow.html"))
    _assert_good_one_ingested(job, http_site.url("/good.html"))
    _assert_nothing_written_for(http_site.url("/slow.html"))


@pytest.mark.parametrize(
    "send_length",
    [
        pytest.param(True, id="declared-content-length"),
        pytest.param(False, id="streamed-without-length"),
    ],
)
def test_an_oversized_page_is_refused(http_site, ingest, settings, send_length):
    # given
    settings.KB_MAX_DOCUMENT_BYTES = 2_000
    http_site.route("/good.html", body=GOOD_HTML)
    http_site.route(
        "/huge.html", body="<html><body><p>" + "word " * 5_000 + "</p></body></html>", send_length=send_length
    )

    # when
    job = ingest(http_site.url("/huge.html"), http_site.url("/good.html"))

    # then
    assert "too large" in _error_for(job, http_site.url("/huge.html"))
    _assert_good_one_ingested(job, http_site.url("/good.html"))
    _assert_nothing_written_for(http_site.url("/huge.html"))


@pytest.mark.parametrize(
    "html",
    [pytest.param(html, id=name) for name, html in NO_MAIN_TEXT_PAGES.items()],
)
def test_an_html_page_without_main_text_is_refused(http_site, ingest, html):
    # given
    http_site.route("/good.html", body=GOOD_HTML)
    http_site.route("/chrome.html", body=html)

    # when
    job = ingest(http_site.url("/chrome.html"), http_site.url("/good.html"))

    # then
    assert "no main text" in _error_for(job, http_site.url("/chrome.html"))
    _assert_good_one_ingested(job, http_site.url("/good.html"))
    _assert_nothing_written_for(http_site.url("/chrome.html"))


# --- a known document that now fails keeps its previous version -------------------------------------------------


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(lambda p: p.write_bytes(b""), "empty", id="now-empty"),
        pytest.param(lambda p: p.write_bytes(b"\x00\x01binary\x00" * 20), "binary", id="now-binary"),
        pytest.param(lambda p: p.write_bytes("caf\xe9".encode("latin-1") * 10), "encoding", id="now-broken-utf8"),
        pytest.param(lambda p: p.write_text("---\ntitle: [oops\n---\nBody\n"), "YAML", id="now-invalid-yaml"),
        pytest.param(lambda p: (p.unlink(), _dangling_symlink(p)), "unreadable", id="now-dangling-symlink"),
    ],
)
def test_a_known_file_that_now_fails_keeps_its_old_chunks(write_docs, ingest, breakage, expected):
    # given
    folder = write_docs({"doc.md": "# Doc\n\nThe keepword text must survive a broken update.\n"})
    ingest(folder)
    document = Document.objects.get()
    before = [(c.id, c.text) for c in Chunk.objects.filter(document=document)]
    breakage(folder / "doc.md")

    # when
    job = ingest(folder, prune=True)

    # then
    assert job.status == IngestionJob.Status.FAILED
    assert expected in _error_for(job, document.uri)
    kept = Document.objects.get(pk=document.pk)
    assert kept.content_hash == document.content_hash
    assert [(c.id, c.text) for c in Chunk.objects.filter(document=kept)] == before
    assert {r.source for r in kb.search("keepword", k=5, mode="keyword")} == {document.uri}


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        pytest.param({"status": 404}, "404", id="now-404"),
        pytest.param({"delay": 30}, "timed out", id="now-times-out"),
        pytest.param({"body": "<html><body></body></html>"}, "no main text", id="now-without-main-text"),
    ],
)
def test_a_known_page_that_now_fails_keeps_its_old_chunks(http_site, ingest, request, route, expected):
    # given
    page = (
        "<html><head><title>Keep</title></head><body><main><h1>Keep</h1><p>The keepword page must survive a broken "
        "update of the site it comes from, whatever the failure is.</p></main></body></html>"
    )
    http_site.route("/keep.html", body=page)
    ingest(http_site.url("/keep.html"))
    document = Document.objects.get()
    before = [(c.id, c.text) for c in Chunk.objects.filter(document=document)]
    http_site.route("/keep.html", **{"body": page, **route})
    if "delay" in route:
        request.getfixturevalue("short_fetch_timeout")

    # when
    job = ingest(http_site.url("/keep.html"), prune=True)

    # then
    assert job.status == IngestionJob.Status.FAILED
    assert expected in _error_for(job, document.uri)
    assert [(c.id, c.text) for c in Chunk.objects.filter(document=document)] == before
    assert Document.objects.get(pk=document.pk).content_hash == document.content_hash
