"""Which web pages may open each websocket: one origin policy per route (supportbot/routing.py).

Browsers send an `Origin` header with every websocket handshake and attach the cookies of the server being
connected to, so a route that trusts a cookie must also check who is asking, or any page an agent visits could
speak as the agent (cross-site websocket hijacking). Two policies exist, and every websocket route declares one:

- `own_origins`: only Supportbot's own pages. The page's origin must be the handshake's own host (same origin)
  with that host in `ALLOWED_HOSTS`, or be listed in `CSRF_TRUSTED_ORIGINS` (the same list Django's CSRF check
  trusts, for a proxy that rewrites the Host header); with `DJANGO_SECURE` it must be https. Anything else is
  refused at the handshake (HTTP 403). The agent console's socket (/ws/console/) uses it.
- `widget_origins`: customers' pages, anywhere. Nothing is checked here: the chat consumer checks the page's
  origin against the widget's allowed origins and the signed session token bound to that origin
  (supportbot.chat.services.origin_allowed, supportbot.chat.tokens). No cookie is used on that route, so
  `ALLOWED_HOSTS` (which names Supportbot's host, not its customers') has no say in it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from supportbot.chat import chat_metrics

logger = logging.getLogger(__name__)
ASGIApp = Callable[[dict, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[Any]]
OWN, WIDGET = "own", "widget"
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def origin_is_own(origin: str, *, host: str) -> bool:
    """Whether a page at `origin` (the handshake's Origin header) is one of Supportbot's own, for a handshake that
    reached Supportbot with this Host header."""
    parsed = _origin_parts(origin)
    if parsed is None:
        return False
    scheme, netloc = parsed
    if settings.SECURE and scheme != "https":
        return False
    if _trusted(scheme, netloc):
        return True
    origin_host, _ = split_domain_port(netloc)
    # ALLOWED_HOSTS too, not only "same as Host": a rebound DNS name reaches us with a matching Host header.
    return validate_host(origin_host, _allowed_hosts()) and netloc == _normalized_netloc(scheme, host.lower())


def _origin_parts(origin: str) -> tuple[str, str] | None:
    """(scheme, host[:port] without the scheme's default port), lower-cased; None for anything but an http(s)
    origin ("null", empty, malformed)."""
    try:
        parts = urlsplit(origin.strip().lower())
        parts.port  # noqa: B018 — raises ValueError on a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.path not in ("", "/"):
        return None
    return parts.scheme, _normalized_netloc(parts.scheme, parts.netloc)


def _normalized_netloc(scheme: str, netloc: str) -> str:
    return netloc.removesuffix(f":{_DEFAULT_PORTS[scheme]}")


def _trusted(scheme: str, netloc: str) -> bool:
    """CSRF_TRUSTED_ORIGINS, read the way Django's CSRF check reads it: exact origins and `https://*.example.com`."""
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        trusted = urlsplit(entry.strip().lower())
        if trusted.scheme != scheme or not trusted.netloc:
            continue
        trusted_netloc = _normalized_netloc(scheme, trusted.netloc)
        if trusted_netloc == netloc:
            return True
        if trusted_netloc.startswith("*.") and is_same_domain(netloc, trusted_netloc[1:]):
            return True
    return False


def _allowed_hosts() -> list[str]:
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]  # what Django's own Host check allows then
    return list(settings.ALLOWED_HOSTS)


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


class _OwnOriginValidator:
    """ASGI middleware: the wrapped websocket route opens only for Supportbot's own pages (`origin_is_own`)."""

    origin_policy = OWN

    def __init__(self, application: ASGIApp, *, route: str) -> None:
        self.application = application
        self.route = route

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        origin = _header(scope, b"origin")
        if origin_is_own(origin, host=_header(scope, b"host")):
            return await self.application(scope, receive, send)
        logger.warning("websocket %s refused: origin %r is not Supportbot's own", self.route, origin[:200])
        chat_metrics.socket_refused(self.route, "origin_not_allowed")
        return await WebsocketDenier()(scope, receive, send)  # closed before accept: HTTP 403


class _WidgetOrigins:
    """ASGI pass-through that records the route's policy: its consumer checks the widget's allowed origins."""

    origin_policy = WIDGET

    def __init__(self, application: ASGIApp) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        return await self.application(scope, receive, send)


def own_origins(application: ASGIApp, *, route: str) -> ASGIApp:
    """Wrap a websocket route that trusts the session cookie: only Supportbot's own pages may open it."""
    return _OwnOriginValidator(application, route=route)


def widget_origins(application: ASGIApp) -> ASGIApp:
    """Mark a websocket route whose consumer checks the page's origin against a widget's allowed origins."""
    return _WidgetOrigins(application)
