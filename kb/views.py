from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
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
    document = Document.objects.filter(url=f"/help/{slug}/").first()
    if document is None:
        raise Http404("No such help page")
    return render(request, "kb/help_page.html", {"document": document, "body": render_document(document)})
