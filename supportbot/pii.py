"""Finding and redacting personal data in free text, with deterministic regular expressions.

Every pattern that could also match an ordinary number is confirmed by a checksum (cards: Luhn, IBANs: mod-97,
Korean resident and business registration numbers: their check digits) or by its shape (a phone number has a
trunk or country prefix and at least nine digits, or is a Korean 15xx/16xx/18xx number; an SSN has its dashes).
Years, dates, prices, order numbers and version strings are left alone, so redacted text stays useful. Shared by
the feedback exports and anything else that writes visitors' words somewhere they should not be.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

PLACEHOLDERS = {
    "SECRET": "[SECRET]",
    "EMAIL": "[EMAIL]",
    "IBAN": "[IBAN]",
    "NATIONAL_ID": "[NATIONAL_ID]",
    "BUSINESS_ID": "[BUSINESS_ID]",
    "CARD": "[CARD]",
    "PHONE": "[PHONE]",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


_SECRETS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL),
    re.compile(r"(?<![\w-])sk-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"(?<!\w)[rsp]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    re.compile(r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
    re.compile(r"(?<!\w)xox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),
    re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"\bBearer\s+(?P<v>[A-Za-z0-9._~+/-]{16,}=*)", re.IGNORECASE),
]
# A value after a key-ish name is a secret when it looks random; a password is one whatever it looks like.
_KEYED_TOKEN = re.compile(r"(?i)\b[\w-]*(?:key|secret|token)\b[\"']?\s*[:=]\s*[\"']?(?P<v>[A-Za-z0-9_\-./+=]{16,})")
_PASSWORD = re.compile(r"(?i)\b[\w-]*(?:password|passwd|pwd)\b[\"']?\s*[:=]\s*[\"']?(?P<v>[^\s\"',;]{6,})")
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_KOREAN_RRN = re.compile(r"(?<![\d-])(\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])-([1-8])(\d{6})(?![\d-])")
# Korean business registration number (사업자등록번호): 123-45-67890, confirmed by its check digit. It names a
# sole trader as surely as a person's id does.
_KOREAN_BRN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{5}(?![\d-])")
# Korean nationwide representative numbers (대표번호), 1588-1234: eight digits, so too short for the phone rule.
_KOREAN_REPRESENTATIVE = re.compile(r"(?<![\d.,-])(1(?:5[2-9]\d|6\d\d|8\d\d))-(\d{4})(?![\d-])")
_CARD = re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONES = [
    # International: +CC and groups, 9 to 15 digits (E.164).
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?![\w-])"),
    # Korean mobile (010-1234-5678, also unseparated) and landline (02-123-4567, 031-123-4567), VoIP 070.
    re.compile(r"(?<![\d.,-])01[016789][ .-]?\d{3,4}[ .-]?\d{4}(?![\d-])"),
    re.compile(r"(?<![\d.,-])0(?:2|[3-6][1-5]|70)[ .-]\d{3,4}[ .-]\d{4}(?![\d-])"),
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671.
    re.compile(r"(?<![\w$€£.,-])(?<!\d[ .-])(?:1[-. ]?)?(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w-])"),
    # Other national formats with a trunk 0: 020 7946 0958, 030 12345678, 01 23 45 67 89.
    re.compile(r"(?<![\w$€£.,:/-])(?<!\d[ .-])\(?0\d{1,4}\)?(?:[ .-]\d{2,8}){1,4}(?![\w-]|[.,]\d)"),
]
_DIGIT_OR_AT = re.compile(r"[\d@]")
_DATE_PREFIX = re.compile(r"^\(?\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b")


def pii_find(text: str) -> list[Finding]:
    """Personal data in `text`, in reading order, never overlapping (the surer kind wins a tie)."""
    accepted: list[Finding] = []
    # Every kind but secrets needs a digit or an "@": most text is only scanned for secrets.
    detectors = _DETECTORS if _DIGIT_OR_AT.search(text) else _DETECTORS[:1]
    for detector in detectors:
        for finding in detector(text):
            if not any(finding.start < f.end and f.start < finding.end for f in accepted):
                accepted.append(finding)
    return sorted(accepted, key=lambda f: f.start)


def pii_redact(text: str) -> tuple[str, list[str]]:
    """`text` with each finding replaced by its placeholder ("[EMAIL]", ...), and the kinds found in order."""
    findings = pii_find(text)
    for finding in reversed(findings):
        text = text[: finding.start] + PLACEHOLDERS[finding.kind] + text[finding.end :]
    return text, [f.kind for f in findings]


def _secrets(text: str) -> Iterator[Finding]:
    for pattern in _SECRETS:
        for match in pattern.finditer(text):
            yield _span("SECRET", match)
    for match in _KEYED_TOKEN.finditer(text):
        if _looks_random(match.group("v")):
            yield _span("SECRET", match)
    for match in _PASSWORD.finditer(text):
        yield _span("SECRET", match)


def _span(kind: str, match: re.Match) -> Finding:
    group = "v" if "v" in match.re.groupindex else 0
    return Finding(kind, match.start(group), match.end(group))


def _looks_random(value: str) -> bool:
    """High Shannon entropy and a mix of letters and digits: a token, not a word or a path."""
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.5 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _emails(text: str) -> Iterator[Finding]:
    for match in _EMAIL.finditer(text):
        yield _span("EMAIL", match)


def _ibans(text: str) -> Iterator[Finding]:
    for match in _IBAN.finditer(text):
        # The pattern may run on into following capitalised words: shorten it until the checksum holds.
        raw = match.group(0)
        for end in range(len(raw), 14, -1):
            candidate = raw[:end].rstrip()
            if candidate == raw[:end] and _iban_valid(candidate.replace(" ", "")):
                yield Finding("IBAN", match.start(), match.start() + end)
                break


def _iban_valid(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _national_ids(text: str) -> Iterator[Finding]:
    for match in _SSN.finditer(text):
        yield _span("NATIONAL_ID", match)
    for match in _KOREAN_RRN.finditer(text):
        if _rrn_valid(re.sub(r"\D", "", match.group(0))):
            yield _span("NATIONAL_ID", match)


def _business_ids(text: str) -> Iterator[Finding]:
    for match in _KOREAN_BRN.finditer(text):
        if _brn_valid(match.group(0).replace("-", "")):
            yield _span("BUSINESS_ID", match)


def _brn_valid(digits: str) -> bool:
    """The National Tax Service's check: weights 1,3,7,1,3,7,1,3,5, plus the tens of the ninth digit times 5."""
    weights = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    total = sum(int(d) * w for d, w in zip(digits[:9], weights, strict=True)) + int(digits[8]) * 5 // 10
    return (10 - total % 10) % 10 == int(digits[9])


def _rrn_valid(digits: str) -> bool:
    # The check digit of numbers issued before October 2020; newer numbers don't carry one and are missed.
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    total = sum(int(d) * w for d, w in zip(digits[:12], weights, strict=True))
    return (11 - total % 11) % 10 == int(digits[12])


def _cards(text: str) -> Iterator[Finding]:
    for match in _CARD.finditer(text):
        raw = match.group(0)
        separators = set(re.sub(r"\d", "", raw))
        if len(separators) <= 1 and _luhn_valid(re.sub(r"\D", "", raw)):
            yield _span("CARD", match)


def _luhn_valid(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _phones(text: str) -> Iterator[Finding]:
    for pattern in _PHONES:
        for match in pattern.finditer(text):
            raw = match.group(0)
            digits = sum(c.isdigit() for c in raw)
            if 9 <= digits <= 15 and not _DATE_PREFIX.match(raw):
                yield _span("PHONE", match)
    for match in _KOREAN_REPRESENTATIVE.finditer(text):
        first, second = int(match.group(1)), int(match.group(2))
        # "1800-1850" is a span of years, not a number to call.
        if not (1000 <= second <= 2199 and abs(second - first) < 300):
            yield _span("PHONE", match)


_DETECTORS: list[Callable[[str], Iterator[Finding]]] = [
    _secrets,
    _emails,
    _ibans,
    _national_ids,
    _business_ids,
    _cards,
    _phones,
]
