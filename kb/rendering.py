"""Documents rendered as safe HTML, with heading ids that match the chunks' anchors."""

from __future__ import annotations

from markdown_it import MarkdownIt

from kb.chunking import heading_plain_text, slugify_heading
from kb.models import Document


def render_document(document: Document) -> str:
    # html=False: raw HTML in a document is shown as text, never executed.
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(document.text)
    seen: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            slug = slugify_heading(heading_plain_text(tokens[index + 1]))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            token.attrSet("id", slug if count == 0 else f"{slug}-{count}")
    return md.renderer.render(tokens, md.options, {})
