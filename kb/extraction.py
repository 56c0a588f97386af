"""Bytes in, clean text and chunks out — or an ExtractionError that says plainly what is wrong with the input.

Markdown keeps its structure (YAML front matter sets title and public URL and is not indexed); HTML pages are
reduced to their main content by trafilatura (no navigation, no footers) as Markdown; PDFs are read page by
page with pypdf; anything else readable is plain text.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import frontmatter
import yaml
from django.conf import settings

from kb.chunking import ChunkDraft, chunk_markdown, chunk_pages, chunk_text
from kb.public_links import public_url

FORMAT_BY_SUFFIX = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
}
FORMAT_BY_CONTENT_TYPE = {
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "text/plain": "text",
}


class ExtractionError(Exception):
    """The input can't become a document; the message is shown per document in the job."""


@dataclass
class Extracted:
    format: str
    title: str
    url: str
    text: str
    chunks: list[ChunkDraft]


def format_for(name: str, content_type: str = "") -> str | None:
    mime = content_type.split(";")[0].strip().lower()
    if mime in FORMAT_BY_CONTENT_TYPE:
        return FORMAT_BY_CONTENT_TYPE[mime]
    return FORMAT_BY_SUFFIX.get(PurePosixPath(name.split("?")[0]).suffix.lower())


def extract(data: bytes, *, name: str, format: str, url: str = "", charset: str | None = None) -> Extracted:
    """Turn one input into a document's text and chunks. `name` is the file name or URL, for the title."""
    check_size(len(data))
    if not data.strip():
        raise ExtractionError("empty: the file has no content")
    if format == "pdf":
        return _extract_pdf(data, name=name, url=url)
    text = _decode(data, charset or (_declared_charset(data) if format == "html" else None))
    if format == "markdown":
        return _extract_markdown(text, name=name, url=url)
    if format == "html":
        return _extract_html(text, name=name, url=url)
    return _finish("text", _title_from_name(name), url, text, chunk_text(text))


def check_size(size: int) -> None:
    limit = settings.KB_MAX_DOCUMENT_BYTES
    if size > limit:
        raise ExtractionError(f"too large: {size:,} bytes, the limit (KB_MAX_DOCUMENT_BYTES) is {limit:,}")


def _decode(data: bytes, charset: str | None) -> str:
    if b"\x00" in data[:8192]:
        raise ExtractionError("binary content: this is not a text document")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if charset:
        try:
            return data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            pass
    raise ExtractionError(
        f"broken encoding: not valid UTF-8 (byte 0x{data[utf8_error.start]:02x} at offset {utf8_error.start})"
        + (f" nor {charset}" if charset else "")
        + "; save the file as UTF-8"
    )


def _declared_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in a <meta> tag, for servers that don't send one."""
    match = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_.:-]+)", data[:4096], re.IGNORECASE)
    return match.group(1).decode("ascii") if match else None


def _extract_markdown(text: str, *, name: str, url: str) -> Extracted:
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise ExtractionError(f"front matter is not valid YAML: {exc}") from exc
    meta = post.metadata if isinstance(post.metadata, dict) else {}
    body = post.content
    title = str(meta.get("title") or _first_heading(body) or _title_from_name(name))
    # Front matter is the author's word: a link that is not http(s) or a path on this site (javascript:, data:)
    # is dropped, and the document is cited by the address it came from or its page on Supportbot.
    declared = public_url(str(meta.get("url") or meta.get("permalink") or ""))
    return _finish("markdown", title, declared or url, body, chunk_markdown(body))


def _extract_html(html: str, *, name: str, url: str) -> Extracted:
    import trafilatura

    markdown = trafilatura.extract(
        html,
        output_format="markdown",
        include_formatting=True,
        include_tables=True,
        # Precision: a page of menus and a footer is "no main text", not a chunk of link labels.
        favor_precision=True,
        url=url or None,
    )
    if not markdown or not markdown.strip():
        raise ExtractionError("no main text found in the HTML page")
    metadata = trafilatura.extract_metadata(html)
    title = (metadata.title if metadata else None) or _first_heading(markdown) or _title_from_name(name)
    return _finish("html", title, url, markdown, chunk_markdown(markdown, anchors=_html_heading_ids(html)))


def _html_heading_ids(html: str) -> dict[str, str]:
    """Heading text → the id a browser can jump to (on the heading or an anchor inside it)."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return {}
    ids: dict[str, str] = {}
    for heading in tree.xpath("//h1|//h2|//h3|//h4|//h5|//h6"):
        target = heading.get("id") or next(
            (a.get("id") or a.get("name") for a in heading.xpath(".//a[@id or @name]")), None
        )
        text = re.sub(r"\s+", " ", heading.text_content()).strip()
        if target and text:
            ids.setdefault(text, target)
    return ids


def _extract_pdf(data: bytes, *, name: str, url: str) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or _title_from_name(name)
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError(f"not a readable PDF: {exc}") from exc
    text = "\n\n".join(pages)
    if not text.strip():
        raise ExtractionError("the PDF has no extractable text (a scan? run OCR on it first)")
    return _finish("pdf", str(title), url, text, chunk_pages(pages))


def _finish(format: str, title: str, url: str, text: str, chunks: list[ChunkDraft]) -> Extracted:
    if not chunks:
        raise ExtractionError("empty: no text left after cleaning")
    return Extracted(format=format, title=title.strip()[:500], url=public_url(url), text=text, chunks=chunks)


def _first_heading(markdown: str) -> str | None:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", markdown, re.MULTILINE)
    return match.group(1) if match else None


def _title_from_name(name: str) -> str:
    stem = PurePosixPath(name.rstrip("/").split("?")[0]).stem or name
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or name
