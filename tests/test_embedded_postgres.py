"""The embedded Postgres a fresh clone runs on: only Supportbot's own user may connect, its socket is private
whatever the data path, and a server left behind by a killed `make run` is adopted and stopped by the next one."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.live_server import _free_port

ROOT = Path(__file__).resolve().parents[1]
_PROBE = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "supportbot.settings"
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
    methods = sorted(row[0] for row in cursor.fetchall())
    cursor.execute("SHOW unix_socket_directories")
    socket_dir = cursor.fetchone()[0]
    cursor.execute("SHOW listen_addresses")
    listen = cursor.fetchone()[0]
mode = os.stat(socket_dir).st_mode
print(json.dumps({"methods": methods, "socket_dir": socket_dir, "mode": mode, "listen": listen}))
"""


def _env(data_dir: Path) -> dict:
    drop = ("DATABASE_URL", "REDIS_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "SUPPORTBOT_DATA_DIR": str(data_dir), "OTEL_SDK_DISABLED": "true"}


def _probe(data_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=_env(data_dir), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _server_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    return pid if psutil.pid_exists(pid) else None


def test_only_the_owner_connects_over_a_unix_socket_in_a_private_directory(tmp_path):
    # when
    seen = _probe(tmp_path / "data")

    # then: no trust, no TCP, nobody else can reach the socket
    assert seen["methods"] == ["peer"]
    assert seen["listen"] == ""
    assert stat.S_IMODE(seen["mode"]) == 0o700
    # and the server stopped with the last process that used it
    assert _server_pid(tmp_path / "data") is None


def test_a_data_path_too_long_for_a_socket_gets_a_fresh_private_socket_directory(tmp_path):
    # given: a path over the ~107 bytes a unix socket's name may have
    data_dir = tmp_path / ("long-" * 20) / "data"

    # when
    seen = _probe(data_dir)

    # then
    socket_dir = Path(seen["socket_dir"])
    assert not str(socket_dir).startswith(str(data_dir))
    assert stat.S_IMODE(seen["mode"]) == 0o700
    assert not socket_dir.exists()  # removed when the server stopped


def _daphne(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
    return subprocess.Popen(
        [*command, "supportbot.asgi:application"],
        cwd=ROOT,
        env=_env(data_dir),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"server not ready: {log.read_text()[-3000:]}")


def test_the_server_starts_cleanly_after_the_previous_one_was_killed(tmp_path):
    # given: a server that was killed with SIGKILL, leaving its database running
    data_dir, log = tmp_path / "data", tmp_path / "daphne.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    first = _daphne(data_dir, port, log)
    _wait_ready(url, first, log)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    orphan = _server_pid(data_dir)
    assert orphan is not None

    # when: the next `make run` starts
    second = _daphne(data_dir, port, log)
    try:
        _wait_ready(url, second, log)
    finally:
        second.send_signal(signal.SIGINT)  # Ctrl-C in the terminal
        second.wait(timeout=30)

    # then: it used the database, and stopping it stopped the database too (nothing left orphaned)
    deadline = time.monotonic() + 60  # a slow stop on a busy machine is still a stop
    while psutil.pid_exists(orphan) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(orphan) or psutil.Process(orphan).status() == psutil.STATUS_ZOMBIE
    assert _server_pid(data_dir) is None
