"""What a target (a file, a folder, a page, a sitemap) expands to: the documents to ingest from it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kb.extraction import FORMAT_BY_SUFFIX
from kb.fetching import Fetched, FetchError, fetch, is_sitemap, is_url, sitemap_urls
from kb.models import Document, Source, chunking_signature


@dataclass
class Candidate:
    """One document to ingest. `prefetched` holds a page already downloaded while expanding its target."""

    uri: str
    source: Source
    prefetched: Fetched | None = None


class TargetError(Exception):
    """The target itself can't be read (missing path, unreachable sitemap): nothing under it is ingested."""


def expand(target: str, *, force: bool = False) -> tuple[Source, list[Candidate]]:
    if is_url(target):
        return _expand_url(target, force=force)
    return _expand_path(target)


def _expand_path(target: str) -> tuple[Source, list[Candidate]]:
    path = Path(target).expanduser().resolve()
    if not path.exists():
        raise TargetError(f"{target}: no such file or folder")
    source, _ = Source.objects.get_or_create(location=str(path), defaults={"kind": Source.Kind.PATH})
    if path.is_file():
        return source, [Candidate(str(path), source)]
    return source, [Candidate(str(file), source) for file in sorted(_document_files(path))]


def _document_files(folder: Path) -> Iterator[Path]:
    for file in folder.rglob("*"):
        hidden = any(part.startswith(".") for part in file.relative_to(folder).parts)
        # Pipes and sockets would block a read forever; broken links stay in, to be reported as unreadable.
        readable = file.is_file() or file.is_symlink()
        if not hidden and file.suffix.lower() in FORMAT_BY_SUFFIX and readable:
            yield file


def _expand_url(target: str, *, force: bool) -> tuple[Source, list[Candidate]]:
    known = None if force else Document.objects.filter(uri=target, chunking=chunking_signature()).first()
    try:
        page = fetch(target, etag=known.etag, last_modified=known.last_modified) if known else fetch(target)
    except FetchError as exc:
        existing = Source.objects.filter(location=target).first()
        if existing and existing.kind == Source.Kind.SITEMAP:
            raise TargetError(f"{target}: {exc}") from exc
        # A single page that fails is a per-document error, reported like any other.
        source, _ = Source.objects.get_or_create(location=target, defaults={"kind": Source.Kind.URL})
        return source, [Candidate(target, source)]
    if is_sitemap(page):
        source, _ = Source.objects.update_or_create(location=target, defaults={"kind": Source.Kind.SITEMAP})
        try:
            urls = sitemap_urls(page)
        except FetchError as exc:
            raise TargetError(f"{target}: {exc}") from exc
        return source, [Candidate(url, source) for url in dict.fromkeys(urls)]
    source, _ = Source.objects.get_or_create(location=target, defaults={"kind": Source.Kind.URL})
    return source, [Candidate(target, source, prefetched=page)]
