"""A hostile sitemap, redirects and XML tricks: nothing outside the public web (or what the test allows) is read.

The test site listens on loopback, which the fetcher refuses; `http_site` allows exactly its own port. Every other
loopback port stays refused, and `internal_site` — a second local server standing for metrics or an admin page —
proves from its request log that nothing reached it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings

import kb
from kb import services
from kb.fetching import FetchError, fetch
from kb.models import Chunk, Document, IngestionJob, Source

pytestmark = pytest.mark.django_db

GOOD_PAGE = (
    "<html><head><title>Refunds</title></head><body><main><h1>Refunds</h1><p>The goodword refund policy: ask "
    "within thirty days and we send the money back to the card you paid with, no questions asked.</p></main>"
    "</body></html>"
)
INTERNAL_PAGE = (
    "<html><body><main><h1>Metrics</h1><p>internalword process_cpu_seconds_total 42</p></main></body></html>"
)


def _urlset(*locations: str) -> str:
    entries = "".join(f"<url><loc>{location}</loc></url>" for location in locations)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'


def _errors(job: IngestionJob) -> dict[str, str]:
    return {error["uri"]: error["error"] for error in job.errors}


def _stored_text() -> str:
    return "\n".join(Chunk.objects.values_list("text", flat=True)) + "\n".join(
        Document.objects.values_list("text", flat=True)
    )


@pytest.fixture
def private_file(tmp_path) -> Path:
    path = tmp_path / "private.md"
    path.write_text("# Private\n\nThe confidentialword payroll figures live here.\n", encoding="utf-8")
    return path


@pytest.fixture
def hostile(http_site, internal_site, private_file) -> dict[str, str]:
    """A sitemap on the allowed test site listing one good page and every way out of the public web."""
    internal_site.route("/metrics", body=INTERNAL_PAGE)
    http_site.route("/good.html", body=GOOD_PAGE)
    http_site.route("/moved", status=302, headers={"Location": internal_site.url("/metrics")})
    http_site.route("/moved-to-file", status=302, headers={"Location": f"file://{private_file}"})
    data_dir = django_settings.DATA_DIR
    entries = {
        "local file": str(private_file),
        "file URL": private_file.as_uri(),
        "relative path": "private.md",
        "data directory secret key": str(data_dir / "secret_key"),
        "data directory as a file URL": (data_dir / "secret_key").as_uri(),
        "data directory admin password": str(data_dir / "admin_password"),
        "data directory upload": str(data_dir / "uploads" / "guide.md"),
        "another scheme": f"ftp://127.0.0.1:{internal_site.port}/metrics",
        "redirect to loopback": http_site.url("/moved"),
        "redirect to a file": http_site.url("/moved-to-file"),
        "loopback on another port": internal_site.url("/metrics"),
        "host name resolving to loopback": f"http://localhost:{internal_site.port}/metrics",
        "IPv6 loopback": f"http://[::1]:{internal_site.port}/metrics",
        "IPv4-mapped IPv6 loopback": f"http://[::ffff:127.0.0.1]:{internal_site.port}/metrics",
        "private 10/8": "http://10.0.0.7/admin",
        "private 192.168/16": "http://192.168.1.1/config",
        "link-local cloud metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    }
    http_site.route(
        "/sitemap.xml", body=_urlset(http_site.url("/good.html"), *entries.values()), content_type="application/xml"
    )
    return entries


def test_a_hostile_sitemap_ingests_only_its_public_pages_and_fails_every_other_entry_on_its_own(
    hostile, http_site, internal_site, ingest
):
    # given
    sitemap, good = http_site.url("/sitemap.xml"), http_site.url("/good.html")
    secret_key = (django_settings.DATA_DIR / "secret_key").read_text().strip()

    # when
    job = ingest(sitemap)

    # then: the job went on and ingested the good page
    assert job.status == IngestionJob.Status.PARTIAL
    assert (job.total, job.created, job.failed) == (len(hostile) + 1, 1, len(hostile))
    assert list(Document.objects.values_list("uri", flat=True)) == [good]
    assert {result.source for result in kb.search("goodword refund", k=5, mode="keyword")} == {good}
    # each hostile entry failed as its own document, with a clear reason
    errors = _errors(job)
    assert set(errors) == set(hostile.values())
    assert all(errors[uri].startswith(("refused", "redirected to")) for uri in hostile.values()), errors
    # nothing of them was read, fetched or stored
    assert internal_site.requested_paths() == []
    stored = _stored_text()
    assert "confidentialword" not in stored and "internalword" not in stored and secret_key not in stored
    assert not kb.search("confidentialword payroll", k=5, mode="keyword")
    assert list(Source.objects.values_list("location", flat=True)) == [sitemap]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param("local file", "only read when given on the command line", id="local-file"),
        pytest.param("file URL", "only read when given on the command line", id="file-url"),
        pytest.param("data directory secret key", "only read when given on the command line", id="data-dir"),
        pytest.param("another scheme", "only read when given on the command line", id="ftp"),
        pytest.param("redirect to loopback", "127.0.0.1 is a loopback address", id="redirect-to-loopback"),
        pytest.param("redirect to a file", "the file: scheme", id="redirect-to-file"),
        pytest.param("host name resolving to loopback", "localhost resolves to", id="localhost"),
        pytest.param("IPv6 loopback", "::1 is a loopback address", id="ipv6-loopback"),
        pytest.param("IPv4-mapped IPv6 loopback", "::ffff:127.0.0.1 is a loopback address", id="ipv4-mapped"),
        pytest.param("private 10/8", "refused before connecting: 10.0.0.7 is a private address", id="private-10"),
        pytest.param("private 192.168/16", "192.168.1.1 is a private address", id="private-192-168"),
        pytest.param("link-local cloud metadata", "169.254.169.254 is a link-local address", id="metadata"),
    ],
)
def test_each_hostile_entry_says_why_it_was_refused(hostile, http_site, ingest, entry, expected):
    # when
    job = ingest(http_site.url("/sitemap.xml"))

    # then
    assert expected in _errors(job)[hostile[entry]]


def test_sync_re_reads_the_hostile_sitemap_and_still_reads_nothing_of_it(hostile, http_site, internal_site, ingest):
    # given
    ingest(http_site.url("/sitemap.xml"))

    # when
    job = services.sources_sync()

    # then
    assert job.kind == IngestionJob.Kind.SYNC
    assert set(_errors(job)) == set(hostile.values())
    assert internal_site.requested_paths() == []
    assert list(Document.objects.values_list("uri", flat=True)) == [http_site.url("/good.html")]


def test_a_page_target_that_redirects_to_loopback_is_refused_on_the_redirect(http_site, internal_site, ingest):
    # given
    internal_site.route("/metrics", body=INTERNAL_PAGE)
    http_site.route("/moved", status=307, headers={"Location": internal_site.url("/metrics")})

    # when
    job = ingest(http_site.url("/moved"))

    # then
    assert job.status == IngestionJob.Status.FAILED
    assert _errors(job)[http_site.url("/moved")].startswith(f"redirected to {internal_site.url('/metrics')}")
    assert internal_site.requested_paths() == []
    assert not Document.objects.exists()


def test_redirects_within_the_allowed_site_are_followed_up_to_the_cap(http_site, ingest, settings):
    # given: /r0 → /r1 → /r2 → /good.html, and a loop
    settings.KB_FETCH_MAX_REDIRECTS = 3
    for hop in range(3):
        http_site.route(f"/r{hop}", status=301, headers={"Location": f"/r{hop + 1}" if hop < 2 else "/good.html"})
    http_site.route("/good.html", body=GOOD_PAGE)
    http_site.route("/loop", status=302, headers={"Location": "/loop"})

    # when
    job = ingest(http_site.url("/r0"))
    with pytest.raises(FetchError) as looped:
        fetch(http_site.url("/loop"))

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED
    assert Document.objects.filter(uri=http_site.url("/r0")).exists()
    assert "more than 3 redirects" in str(looped.value)
    assert len(http_site.requests("/loop")) == 4  # the first request and three redirects, then it stops


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE urlset [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{good}?&lol5;</loc></url></urlset>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY leak SYSTEM "{target}">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{good}?&leak;</loc></url></urlset>"""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda good, private, internal: BILLION_LAUGHS.format(good=good), id="billion-laughs"),
        pytest.param(
            lambda good, private, internal: EXTERNAL_ENTITY.format(good=good, target=private.as_uri()),
            id="external-entity-file",
        ),
        pytest.param(
            lambda good, private, internal: EXTERNAL_ENTITY.format(good=good, target=internal),
            id="external-entity-http",
        ),
    ],
)
def test_a_sitemap_with_entities_is_refused_whole(http_site, internal_site, private_file, ingest, body):
    # given
    internal_site.route("/metrics", body=INTERNAL_PAGE)
    http_site.route("/good.html", body=GOOD_PAGE)
    xml = body(http_site.url("/good.html"), private_file, internal_site.url("/metrics"))
    http_site.route("/sitemap.xml", body=xml, content_type="application/xml")

    # when
    job = ingest(http_site.url("/sitemap.xml"))

    # then
    assert job.status == IngestionJob.Status.FAILED
    assert "document type" in _errors(job)[http_site.url("/sitemap.xml")]
    assert internal_site.requested_paths() == []
    assert not Document.objects.exists()
    assert http_site.requests("/good.html") == []
