"""Which language a text is written in, as an ISO 639-1 code: "en", "ko", "ja", "zh", "de", ...

Korean, Japanese and Chinese are told apart by their scripts (Hangul, kana, Han ideographs): exact, instant,
and reliable even for a question of a few words. Every other language goes to py3langid (a naive Bayes model
over byte n-grams for 97 languages, shipped inside the package, numpy only, offline). Code, inline code and
URLs are removed first: in a Korean help page they are English-looking noise.
"""

from __future__ import annotations

import re

# Enough text to decide; a long document is not read to the end.
SAMPLE_CHARS = 4000
# One Hangul syllable or ideograph carries roughly what three or four Latin letters do, so a Korean question
# with a few English product names in it still counts as Korean.
CJK_WEIGHT = 4

_NOISE = re.compile(r"```.*?```|~~~.*?~~~|`[^`\n]*`|https?://\S+|<[^>\n]+>", re.S)
_LETTER = re.compile(r"[^\W\d_]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def language_detect(text: str, *, default: str = "en") -> str:
    """The main language of `text`; `default` when there is nothing to tell it by (no letters at all)."""
    sample = _NOISE.sub(" ", text[: SAMPLE_CHARS * 2])[:SAMPLE_CHARS]
    letters = len(_LETTER.findall(sample))
    if not letters:
        return default
    return _cjk_language(sample, letters) or _other_language(sample)


def _cjk_language(sample: str, letters: int) -> str | None:
    hangul, kana, han = (len(pattern.findall(sample)) for pattern in (_HANGUL, _KANA, _HAN))
    cjk = hangul + kana + han
    if not cjk or cjk * CJK_WEIGHT < letters - cjk:
        return None
    if hangul >= kana + han:
        return "ko"
    # Japanese writes its grammar in kana; Chinese has none.
    return "ja" if kana * 10 >= kana + han else "zh"


def _other_language(sample: str) -> str:
    import py3langid  # loads its model on first use (well under a second), then about 1 ms a call

    return str(py3langid.classify(sample)[0])
