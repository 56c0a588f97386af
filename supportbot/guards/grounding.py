"""Is a sentence of an answer supported by the chunks it cites?

A sentence is supported when it is close in meaning to a cited chunk (cosine similarity with the local
embedding model) or shares most of its content words with one, and every number in it appears in a cited
chunk (changed numbers are the classic hallucination that similarity alone misses). Conversational sentences
("Would you like to talk to a human?") carry no claims and pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MIN_SIMILARITY = 0.45
MIN_OVERLAP = 0.6
_NUMBER = re.compile(r"(?<![\w\[])\d+(?:[.,:]\d+)*(?![\w\]])")
_MARKER = re.compile(r"\[\d+\]")
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset(
    re.findall(
        r"\w+",
        "the and for are but not you your with this that from have has had was were will would can could "
        "should there their them they then than what when where which who how why all any our its into about "
        "also just more most some such only very may might must use used using does did done been being here",
    )
)
_CONVERSATIONAL = re.compile(
    r"\b(talk to a human|an agent|would you like|let me know|i couldn't find|i could not find|i'm not sure|"
    r"i am not sure|happy to help|hope this helps|sorry)\b",
    re.IGNORECASE,
)


@dataclass
class Support:
    supported: bool
    similarity: float
    overlap: float
    missing_numbers: list[str]
    conversational: bool = False


def content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _STOP


def is_conversational(sentence: str) -> bool:
    return bool(_CONVERSATIONAL.search(sentence)) or len(content_words(sentence)) < 3


def words_support(sentence: str, chunks: list[str]) -> Support:
    """The verdict on words alone (conversational, or most content words from one chunk, numbers included).
    When it is "supported", the embedding similarity cannot change it."""
    return sentence_support(sentence, None, chunks, np.zeros((0, 1), dtype=np.float32))


def sentence_support(sentence: str, vector: np.ndarray | None, chunks: list[str], vectors: np.ndarray) -> Support:
    plain = _MARKER.sub("", sentence)
    if is_conversational(plain) and not _NUMBER.search(plain):
        return Support(True, 1.0, 1.0, [], conversational=True)
    if not chunks:
        return Support(False, 0.0, 0.0, _NUMBER.findall(plain))
    similarity = float((vectors @ vector).max()) if vector is not None and len(vectors) else 0.0
    words = content_words(plain)
    overlap = max(len(words & content_words(chunk)) / len(words) for chunk in chunks) if words else 1.0
    source = " ".join(chunks)
    missing = [n for n in _NUMBER.findall(plain) if n not in source]
    supported = (similarity >= MIN_SIMILARITY or overlap >= MIN_OVERLAP) and not missing
    return Support(supported, round(similarity, 3), round(overlap, 3), missing)
