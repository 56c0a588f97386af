"""Per-request context: an X-Request-ID for the logs and the response, and the request counted for /metrics."""

from __future__ import annotations

import re

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from supportbot.logs import request_id_new, request_id_var
from supportbot.metrics import HTTP_REQUESTS

# A proxy's request id is kept when it looks like one; anything else could forge or bloat log lines.
_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _begin(request: HttpRequest):
    incoming = request.headers.get("X-Request-ID", "")
    request.request_id = incoming if _GOOD_REQUEST_ID.match(incoming) else request_id_new()
    return request_id_var.set(request.request_id)


def _finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    response["X-Request-ID"] = request.request_id
    method = request.method if request.method in _METHODS else "other"  # label values stay a fixed set
    HTTP_REQUESTS.labels(method=method, status=str(response.status_code)).inc()
    return response


@sync_and_async_middleware
def request_context_middleware(get_response):
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            token = _begin(request)
            try:
                return _finish(request, await get_response(request))
            finally:
                request_id_var.reset(token)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            token = _begin(request)
            try:
                return _finish(request, get_response(request))
            finally:
                request_id_var.reset(token)

    return middleware
