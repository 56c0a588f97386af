from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.encoding import iri_to_uri
from django.views.decorators.http import require_GET

from kb.models import Document
from kb.public_search import SearchRefused, search_public
from kb.quarantine import HELD
from kb.rendering import render_document
from supportbot.access_rules import ANONYMOUS, WIDGET, access
from supportbot.client_address import request_address


@require_GET
@access(WIDGET)
def search_api(request: HttpRequest) -> JsonResponse:
    """GET /api/search?key=WIDGET_KEY&q=...&k=5 from a page the widget allows (kb/public_search.py)."""
    query = request.GET.get("q", "").strip()[:1000]
    try:
        k = int(request.GET.get("k", "5"))
    except ValueError:
        return _cors(JsonResponse({"error": "malformed_request", "detail": "k must be an integer"}, status=400), "")
    origin = _page_origin(request)
    try:
        results = search_public(
            query=query,
            k=k,
            widget_key=request.GET.get("key", ""),
            origin=origin,
            host=request.get_host(),
            address=request_address(request),
        )
    except SearchRefused as refused:
        return _refusal(refused, origin)
    payload = {"query": query, "results": [result.__dict__ for result in results]}
    return _cors(JsonResponse(payload), origin)


def _page_origin(request: HttpRequest) -> str:
    # Browsers send no Origin on a same-origin GET; Sec-Fetch-Site, which page scripts cannot set, says it is one.
    origin = request.headers.get("Origin", "")
    if not origin and request.headers.get("Sec-Fetch-Site") == "same-origin":
        return f"{request.scheme}://{request.get_host()}"
    return origin


def _refusal(refused: SearchRefused, origin: str) -> JsonResponse:
    response = JsonResponse({"error": refused.code, "detail": refused.detail}, status=refused.status)
    if refused.retry_after:
        response["Retry-After"] = str(refused.retry_after)
    # Only a page the widget allows may read why it was refused (a rate limit it should wait out).
    return _cors(response, origin if refused.code not in ("unknown_widget", "origin_not_allowed") else "")


def _cors(response: JsonResponse, origin: str) -> JsonResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@access(ANONYMOUS)
def help_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The demo help centre's own pages, so citation links of the demo knowledge base lead somewhere."""
    url = f"/help/{slug}/"
    # Front matter may give a Unicode path or its percent-encoded form; Django hands the view the Unicode one.
    document = _public_documents().filter(url__in=[url, iri_to_uri(url)]).first()
    if document is None:
        raise Http404("No such help page")
    return _document_response(request, document)


@require_GET
@access(ANONYMOUS)
def document_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A document that has no public URL of its own (an upload, a local file), for its citations to lead to
    (kb/public_links.py): the text visitors may be answered from, never where it was read from."""
    document = _public_documents().filter(pk=pk).first()
    if document is None:
        raise Http404("No such document")
    return _document_response(request, document)


def _public_documents():
    # A document with chunks in quarantine (planted instructions, kb/quarantine.py) is never shown to visitors.
    return Document.objects.exclude(flag_status__in=HELD)


def _document_response(request: HttpRequest, document: Document) -> HttpResponse:
    # The page is in the document's language whatever the visitor's browser prefers, and so is the widget on it.
    language = document.language if document.language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    with translation.override(language):
        response = render(request, "kb/help_page.html", {"document": document, "body": render_document(document)})
    response["Content-Language"] = language
    return response
