"""Running Guards and recording what they did.

Building a Guard costs tens of milliseconds, so built Guards are kept, per configuration, in a pool that
threads borrow from for one validation at a time (a Guard's history is not safe to share between threads at
once). A pool only grows to the number of validations that ran at the same time, where one Guard per thread
had every new worker thread build its own set while the first visitors waited.

Each stage has two Guards: one whose validators only detect (on_fail "noop": the caller decides to block, drop
or flag) and one whose validators repair (on_fail "fix") — mixing both in one Guard makes guardrails return no
output at all when a detector fails.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from guardrails import Guard
from guardrails.settings import settings as guardrails_settings
from guardrails.validator_base import Validator

# Even with OpenTelemetry off, guardrails serialises every step for a trace span: about half of a validation's
# cost. Nothing here consumes those spans.
guardrails_settings.disable_tracing = True


@dataclass
class GuardRun:
    text: str
    events: list[dict] = field(default_factory=list)

    def failed(self, validator: str) -> dict | None:
        return next((e for e in self.events if e["validator"] == validator and e["outcome"] == "fail"), None)

    @property
    def failures(self) -> list[dict]:
        return [e for e in self.events if e["outcome"] == "fail"]


@dataclass(frozen=True)
class GuardSpec:
    """A Guard configuration: its key and how to build its validators."""

    key: tuple
    build: Callable[[], list[Validator]]


_pools: dict[tuple, queue.SimpleQueue] = {}
_pools_lock = threading.Lock()


def guard_cached(key: tuple, build: Callable[[], list[Validator]]) -> GuardSpec:
    return GuardSpec(key, build)


def _lease(spec: GuardSpec) -> Guard:
    with _pools_lock:
        pool = _pools.setdefault(spec.key, queue.SimpleQueue())
    try:
        return pool.get_nowait()
    except queue.Empty:
        guard = Guard().use(*spec.build())
        guard.configure(allow_metrics_collection=False)
        return guard


def guard_run(spec: GuardSpec, text: str, metadata: dict, *, fixing: bool) -> GuardRun:
    """Validate `text`; with `fixing`, return the repaired text. Events name each validator and its outcome."""
    guard = _lease(spec)
    try:
        return _run(guard, text, metadata, fixing=fixing)
    finally:
        _pools[spec.key].put(guard)


def _run(guard: Guard, text: str, metadata: dict, *, fixing: bool) -> GuardRun:
    started = time.perf_counter()
    outcome = guard.validate(text, metadata=metadata)
    logs = guard.history.last.iterations.last.outputs.validator_logs
    events = []
    for log in logs:
        result = log.validation_result
        failed = result is not None and result.outcome == "fail"
        events.append(
            {
                "validator": log.registered_name,
                "outcome": "fail" if failed else "pass",
                "action": ("fixed" if fixing else "flagged") if failed else "none",
                "detail": getattr(result, "error_message", "") if failed else "",
                "latency_ms": round((log.end_time - log.start_time).total_seconds() * 1000, 3)
                if log.end_time and log.start_time
                else None,
            }
        )
    if events:
        events[-1]["guard_ms"] = round((time.perf_counter() - started) * 1000, 3)
    fixed = outcome.validated_output if fixing and isinstance(outcome.validated_output, str) else text
    return GuardRun(fixed, events)
