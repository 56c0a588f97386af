"""Heading-aware chunking: a document's Markdown is cut at its headings, then each section is split to size.

markdown-it-py finds the headings (so a `#` inside a code block is not one, and setext headings count), and
semantic-text-splitter splits each section at the largest Markdown unit that fits the token budget, with
overlap. Each chunk keeps its heading path and the anchor of its section so a citation can point at it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

from django.conf import settings
from markdown_it import MarkdownIt
from markdown_it.token import Token
from semantic_text_splitter import MarkdownSplitter, TextSplitter
from tokenizers import Tokenizer

from kb.embeddings import _ASSETS


@dataclass
class Section:
    heading_path: list[str]
    anchor: str
    body: str


@dataclass
class ChunkDraft:
    position: int
    text: str
    heading_path: list[str] = field(default_factory=list)
    anchor: str = ""
    token_count: int = 0


@functools.cache
def _tokenizer() -> Tokenizer:
    # The embedding model's own tokenizer, so "200 tokens" means what the model will see.
    tokenizer = Tokenizer.from_file(str(_ASSETS / "minilm-tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@functools.cache
def _splitter(kind: str, max_tokens: int, overlap: int) -> MarkdownSplitter | TextSplitter:
    splitter_class = MarkdownSplitter if kind == "markdown" else TextSplitter
    capacity = (max(1, max_tokens // 2), max_tokens)
    # The splitter needs the overlap strictly below the smallest chunk it may return.
    return splitter_class.from_huggingface_tokenizer(
        _tokenizer(), capacity, overlap=min(overlap, max(0, capacity[0] - 1))
    )


def count_tokens(text: str) -> int:
    return len(_tokenizer().encode(text, add_special_tokens=False).ids)


def slugify_heading(text: str) -> str:
    """GitHub-style anchors (what docs sites and most Markdown renderers generate), Unicode letters kept."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return re.sub(r" ", "-", text)


def split_sections(markdown: str, *, anchors: dict[str, str] | None = None) -> list[Section]:
    """Cut Markdown at its headings. `anchors` maps heading text to a known id (from an HTML page)."""
    lines = markdown.splitlines()
    headings = _headings(markdown)
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    seen_slugs: dict[str, int] = {}
    current_path: list[str] = []
    current_anchor = ""
    body_start = 0
    for level, text, start, end in headings:
        sections.append(Section(list(current_path), current_anchor, "\n".join(lines[body_start:start])))
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
        current_path = [t for _, t in stack]
        current_anchor = _anchor_for(text, anchors, seen_slugs)
        body_start = end
    sections.append(Section(list(current_path), current_anchor, "\n".join(lines[body_start:])))
    return [s for s in sections if s.body.strip()]


def _headings(markdown: str) -> list[tuple[int, str, int, int]]:
    tokens = MarkdownIt("commonmark").parse(markdown)
    found = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            inline = tokens[index + 1]
            text = heading_plain_text(inline)
            if text:
                found.append((int(token.tag[1]), text, token.map[0], token.map[1]))
    return found


def heading_plain_text(inline: Token) -> str:
    """A heading's words without markup: "## The `ingest` command" → "The ingest command"."""
    parts = [child.content for child in inline.children or [] if child.type in ("text", "code_inline")]
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _anchor_for(text: str, anchors: dict[str, str] | None, seen: dict[str, int]) -> str:
    if anchors and text in anchors:
        return anchors[text]
    slug = slugify_heading(text)
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def chunk_markdown(
    markdown: str,
    *,
    anchors: dict[str, str] | None = None,
    max_tokens: int | None = None,
    overlap: int | None = None,
) -> list[ChunkDraft]:
    """Chunks of at most `max_tokens` tokens (settings by default), never crossing a heading."""
    return _chunk_sections(split_sections(markdown, anchors=anchors), "markdown", max_tokens, overlap)


def chunk_pages(pages: list[str], *, max_tokens: int | None = None, overlap: int | None = None) -> list[ChunkDraft]:
    """Plain-text pages (a PDF): each page is a section, its anchor the `#page=N` that PDF viewers follow."""
    sections = [Section([f"Page {n}"], f"page={n}", text) for n, text in enumerate(pages, start=1) if text.strip()]
    return _chunk_sections(sections, "text", max_tokens, overlap)


def chunk_text(text: str, *, max_tokens: int | None = None, overlap: int | None = None) -> list[ChunkDraft]:
    return _chunk_sections([Section([], "", text)] if text.strip() else [], "text", max_tokens, overlap)


def _chunk_sections(
    sections: list[Section], kind: str, max_tokens: int | None, overlap: int | None
) -> list[ChunkDraft]:
    size = max_tokens or settings.KB_CHUNK_TOKENS
    splitter = _splitter(kind, size, settings.KB_CHUNK_OVERLAP_TOKENS if overlap is None else overlap)
    drafts: list[ChunkDraft] = []
    for section in sections:
        for piece in splitter.chunks(section.body):
            if piece.strip():
                drafts.append(ChunkDraft(len(drafts), piece, section.heading_path, section.anchor, count_tokens(piece)))
    return drafts
