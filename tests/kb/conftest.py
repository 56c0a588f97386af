"""Fixtures for the knowledge-base tests: a local web site (never the internet)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kb import fetching
from tests.http_server import LocalSite


@pytest.fixture
def http_site() -> Iterator[LocalSite]:
    """A local HTTP server whose routes the test sets: `.route(path, body=…)`, `.url(path)`, `.requests(path)`."""
    fetching._client.cache_clear()  # a client cached by another test may carry other settings
    site = LocalSite().start()
    try:
        yield site
    finally:
        site.stop()
        fetching._client.cache_clear()
