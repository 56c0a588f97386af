"""Signed widget session tokens: the widget asks POST /api/widget/session for one, then opens the websocket
with `&token=...`.

A token is bound to the widget key, the page's origin and the visitor id, and is good for
WIDGET_TOKEN_MAX_AGE_SECONDS after it was issued (the widget fetches a fresh one for every connect). It is signed
with the secret key (django.core.signing), so nobody can make one without asking the server, and the server only
issues one to an origin the widget allows.
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.core import signing

_SALT = "supportbot.chat.widget-session"
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class TokenError(Exception):
    """The websocket's token is missing or does not fit this connection; `code` goes into the error frame."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def visitor_id_clean(visitor_id: str) -> str:
    """The visitor's own id when it is well-formed, else a fresh one."""
    return visitor_id if _VISITOR_ID.match(visitor_id or "") else secrets.token_urlsafe(16)


def session_token_sign(*, widget_key: str, origin: str, visitor_id: str) -> str:
    """A token for this widget, page origin and visitor. Callers check the origin is allowed first."""
    return signing.dumps({"k": widget_key, "o": _normal(origin), "v": visitor_id}, salt=_SALT, compress=False)


def session_token_check(token: str, *, widget_key: str, origin: str, visitor_id: str) -> None:
    """Raise TokenError unless `token` was issued recently for exactly this widget, origin and visitor."""
    if not token:
        raise TokenError("token_missing", "connect with a session token from /api/widget/session")
    try:
        claims = signing.loads(token, salt=_SALT, max_age=settings.WIDGET_TOKEN_MAX_AGE_SECONDS)
    except signing.SignatureExpired as exc:
        raise TokenError("token_expired", "the session token has expired; ask for a new one") from exc
    except signing.BadSignature as exc:
        raise TokenError("token_invalid", "the session token is not valid") from exc
    if not isinstance(claims, dict) or claims.get("k") != widget_key:
        raise TokenError("token_wrong_widget", "the session token was issued for another widget")
    if claims.get("o") != _normal(origin):
        raise TokenError("token_wrong_origin", "the session token was issued for another website")
    if claims.get("v") != visitor_id:
        raise TokenError("token_wrong_visitor", "the session token was issued for another visitor")


def _normal(origin: str) -> str:
    return origin.rstrip("/").lower()
