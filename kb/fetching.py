"""Reading web pages and sitemaps for the knowledge base, politely and with limits.

Conditional requests (ETag / Last-Modified) let `sync` skip pages that did not change; a size cap is enforced
while streaming, so an oversized page is refused without being held in memory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import httpx
from django.conf import settings

from kb.extraction import ExtractionError, check_size

USER_AGENT = "Supportbot/0.1 (knowledge base sync)"


class FetchError(Exception):
    """The page could not be fetched; the message is shown per document in the job."""


@dataclass
class Fetched:
    url: str
    data: bytes = b""
    content_type: str = ""
    charset: str | None = None
    etag: str = ""
    last_modified: str = ""
    not_modified: bool = False


@functools.cache
def _client() -> httpx.Client:
    return httpx.Client(
        timeout=settings.KB_FETCH_TIMEOUT_SECONDS, follow_redirects=True, headers={"User-Agent": USER_AGENT}
    )


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def fetch(url: str, *, etag: str = "", last_modified: str = "") -> Fetched:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with _client().stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(url=url, etag=etag, last_modified=last_modified, not_modified=True)
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
            declared = response.headers.get("content-length")
            if declared and declared.isdigit():
                check_size(int(declared))
            data = _read_capped(response)
            return Fetched(
                url=str(response.url),
                data=data,
                content_type=response.headers.get("content-type", ""),
                charset=response.charset_encoding,
                etag=response.headers.get("etag", ""),
                last_modified=response.headers.get("last-modified", ""),
            )
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out after {settings.KB_FETCH_TIMEOUT_SECONDS:g} s") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(f"could not fetch: {exc}") from exc
    except ExtractionError as exc:
        raise FetchError(str(exc)) from exc


def _read_capped(response: httpx.Response) -> bytes:
    buffer = bytearray()
    for part in response.iter_bytes():
        buffer.extend(part)
        check_size(len(buffer))
    return bytes(buffer)


def is_sitemap(fetched: Fetched) -> bool:
    head = fetched.data[:2048].lstrip().lower()
    return b"<urlset" in head or b"<sitemapindex" in head


def sitemap_urls(fetched: Fetched, *, depth: int = 0) -> list[str]:
    """Page URLs listed by a sitemap, following sitemap indexes (two levels at most)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(fetched.data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise FetchError(f"the sitemap is not valid XML: {exc}") from exc
    locations = [el.text.strip() for el in root.iter("{*}loc") if el.text and el.text.strip()]
    if etree.QName(root).localname != "sitemapindex":
        return locations
    if depth >= 2:
        raise FetchError("sitemap indexes nested too deep")
    pages: list[str] = []
    for location in locations:
        pages.extend(sitemap_urls(fetch(location), depth=depth + 1))
    return pages
