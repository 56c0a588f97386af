"""The guards work with no network: a fresh process whose sockets reach only loopback runs them all."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

PROBE = Path(__file__).with_name("offline_probe.py")


def test_guards_run_with_non_loopback_sockets_blocked():
    # when
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    # then
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert report["injection"] == "decline"
    assert report["pii"] == "mail me at [EMAIL]"
    assert report["grounded"].startswith("E4403 means")
    assert report["leak"] is None
    assert "<script" not in report["script"] and "Origins are listed per key" in report["script"]
    assert elapsed < 60  # no waiting on unreachable telemetry or hub endpoints
