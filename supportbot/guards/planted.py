"""Planted instructions: text in the knowledge base (or an answer built from it) that gives the assistant orders
or asks visitors for secrets. Used on every chunk at ingestion (kb/injection_scan.py) and on every answer
sentence (the output guard), so what the scan misses the answer still never says.

A help centre quotes attacks and scams to explain them ("for example "ignore your previous instructions"",
"emails saying "confirm your card number""), so a quoted passage in a sentence that says it is an example is
read as a mention, not an order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from supportbot.guards.injection import normalise, planted_instruction_find
from supportbot.guards.secret_requests import secret_request_find

INSTRUCTIONS = "instructions"
SECRETS = "secrets"

_QUOTED = re.compile(r"\"[^\"\n]{2,400}\"|“[^”\n]{2,400}”|«[^»\n]{2,400}»|「[^」\n]{1,400}」|『[^』\n]{1,400}』")
_MENTION = re.compile(
    r"\b(?:for\s+example|for\s+instance|e\.g\.|such\s+as|like|say(?:s|ing)?|said|called|known\s+as|phrases?"
    r"|messages?|sentences?|wording|examples?|attempts?|tries|trying|scam\w*|phish\w*|fraud\w*|pretend\w*)\b"
    r"|예를\s*들어|예:|예시|같은|처럼|라는|이라는|라고|이라고|등의",
    re.IGNORECASE,
)


# Sentences within paragraphs. A line break inside a paragraph is not an end (hard-wrapped Markdown: the halves of
# "Send us your⏎login credentials" are each harmless), unless the next line starts a list item, heading, quote
# or table row. The ingestion scan reads documents by these sentences, and snippets are shown by them.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*+#>|]|\d+[.)][ \t]|```|~~~))")


@dataclass(frozen=True)
class Planted:
    kind: str  # INSTRUCTIONS | SECRETS
    detail: str  # the pattern matched, or what is asked for ("card number")


def planted_find(text: str) -> Planted | None:
    """Orders to the assistant, or a request for secrets, in `text` (a sentence or a few); None when clean."""
    considered = _without_examples(text)
    if matched := planted_instruction_find(considered):
        return Planted(INSTRUCTIONS, matched)
    for candidate in dict.fromkeys([considered, normalise(considered)]):
        if asked := secret_request_find(candidate):
            return Planted(SECRETS, asked)
    return None


def planted_strip(text: str) -> str:
    """The text without its sentences that give orders or ask for secrets, for what a visitor is shown of a
    chunk (a citation's snippet): a released document's planted sentence is never quoted to them."""
    sentences = [s.strip() for s in SENTENCE_END.split(text)]
    return " ".join(s for s in sentences if s and planted_find(s) is None)


def _without_examples(text: str) -> str:
    """The text with its quoted passages blanked out when the text around them says they are examples."""
    if not _QUOTED.search(text):
        return text
    around = _QUOTED.sub(" ", text)
    return around if _MENTION.search(around) else text
