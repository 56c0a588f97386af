"""Web pages and sitemaps, and `sync`: conditional re-fetches, updates, pruning, remembered sources."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

import kb
from kb import services
from kb.models import Document, IngestionJob, Source

pytestmark = pytest.mark.django_db

ETAG_A = '"a-v1"'
LAST_MODIFIED_B = "Wed, 01 Jan 2025 10:00:00 GMT"


def _page(title: str, words: str) -> str:
    return (
        f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav><main><article>"
        f"<h1>{title}</h1><p>This page is about {words}. It has a few sentences so that it reads like real "
        f"documentation a support bot would answer from.</p></article></main></body></html>"
    )


def _urlset(*urls: str) -> str:
    entries = "".join(f"<url><loc>{url}</loc></url>" for url in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'


def _sitemap_index(*urls: str) -> str:
    entries = "".join(f"<sitemap><loc>{url}</loc></sitemap>" for url in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
    )


def _hits(word: str) -> list[str]:
    return sorted({r.source for r in kb.search(word, k=10, mode="keyword")})


@pytest.fixture
def docs_site(http_site):
    """Three pages: /a with an ETag, /b with a Last-Modified date, /c with neither; a sitemap listing them."""
    http_site.route("/docs/a.html", body=_page("Alpha", "applewords"), etag=ETAG_A)
    http_site.route("/docs/b.html", body=_page("Beta", "bananawords"), last_modified=LAST_MODIFIED_B)
    http_site.route("/docs/c.html", body=_page("Gamma", "cherrywords"))
    pages = [http_site.url(f"/docs/{name}.html") for name in "abc"]
    http_site.route("/sitemap.xml", body=_urlset(*pages), content_type="application/xml")
    return http_site


def test_a_sitemap_becomes_one_document_per_listed_page(docs_site, ingest):
    # given
    pages = [docs_site.url(f"/docs/{name}.html") for name in "abc"]

    # when
    job = ingest(docs_site.url("/sitemap.xml"))

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert (job.total, job.created) == (3, 3)
    documents = Document.objects.order_by("uri")
    assert [(d.uri, d.url, d.format) for d in documents] == [(page, page, "html") for page in pages]
    assert [d.title for d in documents] == ["Alpha", "Beta", "Gamma"]
    source = Source.objects.get(location=docs_site.url("/sitemap.xml"))
    assert source.kind == Source.Kind.SITEMAP
    assert source.last_synced_at is not None
    assert {d.source_id for d in documents} == {source.pk}
    assert not Document.objects.filter(uri=docs_site.url("/sitemap.xml")).exists()
    assert Document.objects.get(uri=pages[0]).etag == ETAG_A
    assert Document.objects.get(uri=pages[1]).last_modified == LAST_MODIFIED_B
    assert _hits("bananawords") == [pages[1]]
    assert kb.search("bananawords", k=1, mode="keyword")[0].link.startswith(pages[1])


def test_a_sitemap_index_is_followed_to_its_sitemaps(docs_site, ingest):
    # given
    a, b, c = (docs_site.url(f"/docs/{name}.html") for name in "abc")
    docs_site.route("/sitemaps/one.xml", body=_urlset(a, b), content_type="application/xml")
    docs_site.route("/sitemaps/two.xml", body=_urlset(c, a), content_type="application/xml")
    docs_site.route(
        "/sitemap_index.xml",
        body=_sitemap_index(docs_site.url("/sitemaps/one.xml"), docs_site.url("/sitemaps/two.xml")),
        content_type="application/xml",
    )

    # when
    job = ingest(docs_site.url("/sitemap_index.xml"))

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert (job.total, job.created) == (3, 3)  # /a is listed twice, ingested once
    assert sorted(Document.objects.values_list("url", flat=True)) == [a, b, c]
    assert Source.objects.get(location=docs_site.url("/sitemap_index.xml")).kind == Source.Kind.SITEMAP
    assert len(docs_site.requests("/sitemaps/one.xml")) == len(docs_site.requests("/sitemaps/two.xml")) == 1


def test_a_single_page_is_fetched_once_and_remembered_as_a_url_source(docs_site, ingest):
    # when
    job = ingest(docs_site.url("/docs/a.html"))

    # then
    assert job.created == 1
    assert len(docs_site.requests("/docs/a.html")) == 1  # fetched while expanding the target, not again
    document = Document.objects.get()
    assert (document.url, document.title, document.etag) == (docs_site.url("/docs/a.html"), "Alpha", ETAG_A)
    assert Source.objects.get().kind == Source.Kind.URL


def test_a_source_is_remembered_for_each_target(docs_site, ingest, write_docs, tmp_path):
    # given
    folder = write_docs({"faq.md": "# FAQ\n\nQuestions and answers.\n"})
    single_file = tmp_path / "single.txt"
    single_file.write_text("One plain file.")

    # when
    ingest(folder, single_file, docs_site.url("/sitemap.xml"), docs_site.url("/docs/a.html"))
    ingest(folder, docs_site.url("/sitemap.xml"))  # the same targets again: no duplicate sources

    # then
    assert sorted(Source.objects.values_list("location", "kind")) == sorted(
        [
            (str(folder.resolve()), Source.Kind.PATH),
            (str(single_file.resolve()), Source.Kind.PATH),
            (docs_site.url("/sitemap.xml"), Source.Kind.SITEMAP),
            (docs_site.url("/docs/a.html"), Source.Kind.URL),
        ]
    )
    assert all(source.last_synced_at for source in Source.objects.all())


def _run_sync(how: str) -> IngestionJob:
    if how == "service":
        return services.sources_sync()
    call_command("sync", "--quiet", stdout=io.StringIO())
    return IngestionJob.objects.order_by("-pk").first()


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("service", id="services.sources_sync"),
        pytest.param("command", id="manage.py-sync"),
    ],
)
def test_sync_skips_unchanged_pages_updates_changed_ones_and_prunes_removed_ones(docs_site, ingest, how):
    # given: a fourth page, later dropped from the sitemap; /c changes meanwhile
    docs_site.route("/docs/d.html", body=_page("Delta", "dateswords"))
    a, b, c, d = (docs_site.url(f"/docs/{name}.html") for name in "abcd")
    docs_site.route("/sitemap.xml", body=_urlset(a, b, c, d), content_type="application/xml")
    ingest(docs_site.url("/sitemap.xml"))
    ids_before = dict(Document.objects.values_list("uri", "id"))
    docs_site.route("/sitemap.xml", body=_urlset(a, b, c), content_type="application/xml")
    docs_site.route("/docs/c.html", body=_page("Gamma", "coconutwords"))
    served_before = {page: len(docs_site.requests(page)) for page in ("/docs/a.html", "/docs/b.html")}

    # when
    job = _run_sync(how)

    # then
    assert job.kind == IngestionJob.Kind.SYNC
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert (job.total, job.unchanged, job.updated, job.created, job.deleted) == (3, 2, 1, 0, 1)
    assert docs_site.requests("/docs/a.html")[-1].get("if-none-match") == ETAG_A
    assert docs_site.requests("/docs/b.html")[-1].get("if-modified-since") == LAST_MODIFIED_B
    assert {page: len(docs_site.requests(page)) for page in served_before} == {
        page: count + 1 for page, count in served_before.items()
    }
    assert _hits("coconutwords") == [c]
    assert _hits("cherrywords") == []
    assert not Document.objects.filter(uri=d).exists()
    assert _hits("dateswords") == []
    assert dict(Document.objects.values_list("uri", "id")) == {uri: ids_before[uri] for uri in (a, b, c)}


@pytest.mark.parametrize(
    ("header", "route"),
    [
        pytest.param("if-none-match", {"etag": '"page-v1"'}, id="etag"),
        pytest.param("if-modified-since", {"last_modified": "Mon, 06 Jan 2025 08:00:00 GMT"}, id="last-modified"),
    ],
)
def test_sync_of_a_single_page_answered_304_is_unchanged(http_site, ingest, header, route):
    # given
    http_site.route("/page.html", body=_page("Solo", "solowords"), **route)
    ingest(http_site.url("/page.html"))
    chunk_ids = list(Document.objects.get().chunks.values_list("id", flat=True))

    # when
    job = services.sources_sync()

    # then
    assert (job.unchanged, job.updated, job.failed) == (1, 0, 0)
    assert http_site.requests("/page.html")[-1].get(header) == next(iter(route.values()))
    assert list(Document.objects.get().chunks.values_list("id", flat=True)) == chunk_ids


def test_sync_without_prune_keeps_pages_dropped_from_the_sitemap(docs_site, ingest):
    # given
    a, b, c = (docs_site.url(f"/docs/{name}.html") for name in "abc")
    ingest(docs_site.url("/sitemap.xml"))
    docs_site.route("/sitemap.xml", body=_urlset(a, b), content_type="application/xml")
    out = io.StringIO()

    # when
    call_command("sync", "--no-prune", "--quiet", stdout=out)

    # then
    job = IngestionJob.objects.order_by("-pk").first()
    assert (job.prune, job.deleted, job.unchanged) == (False, 0, 2)
    assert Document.objects.filter(uri=c).exists()
    assert out.getvalue().startswith(f"Job {job.pk} succeeded: 2 of 2 documents")


def test_a_sitemap_that_went_away_prunes_nothing(docs_site, ingest):
    # given
    ingest(docs_site.url("/sitemap.xml"))
    docs_site.remove("/sitemap.xml")

    # when
    job = services.sources_sync()

    # then
    assert job.status == IngestionJob.Status.FAILED
    assert "404" in job.errors[0]["error"]
    assert Document.objects.count() == 3


def test_sync_with_no_sources_says_so():
    # given
    out = io.StringIO()

    # when
    call_command("sync", stdout=out)

    # then
    assert "No sources yet" in out.getvalue()
    assert not IngestionJob.objects.exists()


def test_sync_re_ingests_a_folder_source_too(write_docs, ingest):
    # given
    folder = write_docs({"a.md": "# A\n\nThe firstword text.\n", "b.md": "# B\n\nUnchanging.\n"})
    ingest(folder)
    (folder / "a.md").write_text("# A\n\nThe secondword text.\n")
    (folder / "c.md").write_text("# C\n\nA new file.\n")
    (folder / "b.md").unlink()

    # when
    job = services.sources_sync()

    # then
    assert (job.updated, job.created, job.deleted) == (1, 1, 1)
    assert sorted(Document.objects.values_list("uri", flat=True)) == [str(folder / "a.md"), str(folder / "c.md")]
    assert _hits("secondword") == [str(folder / "a.md")]


def test_force_re_fetches_without_conditional_headers_and_re_ingests(docs_site, ingest):
    # given
    ingest(docs_site.url("/sitemap.xml"))

    # when
    job = ingest(docs_site.url("/sitemap.xml"), force=True)

    # then
    assert (job.updated, job.unchanged) == (3, 0)
    assert "if-none-match" not in docs_site.requests("/docs/a.html")[-1]
    assert "if-modified-since" not in docs_site.requests("/docs/b.html")[-1]


def test_a_page_with_a_new_etag_but_the_same_content_is_unchanged_and_the_new_etag_is_kept(docs_site, ingest):
    # given
    ingest(docs_site.url("/sitemap.xml"))
    docs_site.route("/docs/a.html", body=_page("Alpha", "applewords"), etag='"a-v2"')

    # when
    job = services.sources_sync()
    services.sources_sync()

    # then
    assert (job.unchanged, job.updated) == (3, 0)
    assert Document.objects.get(uri=docs_site.url("/docs/a.html")).etag == '"a-v2"'
    assert docs_site.requests("/docs/a.html")[-1].get("if-none-match") == '"a-v2"'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("<urlset><url><loc>http://x/</loc></url>", id="unclosed"),
        pytest.param("<urlset><url><loc>&undefined;</loc></url></urlset>", id="undefined-entity"),
    ],
)
def test_a_broken_sitemap_is_a_job_error(http_site, ingest, body):
    # given
    http_site.route("/good.html", body=_page("Good", "goodwords"))
    http_site.route("/sitemap.xml", body=body, content_type="application/xml")

    # when
    job = ingest(http_site.url("/sitemap.xml"), http_site.url("/good.html"))

    # then
    assert job.status == IngestionJob.Status.PARTIAL
    [error] = job.errors
    assert error["uri"] == http_site.url("/sitemap.xml")
    assert "not valid XML" in error["error"]
    assert list(Document.objects.values_list("uri", flat=True)) == [http_site.url("/good.html")]


def test_a_sitemap_listing_a_missing_or_malformed_page_ingests_the_others(docs_site, ingest):
    # given
    a, b, c = (docs_site.url(f"/docs/{name}.html") for name in "abc")
    missing, malformed = docs_site.url("/docs/missing.html"), "http://127.0.0.1:80a/docs/typo.html"
    docs_site.route("/sitemap.xml", body=_urlset(a, missing, b, malformed, c), content_type="application/xml")

    # when
    job = ingest(docs_site.url("/sitemap.xml"))

    # then
    assert job.status == IngestionJob.Status.PARTIAL
    assert (job.total, job.created, job.failed) == (5, 3, 2)
    errors = {e["uri"]: e["error"] for e in job.errors}
    assert "404" in errors[missing]
    assert "port" in errors[malformed].lower()
    assert sorted(Document.objects.values_list("uri", flat=True)) == [a, b, c]


def test_a_sitemap_index_listing_a_malformed_sitemap_url_is_a_job_error(docs_site, ingest):
    # given
    docs_site.route(
        "/sitemap_index.xml",
        body=_sitemap_index(docs_site.url("/sitemap.xml"), "http://127.0.0.1:80a/typo.xml"),
        content_type="application/xml",
    )
    docs_site.route("/good.html", body=_page("Good", "goodwords"))

    # when
    job = ingest(docs_site.url("/sitemap_index.xml"), docs_site.url("/good.html"))

    # then
    assert job.is_finished
    assert [e["uri"] for e in job.errors] == [docs_site.url("/sitemap_index.xml")]
    assert Document.objects.filter(uri=docs_site.url("/good.html")).exists()


def test_changing_the_chunk_settings_re_chunks_files_on_the_next_ingest(write_docs, ingest, settings):
    # given
    folder = write_docs({"a.md": "# A\n\n" + "Some words about chunking settings. " * 40})
    ingest(folder)
    settings.KB_CHUNK_TOKENS = 64
    settings.KB_CHUNK_OVERLAP_TOKENS = 8

    # when
    job = ingest(folder)

    # then
    assert (job.updated, job.unchanged) == (1, 0)
    assert max(Document.objects.get().chunks.values_list("token_count", flat=True)) <= 64


def test_changing_the_chunk_settings_re_chunks_web_pages_on_the_next_sync(docs_site, ingest, settings):
    # given: /a has an ETag, /b a Last-Modified date, /c neither
    ingest(docs_site.url("/sitemap.xml"))
    settings.KB_CHUNK_TOKENS = 64
    settings.KB_CHUNK_OVERLAP_TOKENS = 8

    # when
    job = services.sources_sync()

    # then: "chunking settings are part of the identity: changing them re-chunks on the next ingest"
    assert (job.updated, job.unchanged) == (3, 0), "pages answered 304 kept chunks cut with the old settings"
