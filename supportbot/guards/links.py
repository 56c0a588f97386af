"""Links in answers go only where the knowledge base itself comes from.

A planted article or a confused model can send visitors to a look-alike refund page. An answer may link to the
hosts of the knowledge base's own documents, to Supportbot's own hosts (help pages and relative links), to
domains an admin allows (KB_ANSWER_LINK_DOMAINS, subdomains included) and to the documentation-only domains of
RFC 2606 (example.com, .org, .net), which no one can register. Any other URL, Markdown link or bare domain is
taken out of the sentence; a Markdown link keeps its label. Email addresses count as links to their domain
(support@acme.com belongs to help.acme.com's knowledge base).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_RESERVED = ("example.com", "example.org", "example.net")
# Bare domains are recognised by a top-level domain that file names don't use: "manage.py", "widget.js" and
# "billing.md" are files, "refunds-help.com" is a site.
_TLDS = (
    "com|net|org|info|biz|io|co|app|dev|ai|me|us|uk|de|fr|es|it|nl|eu|ca|au|kr|jp|cn|ru|in|br|xyz|top|site|online"
    "|shop|store|link|click|live|tech|cloud|page|support|help|finance|bank|pay|money|online|example|test|zip|mov"
)
_HOST = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^()\s>]+(?:\([^()\s]*\))?)>?(?:\s+\"[^\"]*\")?\s*\)")
_URL = re.compile(r"<?\b(?:https?|ftp)://[^\s<>()\[\]\"'`]+>?|<?//[a-z0-9.-]+\.[a-z]{2,}[^\s<>()\[\]\"'`]*>?", re.I)
_EMAIL = re.compile(r"(?<![\w.+-])(?:mailto:)?[\w.+-]+@((?:[a-z0-9-]+\.)+[a-z]{2,})\b", re.I)
_BARE = re.compile(rf"(?<![@\w./-])(?:www\.)?{_HOST}(?:{_TLDS})\b(?![\w-])(?:[/:][^\s<>()\[\]\"'`]*)?", re.I)
_TRAILING = ".,;:!?)'\""


@dataclass(frozen=True)
class AllowedLinks:
    """Where answers may link: exact hosts (the knowledge base's own), and domains with their subdomains."""

    hosts: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    def allows(self, host: str) -> bool:
        host = _plain(host)
        if not host or host in {_plain(h) for h in self.hosts}:
            return True
        return any(host == d or host.endswith("." + d) for d in (*self.domains, *_RESERVED))

    def allows_mail(self, domain: str) -> bool:
        """An address at a site's parent domain is that site's (help.acme.com's support@acme.com)."""
        domain = _plain(domain)
        return self.allows(domain) or any(_plain(h).endswith("." + domain) for h in self.hosts)


def link_host(link: str) -> str:
    """The host a link points at; "" for a relative link (Supportbot's own pages) or a mailto: address."""
    link = link.strip().strip("<>")
    if link.lower().startswith("mailto:"):
        return link.rsplit("@", 1)[-1].split("?")[0].lower() if "@" in link else ""
    if link.lower().startswith(("tel:", "#", "/")) and not link.startswith("//"):
        return ""
    if "://" not in link and not link.startswith("//"):
        link = "//" + link
    try:
        return (urlsplit(link).hostname or "").lower()
    except ValueError:
        return link  # an unparseable host is not one we allow


def links_strip(text: str, allowed: AllowedLinks) -> tuple[str, list[str]]:
    """The text without links to hosts `allowed` doesn't allow, and the hosts removed."""
    removed: list[str] = []

    def markdown(match: re.Match) -> str:
        target = match.group(2)
        host = link_host(target)
        if allowed.allows_mail(host) if target.lower().startswith("mailto:") else allowed.allows(host):
            return match.group(0)
        removed.append(host)
        return match.group(1)

    def bare(match: re.Match) -> str:
        found = match.group(0)
        wrapped = found.startswith("<") and found.endswith(">")  # an autolink: <https://…>
        link = found[1:-1] if wrapped else found.lstrip("<").rstrip(_TRAILING)
        host = link_host(link)
        if allowed.allows(host):
            return found
        removed.append(host)
        return "" if wrapped else found[len(found.lstrip("<").rstrip(_TRAILING)) + found.startswith("<") :]

    def mail(match: re.Match) -> str:
        if allowed.allows_mail(match.group(1)):
            return match.group(0)
        removed.append(match.group(1).lower())
        return ""

    # Markdown links are resolved first; the URLs they allowed are then protected from the bare-URL pass.
    kept: list[str] = []

    def hold(match: re.Match) -> str:
        result = markdown(match)
        if result == match.group(0):
            kept.append(result)
            return f"\x00{len(kept) - 1}\x00"
        return result

    text = _MARKDOWN_LINK.sub(hold, text)
    text = _BARE.sub(bare, _EMAIL.sub(mail, _URL.sub(bare, text)))
    text = re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)
    if removed:
        text = _tidy(text)
    return text, removed


def links_find(text: str) -> bool:
    """Whether the text holds anything that looks like a link (a sentence with one waits for its whole check)."""
    return bool(_MARKDOWN_LINK.search(text) or _URL.search(text) or _BARE.search(text) or _EMAIL.search(text))


def _plain(host: str) -> str:
    host = host.lower().rstrip(".")
    return host.removeprefix("www.")


def _tidy(text: str) -> str:
    text = re.sub(r"\(\s*\)|<\s*>", "", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"\s+([.,;:!?])", r"\1", text).strip() + (" " if text.endswith(" ") else "")
