"""Reading web pages and sitemaps for the knowledge base, politely, with limits, and only from public addresses.

Every connection goes through kb.safe_http, which connects only to addresses kb.address_policy allows (checked on
the address actually connected to). Redirects are followed here, at most KB_FETCH_MAX_REDIRECTS, each one checked
again: http(s) only, and a new connection is a new address check. The body is read raw and decoded a piece at a
time (kb.content_decoding), so the size limit applies to the decoded bytes and reading stops right there.
Conditional requests (ETag / Last-Modified) let `sync` skip pages that did not change.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from kb.address_policy import AddressRefused
from kb.content_decoding import PIECE, DecodingError, decoded
from kb.extraction import ExtractionError, check_size
from kb.safe_http import checked_client

USER_AGENT = "Supportbot/0.1 (knowledge base sync)"
WEB_SCHEMES = ("http", "https")


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
    # identity: an honest server sends the body as is; a dishonest one still meets kb.content_decoding's limits.
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    return checked_client(timeout=settings.KB_FETCH_TIMEOUT_SECONDS, headers=headers)


def is_web_address(target: str) -> bool:
    return urlsplit(target.strip()).scheme.lower() in WEB_SCHEMES


def web_address_check(url: str) -> None:
    """FetchError unless `url` is an http(s) address naming a host."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in WEB_SCHEMES:
        scheme = f"the {parts.scheme}: scheme" if parts.scheme else "a local path"
        raise FetchError(f"refused: {scheme}; only http and https addresses are fetched")
    if not parts.hostname:
        raise FetchError("refused: the address names no host")


def fetch(url: str, *, etag: str = "", last_modified: str = "") -> Fetched:
    web_address_check(url)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with _response(url, headers) as response:
            if response.status_code == 304:
                return Fetched(url=url, etag=etag, last_modified=last_modified, not_modified=True)
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
            return Fetched(
                url=str(response.url),
                data=_read_capped(response),
                content_type=response.headers.get("content-type", ""),
                charset=response.charset_encoding,
                etag=response.headers.get("etag", ""),
                last_modified=response.headers.get("last-modified", ""),
            )
    except AddressRefused as exc:
        raise FetchError(str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out after {settings.KB_FETCH_TIMEOUT_SECONDS:g} s") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(f"could not fetch: {exc}") from exc
    except (ExtractionError, DecodingError) as exc:
        raise FetchError(str(exc)) from exc


@contextlib.contextmanager
def _response(url: str, headers: dict[str, str]) -> Iterator[httpx.Response]:
    """The response at the end of the redirects (body not read yet); each hop is checked like the first."""
    client = _client()
    request = client.build_request("GET", url, headers=headers)
    for hop in range(settings.KB_FETCH_MAX_REDIRECTS + 1):
        try:
            response = client.send(request, stream=True)
        except AddressRefused as exc:
            raise AddressRefused(f"redirected to {request.url}: {exc}" if hop else str(exc)) from None
        if response.next_request is None:
            break
        response.close()
        if hop == settings.KB_FETCH_MAX_REDIRECTS:
            raise FetchError(f"more than {settings.KB_FETCH_MAX_REDIRECTS} redirects (KB_FETCH_MAX_REDIRECTS)")
        request = response.next_request
        try:
            web_address_check(str(request.url))
        except FetchError as exc:
            raise FetchError(f"redirected to {request.url}: {exc}") from None
    try:
        yield response
    finally:
        response.close()


def _read_capped(response: httpx.Response) -> bytes:
    """The decoded body; ExtractionError as soon as the raw or the decoded bytes pass KB_MAX_DOCUMENT_BYTES."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit():
        check_size(int(declared))
    received = 0

    def raw() -> Iterator[bytes]:
        nonlocal received
        for part in response.iter_raw(PIECE):
            received += len(part)
            check_size(received)  # compressed bytes that decode to little still cost a download
            yield part

    buffer = bytearray()
    for piece in decoded(raw(), content_encoding=response.headers.get("content-encoding", "")):
        buffer.extend(piece)
        check_size(len(buffer))
    return bytes(buffer)


def is_sitemap(fetched: Fetched) -> bool:
    head = fetched.data[:2048].lstrip().lower()
    return b"<urlset" in head or b"<sitemapindex" in head


def sitemap_urls(fetched: Fetched, *, depth: int = 0) -> list[str]:
    """Locations listed by a sitemap, following sitemap indexes (two levels at most).

    The locations are as the sitemap wrote them: what each may be is decided when it is read (kb.targets).
    """
    from lxml import etree

    # No entity is expanded and nothing is loaded from anywhere; a document type is refused outright, since a
    # sitemap never needs one and entities (billion laughs, external files) live only there.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(fetched.data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise FetchError(f"the sitemap is not valid XML: {exc}") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise FetchError("the sitemap declares a document type (<!DOCTYPE>): refused, sitemaps have none")
    locations = [el.text.strip() for el in root.iter("{*}loc") if el.text and el.text.strip()]
    if etree.QName(root).localname != "sitemapindex":
        return locations
    if depth >= 2:
        raise FetchError("sitemap indexes nested too deep")
    pages: list[str] = []
    for location in locations:
        pages.extend(sitemap_urls(fetch(location), depth=depth + 1))
    return pages
