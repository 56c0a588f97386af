"""What a target (a file, a folder, a page, a sitemap) expands to: the documents to ingest from it.

Job targets are named by operators (kb.targets.Provenance.OPERATOR); the pages a sitemap lists are FETCHED, and
kb.targets refuses any of them that is not an http(s) address when it is read, each as its own document.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kb.extraction import FORMAT_BY_SUFFIX
from kb.fetching import Fetched, FetchError, fetch, is_sitemap, sitemap_urls
from kb.models import Document, Source, chunking_signature
from kb.targets import Provenance, local_path_check, target_check


@dataclass
class Candidate:
    """One document to ingest. `prefetched` holds a page already downloaded while expanding its target.

    Unless it says otherwise, a candidate came from fetched content: a local path then is refused, not read.
    """

    uri: str
    source: Source
    prefetched: Fetched | None = None
    provenance: Provenance = Provenance.FETCHED


class TargetError(Exception):
    """The target itself can't be read (missing path, unreachable sitemap): nothing under it is ingested."""


def expand(target: str, *, force: bool = False) -> tuple[Source, list[Candidate]]:
    """The documents an operator's target (a job target, or a remembered source's location) stands for."""
    try:
        kind = target_check(target, provenance=Provenance.OPERATOR)
        _remembered_kind_check(target, kind)
    except FetchError as exc:
        raise TargetError(f"{target}: {exc}") from exc
    if kind == "web":
        return _expand_url(target, force=force)
    return _expand_path(target)


def _remembered_kind_check(target: str, kind: str) -> None:
    # A source remembered as a page or a sitemap is re-read as one, never as a local path (sync re-reads hourly).
    remembered = Source.objects.filter(location=target).values_list("kind", flat=True).first()
    if kind == "local" and remembered in (Source.Kind.URL, Source.Kind.SITEMAP):
        raise FetchError(f"refused: remembered as a {remembered}, so it must be an http(s) address")


def _expand_path(target: str) -> tuple[Source, list[Candidate]]:
    try:
        path = local_path_check(Path(target).expanduser())
    except FetchError as exc:
        raise TargetError(f"{target}: {exc}") from exc
    if not path.exists():
        raise TargetError(f"{target}: no such file or folder")
    source, _ = Source.objects.get_or_create(location=str(path), defaults={"kind": Source.Kind.PATH})
    if path.is_file():
        return source, [Candidate(str(path), source, provenance=Provenance.OPERATOR)]
    files = sorted(_document_files(path))
    return source, [Candidate(str(file), source, provenance=Provenance.OPERATOR) for file in files]


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
        return source, [Candidate(target, source, provenance=Provenance.OPERATOR)]
    if is_sitemap(page):
        source, _ = Source.objects.update_or_create(location=target, defaults={"kind": Source.Kind.SITEMAP})
        try:
            urls = sitemap_urls(page)
        except FetchError as exc:
            raise TargetError(f"{target}: {exc}") from exc
        return source, [Candidate(url, source, provenance=Provenance.FETCHED) for url in dict.fromkeys(urls)]
    source, _ = Source.objects.get_or_create(location=target, defaults={"kind": Source.Kind.URL})
    return source, [Candidate(target, source, prefetched=page, provenance=Provenance.OPERATOR)]
