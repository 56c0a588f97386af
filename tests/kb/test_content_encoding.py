"""Compressed bodies: the size limit counts decoded bytes, a decompression bomb fails its document cheaply.

The bombs are 1 GiB of decoded data (about 1 MB of gzip, 32 KB of zstd) served by the local test site; with the
default 20 MiB limit the page must fail with the process's memory growing by well under 100 MB, measured both as
Python allocations (tracemalloc) and as resident size sampled while the job runs (C buffers too).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import threading
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
import zstandard

from kb.models import Document, IngestionJob

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024
LIMIT = 20 * MIB
PAGE = (
    b"<html><head><title>Shipping</title></head><body><main><h1>Shipping</h1><p>The shipwords parcel leaves our "
    b"warehouse within two working days and arrives in three to five more, tracked all the way.</p></main>"
    b"</body></html>"
)


def _gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MIB)
    return b"".join(compressor.compress(block) for _ in range(size // MIB)) + compressor.flush()


def _zstd_bomb(size: int) -> bytes:
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    block = bytes(MIB)
    return b"".join(compressor.compress(block) for _ in range(size // MIB)) + compressor.flush()


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {"gzip": _gzip_bomb(1024 * MIB), "zstd": _zstd_bomb(1024 * MIB)}


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def peak_growth() -> Iterator[dict[str, int]]:
    """Peak growth over the block: Python allocations (tracemalloc), and resident size sampled every ~2 ms."""
    growth: dict[str, int] = {}
    baseline_rss, peak_rss, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak_rss[0] = max(peak_rss[0], _rss())
            done.wait(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    tracemalloc.start()
    baseline_traced, _ = tracemalloc.get_traced_memory()
    sampler.start()
    try:
        yield growth
    finally:
        _, peak_traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        done.set()
        sampler.join()
        growth["python"] = peak_traced - baseline_traced
        growth["rss"] = max(peak_rss[0], _rss()) - baseline_rss


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_a_decompression_bomb_fails_its_page_with_little_memory_and_the_job_goes_on(
    http_site, ingest, settings, bombs, encoding
):
    # given
    settings.KB_MAX_DOCUMENT_BYTES = LIMIT
    http_site.route("/bomb.html", body=bombs[encoding], headers={"Content-Encoding": encoding})
    http_site.route("/good.html", body=PAGE)
    ingest(http_site.url("/good.html"))  # warms up imports and the connection pool outside the measurement

    # when
    with peak_growth() as growth:
        job = ingest(http_site.url("/bomb.html"), http_site.url("/good.html"))

    # then
    [error] = job.errors
    assert error["uri"] == http_site.url("/bomb.html")
    decoded_before_stop = int(re.search(r"too large: ([\d,]+) bytes", error["error"]).group(1).replace(",", ""))
    assert LIMIT < decoded_before_stop <= LIMIT + 64 * 1024  # reading stopped at the first piece past the limit
    assert growth["python"] < 100 * MIB, growth
    assert growth["rss"] < 100 * MIB, growth
    assert job.status == IngestionJob.Status.PARTIAL
    assert not Document.objects.filter(uri=http_site.url("/bomb.html")).exists()


def test_the_fetcher_asks_for_an_uncompressed_body(http_site, ingest):
    # given
    http_site.route("/page.html", body=PAGE)

    # when
    ingest(http_site.url("/page.html"))

    # then
    assert http_site.requests("/page.html")[0]["accept-encoding"] == "identity"


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        pytest.param("gzip", gzip.compress(PAGE), id="gzip"),
        pytest.param("x-gzip", gzip.compress(PAGE), id="x-gzip"),
        pytest.param("deflate", zlib.compress(PAGE), id="deflate-zlib"),
        pytest.param("deflate", _raw_deflate(PAGE), id="deflate-raw"),
        pytest.param("zstd", zstandard.ZstdCompressor().compress(PAGE), id="zstd"),
        pytest.param("identity", PAGE, id="identity"),
    ],
)
def test_a_server_that_compresses_anyway_is_still_read(http_site, ingest, encoding, body):
    # given
    http_site.route("/page.html", body=body, headers={"Content-Encoding": encoding})

    # when
    job = ingest(http_site.url("/page.html"))

    # then
    assert job.status == IngestionJob.Status.SUCCEEDED, job.errors
    assert "shipwords parcel" in Document.objects.get(uri=http_site.url("/page.html")).text


def _zstd_with_window(window_log: int) -> bytes:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    return compressor.compress(PAGE) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body", "expected"),
    [
        pytest.param("br", b"\x1b\x00\x00", "'br' is refused", id="brotli"),
        pytest.param("compress", b"\x1f\x9d", "'compress' is refused", id="compress"),
        pytest.param("gzip, zstd", gzip.compress(PAGE), "stacked content encodings", id="stacked"),
        pytest.param("gzip", b"\x1f\x8b\x08\x00garbage" * 10, "gzip body is corrupt", id="corrupt-gzip"),
        pytest.param("gzip", gzip.compress(PAGE)[:-12], "gzip body is cut short", id="truncated-gzip"),
        pytest.param("zstd", _zstd_with_window(27), "needs more than 8 MiB", id="zstd-128-mib-window"),
    ],
)
def test_a_body_that_cannot_be_decoded_safely_is_a_clear_error(http_site, ingest, encoding, body, expected):
    # given
    http_site.route("/page.html", body=body, headers={"Content-Encoding": encoding})
    http_site.route("/good.html", body=PAGE)

    # when
    job = ingest(http_site.url("/page.html"), http_site.url("/good.html"))

    # then
    assert job.status == IngestionJob.Status.PARTIAL
    [error] = job.errors
    assert error["uri"] == http_site.url("/page.html")
    assert expected in error["error"]
    assert list(Document.objects.values_list("uri", flat=True)) == [http_site.url("/good.html")]
