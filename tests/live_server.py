"""A real Supportbot server for browser tests: daphne in a subprocess, on its own database.

Its own database keeps the browser's world (the demo knowledge base, the demo widget, a staff user) apart from
the per-test databases of the other tests, and a subprocess avoids the websocket hangs of a forked server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "supportbot_browser"


@dataclass
class LiveServer:
    url: str
    env: dict
    process: subprocess.Popen
    dsn: str
    log: Path
    extra: dict = field(default_factory=dict)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


def _conninfo(name: str) -> tuple[str, str]:
    db = settings.DATABASES["default"]
    host, port, user, password = db["HOST"], db.get("PORT") or "", db["USER"], db.get("PASSWORD") or ""
    url = f"postgresql://{quote(user)}:{quote(password)}@{quote(host, safe='')}{':' + str(port) if port else ''}/{name}"
    dsn = f"host={host} user={user} dbname={name}" + (f" port={port}" if port else "")
    return url, dsn + (f" password={password}" if password else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live_server_start(tmp: Path) -> LiveServer:
    _, admin_dsn = _conninfo("postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    url, dsn = _conninfo(DB_NAME)
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DJANGO_", "REDIS_"))},
        "DATABASE_URL": url,
        "SUPPORTBOT_DATA_DIR": str(tmp),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PORT": str(port),
        "OTEL_SDK_DISABLED": "true",
        # Every browser test's visitor comes from 127.0.0.1 to this one server for the whole session: per-address
        # limits would count them all as one visitor. The per-visitor and per-widget limits stay on.
        "CHAT_RATE_IP_MESSAGES_PER_MINUTE": "0",
        "CHAT_RATE_IP_CONVERSATIONS_PER_HOUR": "0",
        # limits: every page load asks for a session token, all of them from 127.0.0.1 too.
        "CHAT_RATE_IP_SESSIONS_PER_MINUTE": "0",
    }
    server = LiveServer(f"http://127.0.0.1:{port}", env, None, dsn, tmp / "server.log")  # type: ignore[arg-type]
    server.manage("migrate", "--noinput", "-v0")
    server.extra["setup"] = server.manage("demo_setup")
    log = server.log.open("w")
    server.process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "supportbot.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _wait_until_up(server)
    return server


def _wait_until_up(server: LiveServer) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("the live server exited:\n" + server.log.read_text())
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError("the live server did not come up:\n" + server.log.read_text())


def live_server_stop(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
    _, admin_dsn = _conninfo("postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
