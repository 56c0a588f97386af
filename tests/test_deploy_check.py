"""`manage.py check --deploy` passes with production settings, and still catches an insecure configuration."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def _database_url() -> str:
    # The test run's Postgres: settings then need not start an embedded server of their own.
    db = settings.DATABASES["default"]
    return f"postgresql://{quote(db['USER'])}:@/{db['NAME']}?host={quote(db['HOST'], safe='/')}"


def _check_deploy(tmp_path: Path, _fail_level: str = "WARNING", **env: str) -> subprocess.CompletedProcess:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "REDIS_", "METRICS_", "LOG_", "TRUSTED_PROXIES"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", _fail_level],
        cwd=ROOT,
        env={**base, "SUPPORTBOT_DATA_DIR": str(data_dir), "DATABASE_URL": _database_url(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_SECURE": "true",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "support.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://support.example.com",
    "DJANGO_BEHIND_PROXY": "true",
    "TRUSTED_PROXIES": "10.0.0.0/8",
    "METRICS_TOKEN": secrets.token_urlsafe(32),
}


def test_production_settings_pass_the_deploy_check_without_warnings(tmp_path):
    done = _check_deploy(tmp_path, **PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "WARNINGS" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("change", "warnings"),
    [
        pytest.param(
            {"DJANGO_SECURE": ""},
            ["security.W004", "security.W008", "security.W012", "security.W016"],
            id="local-http-settings",
        ),
        pytest.param({"DJANGO_SECRET_KEY": "short"}, ["security.W009"], id="weak-secret-key"),
        pytest.param({"DJANGO_DEBUG": "true"}, ["security.W018"], id="debug-on"),
        pytest.param({"METRICS_TOKEN": ""}, ["supportbot.E001"], id="metrics-open"),
        pytest.param({"TRUSTED_PROXIES": ""}, ["supportbot.W002"], id="proxy-not-trusted"),
    ],
)
def test_the_deploy_check_catches_what_production_must_not_have(tmp_path, change, warnings):
    # Local `make run` (DJANGO_SECURE unset) keeps plain http://127.0.0.1 working: no redirect, no secure-only
    # cookies, no HSTS, which is exactly what the check reports.
    env = {k: v for k, v in {**PRODUCTION, **change}.items() if v}
    done = _check_deploy(tmp_path, **env)
    assert done.returncode != 0
    for warning in warnings:
        assert warning in done.stdout + done.stderr


def test_secure_mode_without_a_metrics_token_fails_the_check_at_its_default_level(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "METRICS_TOKEN"}
    done = _check_deploy(tmp_path, **env, _fail_level="ERROR")
    assert done.returncode != 0
    assert "supportbot.E001" in done.stderr + done.stdout
