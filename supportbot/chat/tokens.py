"""Signed widget session tokens: the widget asks POST /api/widget/session for one, then opens the websocket
with `&token=...`.

A token is bound to the widget key, the page's origin and the visitor id, and is good for
WIDGET_TOKEN_MAX_AGE_SECONDS after it was issued (the widget fetches a fresh one for every connect). It is signed
with the secret key (django.core.signing), so nobody can make one without asking the server, and the server only
issues one to an origin the widget allows.

Visitor ids are issued by the server too: `<random>.<signature>`, signed for one widget key. The endpoint honours
the id a widget sends only when its signature verifies for that widget, and otherwise issues a fresh one, so a
token is only ever bound to a server-issued id. The websocket needs no second check: its token is the proof. A
client that wants a new identity (to get round the per-visitor limits) has to ask for a token, which is limited
per address. An id from before signing (plain random, kept in the browser) is replaced on the next connect and
that visitor starts a fresh conversation: an unsigned id proves nothing, so its conversations cannot be resumed.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing

from supportbot.errors import DomainError

_SALT = "supportbot.chat.widget-session"
_VISITOR_SALT = "supportbot.chat.visitor-id"
_VISITOR_ID_MAX = 64  # Conversation.visitor_id and Rating.visitor_id; an issued id is 60 characters


class TokenError(DomainError):
    """The websocket's token is missing or does not fit this connection; `code` goes into the error frame."""


def visitor_id_issue(*, widget_key: str) -> str:
    """A new visitor id for this widget: 16 random characters, a dot and their signature."""
    return _visitor_signer(widget_key).sign(secrets.token_urlsafe(12))


def visitor_id_verified(visitor_id: object, *, widget_key: str) -> bool:
    """Whether this server issued `visitor_id` for this widget."""
    if not isinstance(visitor_id, str) or not 0 < len(visitor_id) <= _VISITOR_ID_MAX:
        return False
    try:
        _visitor_signer(widget_key).unsign(visitor_id)
    except signing.BadSignature:
        return False
    return True


def visitor_id_for(*, widget_key: str, claimed: object) -> tuple[str, bool]:
    """The visitor's id: the one they sent when it verifies for this widget, else a fresh one (and True)."""
    if visitor_id_verified(claimed, widget_key=widget_key):
        return str(claimed), False
    return visitor_id_issue(widget_key=widget_key), True


def _visitor_signer(widget_key: str) -> signing.Signer:
    # Salted with the widget key: an id issued for one widget is not a visitor of another. "." keeps the id
    # URL-safe (it travels in the websocket's query string).
    return signing.Signer(salt=f"{_VISITOR_SALT}:{widget_key}", sep=".")


def session_token_sign(*, widget_key: str, origin: str, visitor_id: str) -> str:
    """A token for this widget, page origin and visitor. Callers check the origin is allowed first."""
    return signing.dumps({"k": widget_key, "o": _normal(origin), "v": visitor_id}, salt=_SALT, compress=False)


def session_token_check(token: str, *, widget_key: str, origin: str, visitor_id: str = "") -> str:
    """The visitor id `token` was issued for; TokenError unless it was issued recently for exactly this widget and
    origin (and for `visitor_id`, when the client names one). The caller takes the visitor from here, never from
    the client, whose words only have to agree with it."""
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
    issued_to = claims.get("v")
    if not isinstance(issued_to, str) or not issued_to or (visitor_id and issued_to != visitor_id):
        raise TokenError("token_wrong_visitor", "the session token was issued for another visitor")
    return issued_to


def _normal(origin: str) -> str:
    return origin.rstrip("/").lower()
