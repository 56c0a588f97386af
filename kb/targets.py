"""The one place that decides what an ingestion target may be, and reads the local ones.

A target is a web address (http or https, fetched by kb.fetching through the address-checked client) or a local
path. Who named it decides what it may be:

- OPERATOR: someone who holds the server named it — `manage.py ingest PATH`, a console upload or article, a
  published correction, a re-ingest of a stored document, and `sync` re-reading the sources those remembered.
  A web address or a local path.
- FETCHED: it was found inside fetched content — a sitemap's <loc>, a sitemap index's entries. Only ever a web
  address: a path, a file:// URL or any other scheme is refused before anything is read.

Whoever names it, no local read touches Supportbot's data directory (SUPPORTBOT_DATA_DIR: the secret key, the admin
password, the database, media), except the folders where Supportbot keeps the documents it was given to ingest.
The check is made on the file actually opened (its real path, after every symbolic link), so a link planted in a
documents folder, or swapped in after the check, does not get around it.
"""

from __future__ import annotations

import enum
import os
import stat
from pathlib import Path

from django.conf import settings

from kb.extraction import ExtractionError, check_size
from kb.fetching import FetchError, is_web_address, web_address_check

# The data directory's folders that hold documents to ingest: console uploads and articles
# (supportbot.console.services.uploads_dir / entries_dir) and published corrections (feedback.faq.faq_path).
DOCUMENT_FOLDERS = ("uploads", "kb-entries", "corrections")


class Provenance(enum.StrEnum):
    OPERATOR = "operator"
    FETCHED = "fetched"


class TargetRefused(FetchError):
    """This target may not be read; the message (shown per document in the job) says why."""


def target_check(target: str, *, provenance: Provenance) -> str:
    """'web' or 'local' for a target that may be read; TargetRefused for one that may not."""
    if is_web_address(target):
        web_address_check(target)
        return "web"
    if provenance is Provenance.FETCHED:
        raise TargetRefused(
            "refused: a location found in a fetched document must be an http(s) address; "
            "local files are only read when given on the command line or uploaded in the console"
        )
    return "local"


def local_path_check(path: Path | str, *, named: str | None = None) -> Path:
    """The path with every symbolic link resolved; TargetRefused if that lies in the data directory.

    `named`: the path as the target gave it, when `path` is already where it led (the file opened).
    """
    real = Path(os.path.realpath(path))
    data_dir = Path(os.path.realpath(settings.DATA_DIR))
    documents = any(real.is_relative_to(data_dir / folder) for folder in DOCUMENT_FOLDERS)
    if real.is_relative_to(data_dir) and not documents:
        leads = f"it leads to {real}, " if real != Path(os.path.abspath(named or path)) else ""
        raise TargetRefused(
            f"refused: {leads}inside Supportbot's data directory (SUPPORTBOT_DATA_DIR), which holds its secrets and "
            "database; copy the documents somewhere else to ingest them"
        )
    return real


def local_file_read(path: str) -> bytes:
    """A regular file's bytes, at most KB_MAX_DOCUMENT_BYTES; the data directory is checked on the opened file."""
    # O_NONBLOCK: opening a named pipe must not wait for a writer; it is refused below as not a regular file.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ExtractionError("unreadable: not a regular file")
        local_path_check(_opened_path(fd, path), named=path)
        check_size(info.st_size)
        data = file.read(settings.KB_MAX_DOCUMENT_BYTES + 1)
        check_size(len(data))  # it grew since fstat
        return data


def _opened_path(fd: int, path: str) -> str:
    # Linux names the file behind a descriptor; elsewhere the path resolved now is the best there is.
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return path
