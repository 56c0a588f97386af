"""Which of Supportbot's interface languages (settings.LANGUAGES) a visitor is spoken to in.

The widget says which language its page is in (`lang`: its `data-lang`, the page's `<html lang>` or the
browser's); a visitor's own message says more, so a Korean question on an English page is answered in Korean.
Unknown languages fall back to English, as the widget does.
"""

from __future__ import annotations

from django.conf import settings

from kb.language import language_detect

# Latin-script messages this short are too few letters for a reliable guess ("ok thanks" is not Estonian).
MIN_LETTERS_TO_DETECT = 12


def language_supported(code: str | None) -> str:
    """Reduce "ko-KR", "ko_kr" or "KO" to "ko" when Supportbot speaks it; "" otherwise."""
    base = (code or "").strip().replace("_", "-").split("-")[0].lower()
    return base if base in {language for language, _ in settings.LANGUAGES} else ""


def visitor_language(text: str, *, fallback: str = "") -> str:
    """The language to answer `text` in: its own when Supportbot speaks it, else `fallback`, else English."""
    fallback = language_supported(fallback) or settings.LANGUAGE_CODE
    letters = sum(ch.isalpha() for ch in text)
    if not letters:
        return fallback
    detected = language_supported(language_detect(text, default=fallback))
    if detected and (detected != "en" or letters >= MIN_LETTERS_TO_DETECT):
        return detected
    return fallback


def frame_language(frame: dict, *, page: str, spoken: str = "") -> str:
    """The language to handle a widget frame in. `page` is the widget's language (the socket URL's `lang`, or
    the frame's own); a message's language wins, and for frames without text the last message's (`spoken`)."""
    page = language_supported(frame.get("lang") if isinstance(frame.get("lang"), str) else "") or page
    text = frame.get("text")
    if frame.get("type") == "message" and isinstance(text, str) and text.strip():
        return visitor_language(text, fallback=spoken or page)
    return spoken or language_supported(page) or settings.LANGUAGE_CODE
