"""The output guard: each sentence of an answer is validated as it streams and released only once it passes.

Fixes are applied where defined (invented citations dropped, markup stripped, personal data and secrets
redacted, banned words removed, links to other sites taken out); a sentence that asks for secrets or repeats
orders planted in the knowledge base is withheld; a sentence the cited chunks don't support is dropped; a leak
of the system prompt stops the answer altogether.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection

from kb import SearchResult
from kb.embeddings import embedder
from kb.models import Chunk, FlagStatus
from kb.services import kb_state
from supportbot.guards.grounding import MIN_OVERLAP, content_words, is_conversational, words_support
from supportbot.guards.leakage import LeakDetector
from supportbot.guards.links import AllowedLinks, links_find
from supportbot.guards.markup import markup_find
from supportbot.guards.runtime import guard_cached, guard_run
from supportbot.guards.secret_requests import secret_request_find
from supportbot.guards.validators import (
    AllowedLinkHosts,
    CitationsExist,
    Grounded,
    NoContradiction,
    PersonalData,
    PlantedInstructions,
    SafeMarkup,
    SystemPromptLeak,
    WholeWordBanList,
)
from supportbot.pii import pii_find

# A sentence ends at its punctuation, a blank line, or a line break before a list item, heading, quote or table
# row. A single line break inside a sentence (text copied from hard-wrapped sources) does not end it: the halves
# of "Send us your⏎login credentials" would each pass a check the whole sentence fails.
_SENTENCE_END = re.compile(
    r"(?<=[.!?。！？])(?:\s*\[\d+\])*\s+|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*+#>|]|\d+[.)][ \t]|```|~~~))"
)
_MARKER = re.compile(r"\[(\d+)\]")
_LIST_NUMBER = re.compile(r"^\s*\d+[.)]\s*$")


@dataclass
class OutputContext:
    """What the output guard checks sentences against, built once per answer."""

    results: list[SearchResult]
    chunk_vectors: np.ndarray
    leak_detector: LeakDetector
    banned: tuple[str, ...] = ()
    allowed_pii: set[str] = field(default_factory=set)
    events: list[dict] = field(default_factory=list)
    dropped: int = 0
    kept: int = 0
    leak: str = ""
    # Content words of all retrieved chunks, for showing the first words of a sentence before it ends.
    source_words: frozenset[str] = frozenset()
    source_text: str = ""
    # Released sentences, each with its vector (None where words alone showed it supported).
    kept_sentences: list[KeptSentence] = field(default_factory=list)
    # Where the answer may link (supportbot/guards/links.py).
    links: AllowedLinks = field(default_factory=AllowedLinks)
    # A code fence on a line of its own waits for what follows it: an empty block never reaches the visitor.
    held_fence: str = ""
    fence_open: bool = False

    def kept_vectors(self) -> np.ndarray:
        """A vector for every released sentence: those not embedded while streaming, in one batch now."""
        missing = [kept.text for kept in self.kept_sentences if kept.vector is None]
        batch = iter(embedder().embed(missing)) if missing else iter(())
        return np.array([kept.vector if kept.vector is not None else next(batch) for kept in self.kept_sentences])


@dataclass
class KeptSentence:
    text: str
    vector: np.ndarray | None


def output_context(
    *, results: list[SearchResult], protected_prompt: str, banned: tuple[str, ...], link_domains: tuple[str, ...] = ()
) -> OutputContext:
    """What the guard checks an answer's sentences against; `link_domains`: the widget's extra allowed links."""
    # The chunks' stored embeddings: no need to embed the context again for every answer.
    stored = dict(Chunk.objects.filter(pk__in=[r.chunk_id for r in results]).values_list("pk", "embedding"))
    vectors = np.array([np.asarray(stored[r.chunk_id], dtype=np.float32) for r in results if r.chunk_id in stored])
    if len(vectors) != len(results):
        vectors = embedder().embed([r.text for r in results])
    allowed = {r.text[f.start : f.end] for r in results for f in pii_find(r.text)}
    words = frozenset().union(*(content_words(r.text) for r in results))
    source = " ".join(r.text for r in results)
    return OutputContext(
        results,
        vectors,
        LeakDetector(protected_prompt),
        banned,
        allowed,
        source_words=words,
        source_text=source,
        links=answer_links(widget_domains=link_domains),
    )


# The hosts of the public links of documents not in quarantine (a planted article's own front-matter `url`
# must not make its site an allowed one).
_DOCUMENT_HOSTS = """
SELECT DISTINCT lower(substring(url from '^[hH][tT][tT][pP][sS]?://([^/:?#@]+)'))
  FROM kb_document
 WHERE url ~* '^https?://' AND flag_status NOT IN (%s, %s)
"""
# (knowledge-base version, hosts): replaced whole, so a reader in another thread never sees it half written.
_hosts_cache: list[tuple[int, frozenset[str]]] = [(-1, frozenset())]


def answer_links(*, widget_domains: tuple[str, ...] | list[str] = ()) -> AllowedLinks:
    """The knowledge base's own hosts (cached per knowledge-base version), Supportbot's own hosts, and the
    domains KB_ANSWER_LINK_DOMAINS and the widget (Widget.answer_link_domains) allow."""
    version = kb_state().version
    cached_version, hosts = _hosts_cache[0]
    if cached_version != version:
        with connection.cursor() as cursor:
            cursor.execute(_DOCUMENT_HOSTS, [FlagStatus.QUARANTINED, FlagStatus.KEPT])
            hosts = frozenset(row[0] for row in cursor.fetchall() if row[0])
        _hosts_cache[0] = (version, hosts)
    own = {h.lstrip(".") for h in settings.ALLOWED_HOSTS if h not in ("*", "")}
    configured = (*getattr(settings, "KB_ANSWER_LINK_DOMAINS", ()), *widget_domains)
    domains = frozenset(d.strip().lower().lstrip(".") for d in configured if d.strip())
    return AllowedLinks(hosts=hosts | own, domains=domains)


def _fixers(banned: tuple[str, ...]) -> list:
    # detect-secrets (the Secrets validator) costs ~1 ms a call; answers get supportbot.pii's secret patterns
    # through PersonalData instead, and the full scan stays on the visitor's input, where secrets come from.
    return [
        CitationsExist(on_fail="fix"),
        SafeMarkup(on_fail="fix"),
        AllowedLinkHosts(on_fail="fix"),
        PersonalData(on_fail="fix"),
        WholeWordBanList(banned_words=list(banned), on_fail="fix"),
    ]


def _detectors() -> list:
    return [SystemPromptLeak(on_fail="noop"), PlantedInstructions(on_fail="noop"), Grounded(on_fail="noop")]


def sentence_check(sentence: str, context: OutputContext) -> str | None:
    """The sentence as it may be shown, or None when it must not be."""
    # A fence line alone waits for what follows it: an empty block (a small model writes them) never shows.
    sentence, context.held_fence = context.held_fence + sentence, ""
    if (cleaned := _EMPTY_BLOCK.sub("", sentence)) != sentence:
        context.events.append({"validator": "supportbot/empty_code_block", "outcome": "fail", "action": "removed"})
        sentence = cleaned
        if not _MARKER.sub("", sentence).strip():
            return None
    # A fence may come with the citation marker of the sentence before it ("[1]\n\n```").
    if _FENCE_ONLY.match(fence := _MARKER.sub("", sentence)):
        if context.fence_open:
            context.fence_open = False
            return fence
        context.held_fence = fence
        return None
    checked = _sentence_check(sentence, context)
    if checked is not None and (checked.count("```") + checked.count("~~~")) % 2:
        context.fence_open = not context.fence_open
    return checked


_EMPTY_BLOCK = re.compile(r"(?m)^[ \t]*(```|~~~)[\w+-]*[ \t]*\n(?:[ \t]*\n)*[ \t]*\1[ \t]*(?:\n|$)")
_FENCE_ONLY = re.compile(r"^\s*(?:```|~~~)[\w+-]*\s*$")


def _sentence_check(sentence: str, context: OutputContext) -> str | None:
    detect = guard_cached(("output-detect",), _detectors)
    fix = guard_cached(("output-fix", context.banned), lambda: _fixers(context.banned))
    metadata = {
        "citation_count": len(context.results),
        "allowed_pii": context.allowed_pii,
        "allowed_links": context.links,
    }
    fixed = guard_run(fix, sentence, metadata, fixing=True)
    cited = [int(n) - 1 for n in _MARKER.findall(fixed.text) if 0 < int(n) <= len(context.results)]
    indices = cited or list(range(len(context.results)))
    chunk_texts = [context.results[i].text for i in indices]
    plain = _MARKER.sub("", fixed.text)
    # Embedding a sentence is the guard's dearest step; a sentence made of its sources' own words is supported
    # whatever its similarity, so only the others are embedded while the visitor waits.
    lexical = words_support(plain, chunk_texts)
    # "Conversational" also covers text with few words the word rule can count (Korean, Japanese): those are
    # embedded, so the answer's support score still measures them.
    by_words = lexical.supported and not lexical.conversational
    vector = None if by_words else embedder().embed([plain])[0]
    metadata = {
        "leak_detector": context.leak_detector,
        "sentence_vector": vector,
        "chunk_texts": chunk_texts,
        "chunk_vectors": context.chunk_vectors[indices] if len(context.chunk_vectors) else context.chunk_vectors,
    }
    detected = guard_run(detect, fixed.text, metadata, fixing=False)
    context.events += fixed.failures + detected.failures
    if leak := detected.failed("supportbot/system_prompt_leak"):
        leak["action"] = "refused"
        context.leak = leak["detail"]
        return None
    if planted := detected.failed("supportbot/planted_instructions"):
        planted["action"] = "withheld"
        context.dropped += 1
        return None
    if unsupported := detected.failed("supportbot/grounded"):
        unsupported["action"] = "dropped"
        context.dropped += 1
        return None
    headings = " ".join(f"{context.results[i].title} {' '.join(context.results[i].heading_path)}" for i in indices)
    if _contradicts(plain, chunk_texts, headings, context):
        return None
    context.kept += 1
    context.kept_sentences.append(KeptSentence(plain, vector))
    return fixed.text


def _contradicts(plain: str, chunk_texts: list[str], headings: str, context: OutputContext) -> bool:
    """Withhold a sentence that contradicts the chunks it cites (supportbot/guards/contradiction.py); runs only
    on sentences grounding passed, and not on conversational ones ("Would you like to talk to a human?")."""
    mode = settings.GUARD_CONTRADICTION
    if mode == "off" or is_conversational(plain):
        return False
    spec = guard_cached(("output-contradiction",), lambda: [NoContradiction(on_fail="noop")])
    metadata = {
        "chunk_texts": chunk_texts,
        "headings": headings,
        "use_model": mode == "model",
        "threshold": settings.GUARD_CONTRADICTION_THRESHOLD,
        "confirm": settings.GUARD_CONTRADICTION_CONFIRM,
    }
    run = guard_run(spec, plain, metadata, fixing=False)
    context.events += run.failures
    if failed := run.failed("supportbot/contradiction"):
        failed["action"] = "dropped"  # counted like an unsupported sentence (tests/guards/test_false_positives.py)
        context.dropped += 1
        return True
    return False


# Markup and secret-ish words wait for the whole sentence's check; so does anything the checks below would find.
_HOLD = re.compile(r"[<>`\[\]\\*#|{}]|\b(?:key|secret|token|passw\w*|pwd|bearer|canary)\b", re.IGNORECASE)
_SECRETISH = re.compile(
    r"\b(?:card|cvv\w*|cvc\w*|security|one-time|otp|pin|verification|credential\w*|login|ignore|disregard|"
    r"assistant|https?|www)\b|카드|비밀번호|보안\s*코드|인증|무시",
    re.IGNORECASE,
)
# A number can run over several words (010 1234 5678, a card's groups, an IBAN's): a trailing run of words with
# digits waits for the next word without one, so personal data is always judged whole.
_TRAILING_DIGITS = re.compile(r"(?:\S*\d\S*\s+)+$")
_NUMBER = re.compile(r"(?<![\w\[])\d+(?:[.,:]\d+)*(?![\w\]])")


def early_words(pending: str, released: str, context: OutputContext) -> str:
    """The next words of a sentence still streaming that may be shown before it ends ("" for none yet).

    Waiting for whole sentences put a whole sentence of model time between the model's first word and the
    visitor's. Words are let through early only when nothing in the sentence so far could be changed by the
    full check: no markup, personal data or secret, every number and most words from the retrieved chunks, no
    prompt leak, no banned word. The sentence is still checked whole when it ends; if the check then drops or
    changes it, the caller replaces what was shown.
    """
    cut = max(pending.rfind(" "), pending.rfind("\n")) + 1  # complete words only
    candidate = pending[:cut]
    if run := _TRAILING_DIGITS.search(candidate):
        candidate = candidate[: run.start()]
    if len(candidate) <= len(released):
        return ""
    markers = [int(n) for n in _MARKER.findall(candidate)]
    plain = _MARKER.sub("", candidate)
    if any(not 0 < n <= len(context.results) for n in markers) or _HOLD.search(plain) or markup_find(plain):
        return ""
    # Links and requests for secrets wait for the whole sentence's check, and so do the words that start one.
    if links_find(plain) or _SECRETISH.search(plain) or secret_request_find(plain):
        return ""
    if pii_find(plain) or any(n not in context.source_text for n in _NUMBER.findall(plain)):
        return ""
    words = content_words(plain)
    if not words or len(words & context.source_words) < MIN_OVERLAP * len(words):
        return ""
    if context.leak_detector.find(candidate) or _banned(candidate, context.banned):
        return ""
    return candidate[len(released) :]


def _banned(text: str, banned: tuple[str, ...]) -> bool:
    """A banned word or phrase, or the first word of a phrase whose rest may still be on its way."""
    lowered = text.lower()
    firsts = {w.split()[0].lower() for w in banned if w.strip()}
    return any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", lowered) for word in firsts)


class SentenceBuffer:
    """Collects streamed text and hands out complete sentences (with their trailing citation markers)."""

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, text: str) -> list[str]:
        self.pending += text
        sentences, start = [], 0
        while match := _SENTENCE_END.search(self.pending, start):
            candidate = self.pending[: match.end()]
            # "1." of a numbered list or "e.g." is not a sentence of its own.
            if len(candidate.strip()) < 4 or _LIST_NUMBER.match(candidate):
                start = match.end()
                continue
            sentences.append(candidate)
            self.pending, start = self.pending[match.end() :], 0
        return sentences

    def flush(self) -> list[str]:
        rest, self.pending = self.pending, ""
        return [rest] if rest.strip() else []
