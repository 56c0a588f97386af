"""What every benchmark shares: its command line, its own data directory, latency summaries, the results file,
and starting and stopping the daphne servers the load benchmarks talk to.

Benchmarks run as modules from the repository root (`.venv/bin/python -m bench.<name>`), so they import the app
and each other as packages, without editing `sys.path`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def log(message: str = "") -> None:
    print(message, flush=True)


def command_announce(module: str) -> str:
    """Print the command that reproduces this run first, so every output starts with it; returns it."""
    command = shlex.join([".venv/bin/python", "-m", module, *sys.argv[1:]])
    log("$ " + command)
    return command


def args_parse(parser: argparse.ArgumentParser, *, quick: dict) -> argparse.Namespace:
    """Parse the command line; `--quick` swaps in the small defaults in `quick` (options given still win).

    A quick run checks that the benchmark works end to end in a minute or two; its numbers mean nothing, and
    its results go to the data directory instead of bench/results/.
    """
    parser.add_argument(
        "--quick", action="store_true", help="a small run that checks the benchmark works; numbers mean nothing"
    )
    if parser.parse_known_args()[0].quick:
        parser.set_defaults(**quick, json_out="")
    return parser.parse_args()


def stats_ms(values_ms: list[float]) -> dict:
    """Latency summary of values already in milliseconds."""
    if not len(values_ms):
        return {"n": 0}
    ms = np.array(values_ms, dtype=float)
    return {
        "n": int(ms.size),
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p95": round(float(np.percentile(ms, 95)), 2),
        "p99": round(float(np.percentile(ms, 99)), 2),
        "mean": round(float(ms.mean()), 2),
        "max": round(float(ms.max()), 2),
    }


def seconds_to_ms(samples: list[float]) -> list[float]:
    return [s * 1000.0 for s in samples]


def fmt_stats(s: dict) -> str:
    return f"p50 {s['p50']:7.2f}  p95 {s['p95']:7.2f}  p99 {s['p99']:7.2f}  mean {s['mean']:7.2f} ms"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def data_dir_prepare(path: str, *, ignored: tuple[str, ...] = ("DATABASE_URL", "REDIS_URL")) -> Path:
    """Wipe and create the benchmark's own data directory, never the development data, and detach the process
    from any configured database, Redis or LLM (`ignored`): a benchmark never measures, or fills, real data."""
    data_dir = Path(path).expanduser().resolve()
    if data_dir == (ROOT / ".data").resolve() or data_dir in (ROOT, Path("/"), Path.home()):
        sys.exit(f"refusing to use {data_dir} as the benchmark data directory (it is wiped)")
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, 0)
            sys.exit(f"a Postgres (pid {pid}) is still running on {data_dir}; stop it or pick another --data-dir")
        except ProcessLookupError:
            pass
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    for name in ignored:
        if os.environ.pop(name, None):
            log(f"note: {name} is set; ignored (the benchmark uses its own embedded Postgres and no real services)")
    os.environ["DJANGO_SETTINGS_MODULE"] = "supportbot.settings"
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    return data_dir


def database_migrate() -> None:
    """Set Django up and migrate the benchmark database with the product's own migrations."""
    import django

    django.setup()
    from django.core.management import call_command

    # kb first: its first migration creates the pgvector extension other apps' vector columns need.
    call_command("migrate", "kb", verbosity=0)
    call_command("migrate", verbosity=0)


def results_write(result: dict, json_out: str, data_dir: Path, *, name: str) -> Path:
    """The results as JSON: to `json_out` (relative to the repository), or into the data directory when empty."""
    out = Path(json_out) if json_out else data_dir / f"{name}.json"
    out = out if out.is_absolute() else ROOT / out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return out


# --- daphne servers for the load benchmarks -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(*, database_url: str, data_dir: Path, llm_base_url: str, port: int, **extra: str) -> dict:
    """The environment of a benchmark's daphne: its database, the fake LLM, and no per-address limits."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DJANGO_", "REDIS_", "LLM_"))},
        "DATABASE_URL": database_url,
        "SUPPORTBOT_DATA_DIR": str(data_dir / "server"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "OPENAI_BASE_URL": llm_base_url,
        "OPENAI_API_KEY": "bench-key",
        "LLM_MODEL": "fake-model",
        "OTEL_SDK_DISABLED": "true",
        "PORT": str(port),
        # Every simulated visitor comes from 127.0.0.1: the per-address limits would stop the load itself.
        "CHAT_RATE_IP_MESSAGES_PER_MINUTE": "0",
        "CHAT_RATE_IP_CONVERSATIONS_PER_HOUR": "0",
        # ... and so would the session-token limit and the address's share of the token budget.
        "CHAT_RATE_IP_SESSIONS_PER_MINUTE": "0",
        "CHAT_ADDRESS_BUDGET_SHARE": "1",
        **extra,
    }


def daphne_start(env: dict, port: int, log_path: Path, *, timeout: float) -> tuple[subprocess.Popen, Path]:
    """A daphne process on `port` with `env`, once its /healthz answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "supportbot.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited:\n" + log_path.read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process, log_path
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not come up:\n" + log_path.read_text())


def server_stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
