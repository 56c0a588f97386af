"""Who a log line is about: the request id and the conversation id, carried in context variables.

The request middleware sets the request id for each HTTP request; the chat consumer sets both for each websocket
frame. A logging filter copies them onto every record, so the plain and the JSON formats can show them without
any call site passing them along.
"""

from __future__ import annotations

import json
import logging
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
conversation_id_var: ContextVar[str] = ContextVar("conversation_id", default="")


def request_id_new() -> str:
    return uuid.uuid4().hex


class LogContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.conversation_id = conversation_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, conversation_id (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            # Records from handlers without the filter still get the ids of the current context.
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "conversation_id": getattr(record, "conversation_id", None) or conversation_id_var.get(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def logging_config(*, level: str, log_format: str) -> dict:
    """Django's LOGGING: our apps at `level`, everything else at WARNING, one line each (plain or JSON) carrying the
    request and conversation ids."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "supportbot.logs.LogContextFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "supportbot.logs.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {name: {"level": level} for name in ("supportbot", "kb", "feedback")},
    }
