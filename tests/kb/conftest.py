"""Fixtures for the knowledge-base tests: local web sites (never the internet)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kb import fetching
from tests.http_server import LocalSite


@pytest.fixture
def http_site(settings) -> Iterator[LocalSite]:
    """A local HTTP server whose routes the test sets: `.route(path, body=…)`, `.url(path)`, `.requests(path)`.

    It listens on loopback, which the fetcher refuses, so the test allows exactly this server's address and port
    (KB_FETCH_ALLOWED_NETWORKS) and nothing else: every other loopback port stays refused.
    """
    fetching._client.cache_clear()  # a client cached by another test may carry other settings
    site = LocalSite().start()
    settings.KB_FETCH_ALLOWED_NETWORKS = [*settings.KB_FETCH_ALLOWED_NETWORKS, site.host_port]
    try:
        yield site
    finally:
        site.stop()
        fetching._client.cache_clear()


@pytest.fixture
def internal_site() -> Iterator[LocalSite]:
    """A second local server standing for an internal service (metrics, an admin page): never allowed, so the
    test can show, from its request log, that nothing ever reached it."""
    site = LocalSite().start()
    try:
        yield site
    finally:
        site.stop()
