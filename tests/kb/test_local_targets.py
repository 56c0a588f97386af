"""Local paths: read when an operator names them, never from Supportbot's data directory, never for a fetched one.

Each test points DATA_DIR at a folder of its own holding a secret key and an admin password, so nothing real is
touched; the console's uploads folder inside it stays readable.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import kb
from kb import services
from kb.models import Chunk, Document, IngestionJob, Source

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-key-zebrafinch-0451"
GOOD = "# Returns\n\nThe goodword returns desk opens at nine and takes parcels until five.\n"


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    folder = tmp_path / "data"
    (folder / "uploads").mkdir(parents=True)
    (folder / "media").mkdir()
    (folder / "secret_key").write_text(SECRET)
    (folder / "admin_password").write_text(f"admin password {SECRET}\n")
    (folder / "media" / "export.txt").write_text(f"an export that mentions {SECRET}\n")
    settings.DATA_DIR = folder
    return folder


def _nothing_secret_stored() -> None:
    stored = list(Chunk.objects.values_list("text", flat=True)) + list(Document.objects.values_list("text", flat=True))
    assert not any(SECRET in text for text in stored)
    assert not kb.search("zebrafinch secret key", k=5, mode="keyword")


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda d: d / "secret_key", id="secret-key"),
        pytest.param(lambda d: d / "admin_password", id="admin-password"),
        pytest.param(lambda d: d, id="the-folder-itself"),
        pytest.param(lambda d: d / "media", id="a-folder-inside"),
        pytest.param(lambda d: d / "uploads" / ".." / "secret_key", id="dot-dot-out-of-uploads"),
    ],
)
def test_the_command_line_cannot_ingest_the_data_directory(data_dir, target):
    # given
    out = io.StringIO()

    # when
    with pytest.raises(CommandError):
        call_command("ingest", str(target(data_dir)), "--quiet", stdout=out)

    # then
    assert "inside Supportbot's data directory (SUPPORTBOT_DATA_DIR)" in out.getvalue()
    assert not Document.objects.exists()
    assert not Source.objects.exists()  # not remembered, so `sync` never tries it again
    _nothing_secret_stored()


def test_a_link_into_the_data_directory_fails_as_its_own_document(data_dir, write_docs, ingest):
    # given: a documents folder with a good page and a planted link to the secret key
    folder = write_docs({"returns.md": GOOD})
    (folder / "key.md").symlink_to(data_dir / "secret_key")

    # when
    job = ingest(folder)

    # then
    assert job.status == IngestionJob.Status.PARTIAL
    assert [e["uri"] for e in job.errors] == [str(folder / "key.md")]
    assert f"it leads to {data_dir / 'secret_key'}, inside Supportbot's data directory" in job.errors[0]["error"]
    assert list(Document.objects.values_list("uri", flat=True)) == [str(folder / "returns.md")]
    _nothing_secret_stored()


def test_a_linked_folder_that_leads_into_the_data_directory_is_refused(data_dir, tmp_path, ingest):
    # given
    link = tmp_path / "docs-link"
    link.symlink_to(data_dir)

    # when
    job = ingest(link)

    # then
    assert job.status == IngestionJob.Status.FAILED
    assert "inside Supportbot's data directory" in job.errors[0]["error"]
    _nothing_secret_stored()


def test_console_uploads_inside_the_data_directory_are_still_ingested(data_dir, ingest):
    # given: what supportbot.console.services.upload_ingest writes and queues
    upload = data_dir / "uploads" / "returns.md"
    upload.write_text(GOOD)

    # when
    job = ingest(upload)

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert Document.objects.filter(uri=str(upload)).exists()


@pytest.mark.parametrize(
    ("kind", "location"),
    [
        pytest.param(Source.Kind.SITEMAP, lambda d, f: str(f), id="sitemap-remembered-with-a-path"),
        pytest.param(Source.Kind.URL, lambda d, f: f.as_uri(), id="page-remembered-with-a-file-url"),
        pytest.param(Source.Kind.PATH, lambda d, f: str(d), id="folder-source-in-the-data-directory"),
        pytest.param(Source.Kind.PATH, lambda d, f: str(d / "secret_key"), id="file-source-in-the-data-directory"),
    ],
)
def test_sync_never_turns_a_remembered_source_into_a_forbidden_local_read(data_dir, write_docs, kind, location):
    # given: a source row as an older version, or a hand-edited database, might have left it
    outside = write_docs({"returns.md": GOOD}) / "returns.md"
    Source.objects.create(kind=kind, location=location(data_dir, outside))

    # when
    job = services.sources_sync()

    # then
    assert job.status == IngestionJob.Status.FAILED
    [error] = job.errors
    assert "refused" in error["error"]
    assert not Document.objects.exists()
    _nothing_secret_stored()


def test_re_ingesting_a_stored_document_whose_uri_is_in_the_data_directory_is_refused(data_dir):
    # given: a document row left by an older version that read a sitemap's <loc> as a path; the admin's and the
    # console's re-ingest make its uri a job target
    legacy = Document.objects.create(
        uri=str(data_dir / "secret_key"), title="Old", format=Document.Format.TEXT, content_hash="x", text="old text"
    )
    job = services.job_create(targets=[legacy.uri], force=True)

    # when
    job = services.job_run(job_id=job.pk)

    # then
    assert job.status == IngestionJob.Status.FAILED
    assert "inside Supportbot's data directory" in job.errors[0]["error"]
    legacy.refresh_from_db()
    assert legacy.text == "old text"
    _nothing_secret_stored()


def test_a_file_outside_the_data_directory_given_on_the_command_line_is_read(data_dir, write_docs):
    # given
    folder = write_docs({"returns.md": GOOD})
    out = io.StringIO()

    # when
    call_command("ingest", str(folder / "returns.md"), "--quiet", stdout=out)

    # then
    assert Document.objects.filter(uri=str(folder / "returns.md")).exists()
    assert "1 created" in out.getvalue()
