"""Typed readers for settings that come from the environment.

Every value Supportbot reads from the environment goes through one of these, so a bad value fails at start-up
with a message naming the variable instead of misbehaving later. A secret may also be given as `NAME_FILE`,
the path of a file holding it (Docker and systemd credentials work that way).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def network_switches_off() -> None:
    """guardrails-ai and what it imports must never reach the network (README, "Guardrails"): no telemetry, no
    hub inference, no cost-map or model downloads. Called first thing in settings, before anything imports them."""
    for name, value in {
        "OTEL_SDK_DISABLED": "true",
        "GUARDRAILS_RUN_SYNC": "true",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    }.items():
        os.environ.setdefault(name, value)


def _raw(name: str) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {exc}") from exc
    return os.environ.get(name)


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
    return number


def env_float(name: str, default: float) -> float:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_share(name: str, default: float) -> float:
    """A share of a whole: more than 0 and at most 1."""
    share = env_float(name, default)
    if not 0 < share <= 1:
        raise ImproperlyConfigured(f"{name} must be more than 0 and at most 1, got {share}")
    return share


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_json(name: str, default: object = None) -> object:
    """A JSON value (object, list, ...); unset or blank gives `default`."""
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(
            f"{name} must be valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def env_list_checked(name: str, *, check: str) -> list[str]:
    """env_list, each entry passed to the function at dotted path `check` (imported late: settings are loading),
    which raises ValueError for a bad one."""
    from django.utils.module_loading import import_string

    entries = env_list(name, [])
    parse = import_string(check)
    for entry in entries:
        try:
            parse(entry)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {exc}") from exc
    return entries


def env_secret_key(name: str, *, data_dir: Path) -> str:
    """The key from `name`; unset, one generated on the first start and kept (0600) in the data directory."""
    configured = env_str(name)
    if configured:
        return configured
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


# --- The LLM endpoints and their prices (docs/llm-endpoints.md) ---------------------------------------------
def env_llm_prices(name: str) -> dict[str, tuple[float, float]]:
    """`model=input:output,...` in USD per million tokens, for the console's cost chart (unlisted models cost 0)."""
    prices = {}
    for item in env_list(name):
        model, _, pair = item.partition("=")
        try:
            prompt, completion = (float(part) for part in pair.split(":"))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: expected model=input:output per million tokens, got {item!r}") from exc
        prices[model.strip()] = (prompt, completion)
    return prices


_ENDPOINT_KEYS = {"name", "base_url", "api_key", "api_key_env", "model", "region", "weight", "priority"}


def _llm_endpoint(name: str, index: int, item: object, *, default_model: str) -> dict:
    """One entry of LLM_ENDPOINTS, checked and completed; the key comes from the entry or from its api_key_env."""
    where = f"{name}[{index}]"
    if not isinstance(item, dict):
        raise ImproperlyConfigured(f"{where} must be an object, got {item!r}")
    if unknown := set(item) - _ENDPOINT_KEYS:
        raise ImproperlyConfigured(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(_ENDPOINT_KEYS)}")
    if not isinstance(item.get("name"), str) or not item["name"].strip():
        raise ImproperlyConfigured(f"{where} needs a non-empty string name")
    if not str(item.get("base_url", "")).startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{where} needs a base_url starting with http:// or https://")
    if "api_key" in item and "api_key_env" in item:
        raise ImproperlyConfigured(f"{where} gives both api_key and api_key_env; keep one")
    api_key = str(item.get("api_key", ""))
    if "api_key_env" in item:
        api_key = env_str(str(item["api_key_env"]))
        if not api_key:
            raise ImproperlyConfigured(f"{where}: api_key_env names {item['api_key_env']!r}, which is not set")
    weight, priority = item.get("weight", 1), item.get("priority", 0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        raise ImproperlyConfigured(f"{where}: weight must be a number above 0, got {weight!r}")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ImproperlyConfigured(f"{where}: priority must be an integer (lower is tried first), got {priority!r}")
    return {
        "name": item["name"].strip(),
        "base_url": item["base_url"],
        "api_key": api_key,
        "model": str(item.get("model") or default_model),
        "region": str(item.get("region", "")),
        "weight": float(weight),
        "priority": priority,
    }


def env_llm_endpoints(name: str, *, default_model: str) -> list[dict]:
    """LLM_ENDPOINTS: a JSON list of OpenAI-compatible endpoints forming one pool (see docs/llm-endpoints.md)."""
    raw = env_json(name, [])
    if not isinstance(raw, list):
        raise ImproperlyConfigured(f"{name} must be a JSON list of endpoint objects")
    endpoints = [_llm_endpoint(name, index, item, default_model=default_model) for index, item in enumerate(raw)]
    names = [endpoint["name"] for endpoint in endpoints]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ImproperlyConfigured(f"{name}: endpoint names must be unique, repeated: {duplicates}")
    return endpoints
