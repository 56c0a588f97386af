"""Fixtures of the evaluation tests. The shared ones (widget, small knowledge base, LLM stand-ins) are in
tests/conftest.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "kb" / "demo"
HYBRID_EVAL = FIXTURES / "hybrid-eval.jsonl"


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write rows as a JSONL file under tmp_path and return its path."""

    def write(rows: list[dict], name: str = "eval.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path

    return write
