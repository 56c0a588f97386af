"""POST /api/widget/session: the widget's session token, asked for before every websocket connect.

Called cross-origin from the customer's page, so it answers CORS itself: the page's Origin must be one the
widget allows (the same rule as the websocket), and only that origin may read the answer. No cookies are used,
so it needs no CSRF token.

The visitor id in the answer is the server's: the one the widget sent when it was issued for this widget, else a
fresh one (supportbot/chat/tokens.py). Requests are limited per client address and per widget, since each can
mint a new visitor id; over a limit the answer is 429 with Retry-After and a JSON error the widget waits out.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from supportbot.access_rules import WIDGET, access
from supportbot.chat import limits
from supportbot.chat.services import origin_allowed, widget_for_key
from supportbot.chat.tokens import session_token_sign, visitor_id_for
from supportbot.client_address import request_address

_PREFLIGHT_SECONDS = 3600


@csrf_exempt
@access(WIDGET)
def widget_session(request: HttpRequest) -> HttpResponse:
    origin = request.headers.get("Origin", "")
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin, preflight=True)
    if request.method != "POST":
        return _cors(_error(405, "method_not_allowed", "use POST"), origin)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("key"), str) or not body["key"]:
        return _cors(_error(400, "malformed_request", 'send JSON like {"key": "WIDGET_KEY", "visitor": "ID"}'), origin)
    widget = widget_for_key(body["key"])
    if widget is None:
        return _cors(_error(404, "unknown_widget", "no widget has this key"), origin)
    if not origin_allowed(widget, origin=origin, host=request.get_host()):
        return _cors(_error(403, "origin_not_allowed", "this website may not use this widget"), origin)
    refusal = limits.session_take(widget=widget, address=request_address(request))
    if refusal is not None:
        return _cors(_rate_limited(refusal), origin)
    visitor_id, _ = visitor_id_for(widget_key=widget.key, claimed=body.get("visitor"))
    token = session_token_sign(widget_key=widget.key, origin=origin, visitor_id=visitor_id)
    payload = {"token": token, "visitor_id": visitor_id, "expires_in": settings.WIDGET_TOKEN_MAX_AGE_SECONDS}
    response = _cors(JsonResponse(payload), origin)
    response["Cache-Control"] = "no-store"
    return response


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _rate_limited(refusal: limits.Refusal) -> JsonResponse:
    response = JsonResponse(
        {"error": "rate_limited", "scope": refusal.scope, "detail": refusal.detail, "retry_after": refusal.retry_after},
        status=429,
    )
    response["Retry-After"] = str(refusal.retry_after)
    return response


def _cors(response: HttpResponse, origin: str, *, preflight: bool = False) -> HttpResponse:
    # The refusals are readable too, so the widget can tell "not allowed here" from a network failure; a token is
    # only ever issued to an allowed origin.
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
        response["Vary"] = "Origin"
    if preflight:
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = str(_PREFLIGHT_SECONDS)
    return response
