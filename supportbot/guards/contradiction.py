"""Does a sentence of an answer contradict the passages it cites?

Word overlap and embedding similarity (grounding.py) pass "The server is available on Windows." against "native
Windows is not supported": the words are the passage's own and the meaning is close. This check runs on the
sentences grounding let through that are not the passage's own words, in two steps:

1. Rules, on the passage clause the sentence restates (the clauses sharing most of its words, two at least):
   - negation flip: the sentence says it without a negation ("not", "no", "never", "cannot", "without",
     "n't", "rarely", ...) and every best-matching clause says it with one, or the other way round;
   - antonym swap: the sentence says "easier", "wide", "disabled", ... where those clauses say "harder",
     "narrow", "enabled" (a short list of pairs that help centres use);
   - a platform or a versioned name (Windows, macOS, WSL2, MD5, v4, ...) that no cited passage names.
   "Supported", "available", "works", "runs" and "compatible" count as one word, so a sentence about Windows
   being available meets the passage's clause about Windows not being supported.
2. A local NLI model (nli_model.py): the sentence is withheld when its "not backed" margin against every cited
   passage is at least GUARD_CONTRADICTION_THRESHOLD, chosen on the development split of
   supportbot/evaluation/contradictions/. English (Latin-script) sentences only: the model is English.

Numbers that are not in the passages are grounding's to catch (grounding.py), before this runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from supportbot.guards.nli_model import not_backed_margins

_MARKER = re.compile(r"\[\d+\]")
_CLAUSE_END = re.compile(r"(?<=[.!?;:])\s+|\n+|\s[*•]\s|\s-\s|,\s+(?:but|while|whereas)\s+")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_TOKEN = re.compile(r"[^\W_]+(?:[.'’][^\W_]+)*", re.UNICODE)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|neither|nor|cannot|without|rarely|seldom|hardly|unsupported|unavailable|"
    r"incompatible)\b|n[’']t\b",
    re.IGNORECASE,
)
_SUPPORT = frozenset(
    re.findall(
        r"\S+",
        "support supports supported available availability work works working run runs running compatible "
        "compatibility",
    )
)
_STOP = frozenset(
    re.findall(
        r"\S+",
        "the and for are but you your with this that from have has had was were will would can could should "
        "there their them they then than what when where which who how why all any our its into about also "
        "just more most some such only very may might must use used using does did done been being here not "
        "no never none nothing neither nor cannot without rarely seldom hardly don doesn didn isn aren wasn "
        "weren won can't",
    )
)
_ANTONYMS = {
    "easier": "harder",
    "easy": "hard",
    "faster": "slower",
    "fast": "slow",
    "narrow": "wide",
    "enabled": "disabled",
    "enable": "disable",
    "required": "optional",
    "minimum": "maximum",
    "least": "most",
    "before": "after",
    "earlier": "later",
    "older": "newer",
    "allowed": "forbidden",
    "public": "private",
    "frequently": "rarely",
    "often": "rarely",
    "increase": "decrease",
    "free": "paid",
    "inside": "outside",
    "included": "excluded",
    "always": "sometimes",
}
_ANTONYMS |= {b: a for a, b in list(_ANTONYMS.items())}
_PLATFORMS = frozenset(
    re.findall(
        r"\S+",
        "windows macos mac osx linux ubuntu debian ios android wsl wsl2 docker kubernetes chrome firefox "
        "safari edge iphone ipad x86 arm64 aarch64 amd64",
    )
)
_VERSIONED = re.compile(r"^(?=.*\d)(?=.*[^\W\d_])[^\W_]+$", re.UNICODE)  # MD5, SHA256, v4, WSL2 (not 3.11)
_LATIN = re.compile(r"[A-Za-z]")
_MARKUP = re.compile(r"[*_`#>|]+|^\s*(?:[-+]|\d+[.)])\s+", re.MULTILINE)


@dataclass(frozen=True)
class Contradiction:
    kind: str  # negation | antonym | unnamed term | number | model
    detail: str
    passage: str = ""  # the passage holding the clause a rule matched (the model confirms against it)


def contradiction_find(
    *,
    sentence: str,
    passages: list[str],
    headings: str = "",
    use_model: bool = True,
    threshold: float = 4.75,
    confirm: float = 4.0,
) -> Contradiction | None:
    """How `sentence` contradicts `passages` (the chunks it cites), or None when nothing shows it does.
    `headings`: the passages' titles and headings, where names and numbers also count as the passages' own
    (a chunk under "## E4403" need not repeat the code).

    A name or number the passages don't have decides alone. A negation flip or an antonym is a suspicion the
    model must confirm (margin >= `confirm`): a passage clause can hold a negation the sentence's point is not
    about ("it won't return at once, but keeps looking"). With no model only names and numbers decide; with the
    model, on non-Latin text (which it does not read) the rules decide.
    """
    plain = " ".join(_MARKER.sub("", sentence).split())
    if not plain or not passages or _verbatim(plain, passages):
        return None
    if certain := _names_and_numbers(plain, [*passages, headings]):
        return certain
    if not use_model:
        # Without the model a negation flip or antonym stays a suspicion: alone, the rules dropped 11% of faithful
        # paraphrases on the test split ("not on the list" for "refused"), more than they are worth.
        return None
    suspicion = _rules(plain, passages)
    if not _is_latin(plain):
        return suspicion
    if suspicion:
        margin = not_backed_margins(pairs=[(_premise(plain, suspicion.passage), plain)])[0]
        if margin >= confirm:
            return Contradiction(suspicion.kind, f"{suspicion.detail} (NLI margin {margin:.2f})")
    margin = min(not_backed_margins(pairs=[(_premise(plain, p), plain) for p in passages]))
    if margin >= threshold:
        return Contradiction("model", f"not backed by any cited passage (NLI margin {margin:.2f})")
    return None


def _names_and_numbers(plain: str, passages: list[str]) -> Contradiction | None:
    source = " ".join(passages).lower()
    unnamed = [t for t in _TOKEN.findall(plain) if _is_name(t) and t.lower() not in source]
    if unnamed:
        return Contradiction("unnamed term", f"names what the passages don't: {', '.join(unnamed)}")
    # Whole numbers only: "50" is not in "over 500" (grounding's substring test lets it through).
    theirs = set(_NUMBER.findall(source))
    changed = [n for n in _NUMBER.findall(plain) if n not in theirs]
    if changed:
        return Contradiction("number", f"numbers the passages don't have: {', '.join(changed)}")
    return None


def _rules(plain: str, passages: list[str]) -> Contradiction | None:
    words = _keys(plain)
    # A sentence about Windows restates a clause about Windows, not "the server is available at :8000" elsewhere.
    names = {t.lower() for t in _TOKEN.findall(plain) if _is_name(t)}
    aligned = _aligned(words, passages, names)
    if not aligned:
        return None
    negated = bool(_NEGATION.search(plain))
    if all(bool(_NEGATION.search(clause)) != negated for clause, _ in aligned):
        clause, passage = aligned[0]
        return Contradiction("negation", f"the passage says the opposite: {clause[:160]}", passage)
    for clause, passage in aligned:
        theirs = _keys(clause)
        swapped = [w for w in words if _ANTONYMS.get(w) in theirs and w not in theirs]
        if swapped:
            pairs = ", ".join(f"{w}/{_ANTONYMS[w]}" for w in swapped)
            return Contradiction("antonym", f"{pairs} against the passage: {clause[:160]}", passage)
    return None


def _aligned(words: set[str], passages: list[str], names: set[str]) -> list[tuple[str, str]]:
    """The passage clauses the sentence restates: those sharing the most of its words (two at least), and those
    sharing one fewer, so that a clause that agrees with the sentence is never outvoted by one word. When the
    sentence names a platform or versioned name, clauses naming it come first (a heading naming it alone does
    not count: then every clause is looked at)."""
    clauses = [(c, p) for p in passages for c in _CLAUSE_END.split(p) if c and c.strip()]
    naming = [(c, p) for c, p in clauses if any(name in c.lower() for name in names)]
    return _best_clauses(words, naming) or _best_clauses(words, clauses)


def _best_clauses(words: set[str], clauses: list[tuple[str, str]]) -> list[tuple[str, str]]:
    scored = [(len(words & _keys(c)), c, p) for c, p in clauses]
    best = max((n for n, _, _ in scored), default=0)
    if best < 2:
        return []
    return [(c, p) for n, c, p in sorted(scored, key=lambda s: -s[0]) if n >= max(2, best - 1)]


def _keys(text: str) -> set[str]:
    out = set()
    for token in _TOKEN.findall(text.lower()):
        if token in _SUPPORT:
            out.add("<support>")
        elif len(token) >= 3 and token not in _STOP:
            out.add(token[:-1] if token.endswith("s") and len(token) > 4 else token)
    return out


def _is_name(token: str) -> bool:
    lowered = token.lower()
    return lowered in _PLATFORMS or bool(_VERSIONED.match(token))


def _verbatim(plain: str, passages: list[str]) -> bool:
    """The sentence is the passage's own text (as the offline answerer quotes it: markup and wrapping aside)."""
    needle = _flat(plain).rstrip(".!?。 ")
    return bool(needle) and any(needle in _flat(p) for p in passages)


def _flat(text: str) -> str:
    return " ".join(_MARKUP.sub(" ", text).split()).lower()


def _is_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(bool(_LATIN.match(c)) for c in letters) >= 0.8 * len(letters)


def _premise(sentence: str, passage: str) -> str:
    """The passage, or where it is long (the model reads 160 tokens) the clauses around the best match."""
    if len(passage.split()) <= 90:
        return passage
    clauses = [c for c in _CLAUSE_END.split(passage) if c and c.strip()]
    words = _keys(sentence)
    best = max(range(len(clauses)), key=lambda i: len(words & _keys(clauses[i])))
    return " ".join(clauses[max(0, best - 1) : best + 2])
