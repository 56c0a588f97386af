from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kb.models import Document
from supportbot.access_rules import ANONYMOUS, access
from supportbot.health import queue_depth_refresh, readiness


@require_GET
@access(ANONYMOUS)
def home(request: HttpRequest, language: str = "en") -> HttpResponse:
    """The demo help centre: English at /, Korean at /ko/ (its own pages, and the widget speaks Korean there)."""
    documents = Document.objects.filter(url__startswith="/help/").only("title", "url").order_by("title")
    if language == "en":
        documents = documents.exclude(url__startswith="/help/ko/")
    else:
        documents = documents.filter(url__startswith=f"/help/{language}/")
    with translation.override(language):
        response = render(request, "home.html", {"documents": documents})
    response["Content-Language"] = language
    return response


@require_GET
@access(ANONYMOUS)
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Nothing else is checked, so a slow database never gets it restarted."""
    return JsonResponse({"status": "ok"})


@require_GET
@access(ANONYMOUS)
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, Redis (when configured) and an LLM endpoint (or the offline answerer)."""
    ready, checks = readiness()
    # Anyone may ask, so the reason a check failed stays in the log: its text can name internal hosts and paths.
    checks = {name: "failed" if result.startswith("failed") else result for name, result in checks.items()}
    if ready:
        return JsonResponse({"status": "ok", "checks": checks})
    failing = [name for name, result in checks.items() if result == "failed"]
    return JsonResponse({"status": "error", "failing": failing, "checks": checks}, status=503)


@require_GET
@access(ANONYMOUS)  # a scraper has no session: METRICS_TOKEN (a bearer token) guards it instead
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; with METRICS_TOKEN set, only for "Authorization: Bearer <token>"."""
    if settings.METRICS_TOKEN:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not constant_time_compare(given.strip(), settings.METRICS_TOKEN):
            response = JsonResponse({"error": "unauthorized", "detail": "a bearer token is required"}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    queue_depth_refresh()
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
