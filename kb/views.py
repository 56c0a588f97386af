from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.encoding import iri_to_uri
from django.views.decorators.http import require_GET

import kb
from kb.models import Document
from kb.rendering import render_document
from kb.retrieval import MODES


@require_GET
def search_api(request: HttpRequest) -> JsonResponse:
    query = request.GET.get("q", "").strip()[:1000]
    mode = request.GET.get("mode", "hybrid")
    if mode not in MODES:
        return JsonResponse({"error": f"mode must be one of {', '.join(MODES)}"}, status=400)
    try:
        k = min(max(int(request.GET.get("k", "5")), 1), 50)
    except ValueError:
        return JsonResponse({"error": "k must be an integer"}, status=400)
    results = kb.search(query, k=k, mode=mode)
    return JsonResponse({"query": query, "results": [r.as_dict() for r in results]})


@require_GET
def help_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The demo help centre's own pages, so citation links of the demo knowledge base lead somewhere."""
    url = f"/help/{slug}/"
    # Front matter may give a Unicode path or its percent-encoded form; Django hands the view the Unicode one.
    document = Document.objects.filter(url__in=[url, iri_to_uri(url)]).first()
    if document is None:
        raise Http404("No such help page")
    # The page is in the document's language whatever the visitor's browser prefers, and so is the widget on it.
    language = document.language if document.language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    with translation.override(language):
        response = render(request, "kb/help_page.html", {"document": document, "body": render_document(document)})
    response["Content-Language"] = language
    return response
