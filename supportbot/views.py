from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kb.models import Document


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    documents = Document.objects.filter(url__startswith="/help/").only("title", "url").order_by("title")
    return render(request, "home.html", {"documents": documents})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok", "database": "ok"})
    except Exception as exc:  # noqa: BLE001 — a health check reports failures, it does not raise them
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
