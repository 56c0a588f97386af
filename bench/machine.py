"""The machine a benchmark runs on: what it is (versions, settings, hashes of the code measured) and who uses its
CPU while timings are taken (this process, its servers, its Postgres, everything else).

On a shared 2-core machine anything else running (tests, another benchmark) shows up directly in latencies, so
each phase records the share of the machine others took, and QuietGate re-measures disturbed groups.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from bench.harness import ROOT, log

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, *, children: bool = True) -> float:
    """CPU seconds of a process (and, with `children`, of its reaped children)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in stat[11 : 15 if children else 13]) / TICK


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (not idle, not waiting for I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


class CpuMeter:
    """CPU time used by other processes than the benchmark and its Postgres server, per phase: processes are
    ours when their command line names the data directory, or they are that Postgres server's children."""

    def __init__(self, data_dir: Path):
        self.marker = str(data_dir)
        self.ncpu = os.cpu_count() or 1

    def _ours(self) -> float:
        total = 0.0
        me = str(os.getpid())
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if proc.name != me and self.marker not in cmdline and "postgres: " not in cmdline:
                    continue
                if "postgres: " in cmdline and not self._is_our_server_child(proc):
                    continue
                total += _proc_cpu(int(proc.name))  # utime stime cutime cstime
            except (OSError, IndexError, ValueError):
                continue
        return total

    def _is_our_server_child(self, proc: Path) -> bool:
        try:
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            parent = (Path("/proc") / ppid / "cmdline").read_bytes().decode(errors="replace")
            return self.marker in parent
        except OSError:
            return False

    def snapshot(self) -> tuple[float, float, float]:
        return time.perf_counter(), _machine_busy(), self._ours()

    def others_share(self, start: tuple[float, float, float]) -> float:
        """Share (0..1) of the machine's CPU capacity used by other processes since `start`."""
        now = self.snapshot()
        wall = now[0] - start[0]
        others = (now[1] - start[1]) - (now[2] - start[2])
        return round(max(0.0, others) / max(wall * self.ncpu, 1e-9), 3)


class QuietGate:
    """Runs a timed group of calls again when other processes took the CPU meanwhile.

    The machine is shared (tests, other benchmarks); a group of timings taken while something else used more
    than `threshold` of the CPUs is thrown away, the gate waits for quiet and measures the group again. The
    total waiting is bounded by `budget_s`; after that groups are kept as measured, and the shares recorded.
    """

    def __init__(self, meter: CpuMeter, *, threshold: float = 0.15, budget_s: float = 300.0):
        self.meter, self.threshold, self.budget = meter, threshold, budget_s
        self.reruns, self.waited, self.kept_shares = 0, 0.0, []

    def run(self, fn):
        while True:
            start = self.meter.snapshot()
            value = fn()
            share = self.meter.others_share(start)
            if share <= self.threshold or self.budget <= 0:
                self.kept_shares.append(share)
                return value
            self.reruns += 1
            self._wait_for_quiet()

    def _wait_for_quiet(self) -> None:
        while self.budget > 0:
            start = self.meter.snapshot()
            time.sleep(2)
            self.budget -= 2
            self.waited += 2
            if self.meter.others_share(start) <= self.threshold:
                return

    def summary(self) -> dict:
        kept = self.kept_shares or [0.0]
        return {
            "threshold": self.threshold,
            "groups": len(self.kept_shares),
            "reruns": self.reruns,
            "waited_s": round(self.waited, 1),
            "budget_left_s": round(max(self.budget, 0), 1),
            "kept_groups_disturbed": sum(s > self.threshold for s in kept),
            "kept_share_mean": round(statistics.mean(kept), 3),
            "kept_share_max": round(max(kept), 3),
        }


def wait_for_idle(meter: CpuMeter, max_wait: float, threshold: float = 0.10) -> float:
    """Timings on a 2-core machine mean little while something else runs: wait (bounded) for quiet."""
    waited, share = 0.0, 1.0
    while True:
        start = meter.snapshot()
        time.sleep(5)
        share = meter.others_share(start)
        if share <= threshold or waited >= max_wait:
            break
        if waited == 0:
            log(f"other processes use {share:.0%} of the CPUs; waiting up to {max_wait:.0f} s for quiet ...")
        waited += 5
    if share > threshold:
        log(f"WARNING: other processes use {share:.0%} of the CPUs: timings will be disturbed")
    return share


class CpuAccount:
    """CPU seconds of this process, the server subprocess, our Postgres (live backends + reaped ones) and others."""

    def __init__(self, data_dir: Path):
        self.pg_pid_file = data_dir / "postgres" / "postmaster.pid"
        self.server_pid: int | None = None

    def _postgres(self) -> float:
        try:
            postmaster = int(self.pg_pid_file.read_text().split()[0])
        except (OSError, ValueError):
            return 0.0
        total = _proc_cpu(postmaster)  # its cutime/cstime hold the backends that have exited
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                        total += _proc_cpu(int(proc.name), children=False)
                except (OSError, ValueError, IndexError):
                    continue
        return total

    def snapshot(self) -> dict:
        return {
            "wall": time.perf_counter(),
            "machine": _machine_busy(),
            "bench": _proc_cpu(os.getpid(), children=False),
            "server": _proc_cpu(self.server_pid) if self.server_pid else 0.0,
            "postgres": self._postgres(),
        }

    @staticmethod
    def since(start: dict, end: dict) -> dict:
        wall = end["wall"] - start["wall"]
        used = {k: end[k] - start[k] for k in ("bench", "server", "postgres")}
        others = max(0.0, end["machine"] - start["machine"] - sum(used.values()))
        capacity = wall * (os.cpu_count() or 1)
        out = {f"{k}_cpu_s": round(v, 2) for k, v in used.items()}
        out["others_cpu_s"] = round(others, 2)
        out["wall_s"] = round(wall, 2)
        out["machine_busy_share"] = round((end["machine"] - start["machine"]) / max(capacity, 1e-9), 3)
        out["others_share"] = round(others / max(capacity, 1e-9), 3)
        return out


def code_fingerprint(files: list[str]) -> dict:
    """Which version of the code the numbers belong to: short hashes of the files that matter."""
    return {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest()[:12] for f in files if (ROOT / f).exists()}


def kb_code_files() -> list[str]:
    files = ["kb/retrieval.py", "kb/services.py", "kb/embeddings.py", "kb/models.py", "supportbot/settings.py"]
    return files + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kb" / "migrations").glob("0*.py"))


def machine_info() -> dict:
    import django
    import onnxruntime
    from django.conf import settings
    from django.db import connection

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        pgvector_version = cursor.fetchone()[0]
        pg_settings = {}
        for name in (
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "max_parallel_workers_per_gather",
            "jit",
            "hnsw.ef_search",
            "hnsw.iterative_scan",
        ):
            cursor.execute(f"SHOW {name}")
            pg_settings[name] = cursor.fetchone()[0]
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "code_sha256": code_fingerprint(kb_code_files()),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu,
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgres": pg_version,
        "pgvector": pgvector_version,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "postgres_settings": pg_settings,
        "app_settings": {
            name: getattr(settings, name)
            for name in (
                "KB_EMBEDDING_BACKEND",
                "KB_EMBEDDING_MODEL",
                "KB_EMBEDDING_DIMENSIONS",
                "KB_EMBEDDING_BATCH_SIZE",
                "KB_EMBEDDING_THREADS",
                "KB_CHUNK_TOKENS",
                "KB_CHUNK_OVERLAP_TOKENS",
                "KB_TEXT_SEARCH_CONFIG",
                "KB_SEARCH_CANDIDATES",
                "KB_RRF_K",
                "KB_HNSW_EF_SEARCH",
            )
        },
    }


def report_banner(title: str, machine: dict, *, width: int, versions: str) -> None:
    """The report's first lines: what ran, when, on what machine and with which versions."""
    log("\n" + "=" * width)
    log(f"{title} — {machine['date']}")
    log(f"{machine['cpu_model']} · {machine['nproc']} CPUs · {machine['memory_gb']} GB · Python {machine['python']} · "
        f"Postgres {machine['postgres']} · pgvector {machine['pgvector']} · {versions}")  # fmt: skip
    log("=" * width)
