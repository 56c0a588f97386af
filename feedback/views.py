from __future__ import annotations

import json
import uuid
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from feedback.csat import csat_record
from feedback.datasets import ExportFilters
from feedback.models import ExportJob
from feedback.rating_trends import rating_trends
from feedback.services import FeedbackError, feedback_record
from supportbot.access_rules import AGENT, WIDGET, access
from supportbot.chat.models import Conversation
from supportbot.chat.services import origin_allowed, widget_for_key
from supportbot.chat.tokens import TokenError, session_token_check
from supportbot.console.access import admin_required


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"type": "error", "code": code, "detail": detail}, status=status)


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


@csrf_exempt
@access(WIDGET)
def feedback_api(request: HttpRequest) -> HttpResponse:
    """POST /api/feedback: a rating from a client other than the widget's websocket, checked like the socket."""
    origin = request.headers.get("Origin", "")
    if refused := _not_a_post(request, origin):
        return refused
    return _feedback(request, origin)


def _not_a_post(request: HttpRequest, origin: str) -> HttpResponse | None:
    """The answer to anything but a POST: a CORS preflight's (it only lets the browser send the request; the POST
    itself is checked against the widget), or 405."""
    if request.method == "OPTIONS":
        response = _cors(HttpResponse(status=204), origin)
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        return response
    if request.method != "POST":
        return _error(405, "method_not_allowed", "use POST with a JSON body")
    return None


def _feedback(request: HttpRequest, origin: str) -> HttpResponse:
    try:
        body = json.loads(request.body)
    except ValueError:
        return _error(400, "malformed_json", "the body must be a JSON object")
    if not isinstance(body, dict):
        return _error(400, "malformed_json", "the body must be a JSON object")
    fields = {name: body.get(name) for name in ("key", "conversation_id", "visitor_id", "rating")}
    if not all(isinstance(value, str) and value for value in fields.values()):
        return _error(400, "missing_field", "key, conversation_id, visitor_id and rating must be non-empty strings")
    message_id = body.get("message_id")
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        return _error(400, "malformed_field", "message_id must be an integer")
    reason, comment = body.get("reason") or "", body.get("comment") or ""
    if not isinstance(reason, str) or not isinstance(comment, str):
        return _error(400, "malformed_field", "reason and comment must be strings")
    widget = widget_for_key(fields["key"])
    if widget is None:
        return _error(404, "unknown_widget", "no widget has this key")
    if not origin_allowed(widget, origin=origin, host=request.get_host()):
        return _error(403, "origin_not_allowed", "this website may not use this widget")
    # From here on the page's origin is one the widget allows: it may read the answer.
    if _visitors_conversation(widget, fields["conversation_id"], fields["visitor_id"]) is None:
        return _cors(_error(404, "unknown_conversation", "no conversation with that id for this visitor"), origin)
    try:
        rating = feedback_record(
            message_id=message_id,
            conversation_id=fields["conversation_id"],
            visitor_id=fields["visitor_id"],
            rating=fields["rating"],
            reason=reason,
            comment=comment,
        )
    except FeedbackError as exc:
        return _cors(_error(404 if exc.code == "unknown_message" else 400, exc.code, exc.detail), origin)
    saved = {"type": "feedback_saved", "message_id": message_id, "rating": rating.value, "reason": rating.reason}
    return _cors(JsonResponse(saved), origin)


def _visitors_conversation(widget, conversation_id: str, visitor_id: str) -> Conversation | None:
    try:
        uuid.UUID(conversation_id)
    except ValueError:
        return None
    return Conversation.objects.filter(pk=conversation_id, widget=widget, visitor_id=visitor_id).first()


# --- CSAT (issue #15): the widget's end-of-conversation survey ---------------------------------------------------
@csrf_exempt
@access(WIDGET)
def csat_api(request: HttpRequest) -> HttpResponse:
    """POST /api/csat: the visitor's 1–5 rating of their conversation, checked like the websocket (a widget key, a
    page the widget allows, a session token issued to this visitor there, and the visitor's own conversation)."""
    origin = request.headers.get("Origin", "")
    if refused := _not_a_post(request, origin):
        return refused
    try:
        body = json.loads(request.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _error(400, "malformed_json", "the body must be a JSON object")
    return _csat(request, origin, body)


def _csat(request: HttpRequest, origin: str, body: dict) -> HttpResponse:
    fields = {name: body.get(name) for name in ("key", "conversation_id", "visitor_id", "token")}
    if not all(isinstance(value, str) and value for value in fields.values()):
        return _error(400, "missing_field", "key, conversation_id, visitor_id and token must be non-empty strings")
    widget = widget_for_key(fields["key"])
    if widget is None:
        return _error(404, "unknown_widget", "no widget has this key")
    if not origin_allowed(widget, origin=origin, host=request.get_host()):
        return _error(403, "origin_not_allowed", "this website may not use this widget")
    try:
        session_token_check(fields["token"], widget_key=widget.key, origin=origin, visitor_id=fields["visitor_id"])
    except TokenError as exc:
        return _cors(_error(403, exc.code, exc.detail), origin)
    conversation = _visitors_conversation(widget, fields["conversation_id"], fields["visitor_id"])
    if conversation is None:
        return _cors(_error(404, "unknown_conversation", "no conversation with that id for this visitor"), origin)
    try:
        rating = csat_record(
            conversation=conversation,
            visitor_id=fields["visitor_id"],
            score=body.get("score"),
            comment=body.get("comment") or "",
        )
    except FeedbackError as exc:
        return _cors(_error(400, exc.code, exc.detail), origin)
    return _cors(JsonResponse({"type": "csat_saved", "score": rating.score}), origin)


# --- end of CSAT --------------------------------------------------------------------------------------------------


def _staff_json(view):
    """Staff only, answered in JSON: 403 for anyone else (a console fetch, not a page to log in from)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not (request.user.is_active and request.user.is_staff):
            return _error(403, "staff_only", "sign in as staff to see feedback analytics")
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@_staff_json
@access(AGENT)
def analytics_json(request: HttpRequest) -> JsonResponse:
    try:
        period = ExportFilters.parse(since=request.GET.get("since", ""), until=request.GET.get("until", ""))
    except ValueError as exc:
        return _error(400, "invalid_date", str(exc).replace("--", ""))
    return JsonResponse(rating_trends(since=period.since, until=period.until))


@require_GET
@admin_required  # exports hold every visitor's words: admins only, like the console's exports page
def export_download(request: HttpRequest, job_id: int) -> FileResponse:
    job = get_object_or_404(ExportJob, pk=job_id, status=ExportJob.Status.SUCCEEDED)
    path = Path(job.path).resolve()
    if not path.is_relative_to((settings.DATA_DIR / "exports").resolve()) or not path.is_file():
        raise Http404("the export file is gone")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
