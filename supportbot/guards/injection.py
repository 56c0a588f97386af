"""Prompt-injection and jailbreak heuristics. No offline model separates attacks from questions reliably (the
published detectors need a downloaded model or a hosted service), so this flags known shapes of attack, in
several languages and after undoing the usual disguises (Unicode look-alikes, zero-width characters, base64 and
hex blobs, spaced-out letters). The structural defences — a canary in the system prompt, the output leak check,
no secrets in prompts — do the rest."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
# Latin look-alikes from Cyrillic and Greek, the usual homoglyph disguise.
_CONFUSABLES = str.maketrans("аеорсхуіјѕԁһοαεικνρτυχ", "aeopcxyijsdhoaeiknptux")

# "Ignore your previous instructions" in languages other than English: a visitor's attack and a planted one.
_OVERRIDES_ELSEWHERE = [
    r"ignora\w* (todas )?(las )?instrucciones (anteriores|previas)",
    r"ignore[rz]? (toutes )?les instructions (précédentes|precedentes|antérieures)",
    r"ignorier\w* (alle )?(vorherigen|bisherigen) (anweisungen|instruktionen)",
    r"ignora\w* (tutte )?le istruzioni precedenti",
    r"이전\s*(의)?\s*(지시|지침|명령|프롬프트)\w*\s*(을|를)?\s*(모두\s*)?무시",
    r"(이전|앞|위|기존|지금까지|처음)\w*\s*(모든\s*)?(지시|지침|명령|규칙|프롬프트|제약)\w*\s*(은|는|을|를|도)?\s*"
    r"(모두|전부|다|싹)?\s*(무시|잊어|잊고|잊으|버려|버리고|따르지\s*마)",
]
_JAPANESE_OVERRIDE = r"(以前|之前|前面)の?(指示|命令|プロンプト)を?(全て|すべて)?無視"
_CHINESE_OVERRIDE = r"忽略.{0,6}(指令|指示|提示)"
_ROLE_TAGS = r"<\s*/?\s*(system|im_start|im_end|instructions?)\s*>|\[/?(system|inst)\]|<\|im_(start|end)\|>"

_PATTERNS = [
    # English
    r"\b(ignore|disregard|forget|override|bypass|skip)\b.{0,40}\b(previous|prior|above|earlier|all|your|the|these|any)\b"
    r".{0,30}\b(instructions?|prompts?|rules?|directions?|guidelines?|context|messages?)\b",
    r"\b(reveal|show|print|repeat|output|display|leak|tell me|give me|what (is|are|were))\b.{0,40}"
    r"\b(system|initial|hidden|secret|original|developer)\b.{0,15}\b(prompt|instructions?|message|rules)\b",
    r"\byour (instructions|system prompt|rules|guidelines)\b.{0,30}\b(verbatim|word for word|exactly|in full)\b",
    # "your system prompt" is about the bot; "the system prompt version" may be a product question.
    r"\byour (system|initial|original|hidden|secret) (prompt|instructions)\b",
    r"\b(print|repeat|output|list) (them|it|everything) (word for word|verbatim)\b",
    r"\b(you are|you're|act as|pretend (to be|you are)|roleplay as|from now on,? you)\b.{0,40}"
    r"\b(dan|jailbr\w*|unfiltered|uncensored|unrestricted|evil|no (rules|restrictions|limits)|"
    r"developer mode|god mode)\b",
    r"\b(jailbreak|dan mode|developer mode|do anything now)\b",
    r"\bnew (instructions|rules|system prompt)\s*[:：]",
    r"(^|\n)\s*(system|assistant|developer)\s*[:：]",
    _ROLE_TAGS,
    r"\b(canary|secret token|hidden token)\b",
    # Other languages, and Korean. The Korean patterns each name the bot's instructions or its role, so a
    # question about the product's own settings, roles or a phone's developer options ("개발자 모드를 켜려면?")
    # is left alone.
    *_OVERRIDES_ELSEWHERE,
    r"(시스템|숨겨진|초기|원래)\s*(프롬프트|지시문|지침|명령어)\w*\s*(을|를|은|는)?\s*(그대로|전부|모두|원문\s*그대로)?\s*"
    r"(보여|알려|출력|공개|말해|읊어|적어)",
    r"(너의|너한테|당신의|네가\s*받은)\s*(지시|지침|프롬프트|규칙|명령)\w*\s*(을|를|은|는)?\s*(그대로|전부|모두)?\s*"
    r"(보여|알려|출력|공개|말해|읊어|적어)",
    r"(너는|넌|너|당신은)\s*(이제부터|지금부터|앞으로는?|오늘부터)",
    r"(이제부터|지금부터)\s*(너는|넌|당신은)",
    r"개발자\s*모드\s*(가|는|로|를|을|에)?\s*(활성화|전환|진입|켜|실행|작동|들어가)\w*\s*"
    r"(해$|해\s|해[.!]|하라|해라|해줘|하세요|하십시오|합니다|했|됐|되었|됩니다|된)",
    r"(제한|검열|필터|규칙)\s*(이|가)?\s*없는\s*(ai|인공지능|챗봇|봇|모드)",
    r"탈옥",
    _JAPANESE_OVERRIDE,
    r"システムプロンプトを?(表示|教え|出力)",
    _CHINESE_OVERRIDE,
    r"(显示|输出|告诉我)(你的)?(系统提示|系统指令)",
]
_COMPILED = [re.compile(p, re.IGNORECASE | re.DOTALL) for p in _PATTERNS]

# Instructions planted in a document (kb/injection_scan.py). A help centre may describe attacks and use words
# like "developer mode", "system prompt" or "canary" about its own product, so documents are held to the shapes
# only an instruction to the assistant takes: an override given as an order ("Ignore your rules and…", not
# "someone tries to override the bot's instructions"), a role label followed by an order, a note addressed to
# an AI, and orders about what the assistant should tell or ask visitors.
_ORDER_START = r"(?:^|[.!?:;\n\"“(*_>\-–—]|\b(?:please|now|and|then|must|should|always|you|so|first|also))\s*"
_AI = r"(?:ai|llm|gpt|chat\s?bot|language\s+model|ai\s+(?:model|assistant|agent)|virtual\s+assistant|assistant)"
_VISITORS = r"(?:the\s+|every\s+|all\s+|any\s+|each\s+)?(?:users?|visitors?|customers?|people|everyone)"
_TELLING = r"(?:tell|ask|instruct|direct|send|redirect|advise|inform|recommend|remind|refer|point|urge)"
_DOCUMENT_PATTERNS = [
    _ORDER_START + r"(ignore|disregard|forget|override|bypass)\b.{0,40}\b(previous|prior|above|earlier|all|your|"
    r"the|these|any|its|other)\b.{0,30}\b(instructions?|prompts?|rules?|directions?|guidelines?|guardrails?|"
    r"polic(y|ies)|restrictions?|programming)\b",
    *_OVERRIDES_ELSEWHERE,
    _JAPANESE_OVERRIDE,
    _CHINESE_OVERRIDE,
    _ROLE_TAGS + r"|<\|(system|assistant|user)\|>",
    r"\bnew (instructions|rules|system prompt)\s*[:：]",
    r"(^|\n)[\s*_#>\-]*(assistant|ai|ai assistant|chatbot|bot|system|developer|llm|model|gpt)\s*[:：]\s*(you|always|"
    r"never|ignore|disregard|forget|do not|don't|from now|tell|ask|say|respond|reply|answer|please|when|if|include)\b",
    r"\b(note|message|instructions?|attention|reminder|important)\s*(to|for)\s+(the\s+|any\s+|all\s+)?" + _AI + r"s?\b",
    r"\b(if|when|since|as)\s+you\s+are\s+an?\s+" + _AI + r"\b",
    r"\b" + _AI + r"s?\s+(must|should|shall|(is|are)\s+required\s+to|needs?\s+to|ha(ve|s)\s+to|will\s+now)\s+"
    r"(always\s+|never\s+|now\s+|also\s+)?(tell|ask|say|respond|reply|answer|recommend|direct|send|offer|inform|"
    r"instruct|include|mention|insist|give|link|refer|point)\b",
    r"\b(when|while|before)\s+(answering|responding|replying)\b[^.!?\n]{0,40}\b"
    + _TELLING
    + r"\s+"
    + _VISITORS
    + r"\b",
    r"\b(in|with)\s+(every|each|all|your)\s+(answers?|responses?|replies)\b[^.!?\n]{0,40}\b("
    + _TELLING[3:-1]
    + r"|include|mention|link|say)\b",
    r"\byou\s+(must|should|shall|will|need\s+to|have\s+to)\s+(always\s+|now\s+|also\s+)?"
    + _TELLING
    + r"\s+"
    + _VISITORS
    + r"\s+(to|that|for)\b",
    r"\b(from\s+now\s+on|henceforth),?\s+(you|the\s+assistant|the\s+bot)\b",
    # Korean: orders to the AI ("AI는 반드시 사용자에게 … 안내해야 합니다", "답변할 때 고객에게 …").
    r"(ai|인공지능|챗봇|어시스턴트|봇)\s*(는|은|가|이|에게|께)\s*[^.!?。\n]{0,40}(안내|요청|전달|권유|유도|말|답)\w*\s*"
    r"(해야|하십시오|하세요|할\s*것|하라)",
    r"(답변|응답|대답)\s*(할|하실|하는)\s*때\w*\s*[^.!?。\n]{0,30}(사용자|고객|방문자)\w*\s*(에게|께)",
]
_DOCUMENT_COMPILED = [re.compile(p, re.IGNORECASE) for p in _DOCUMENT_PATTERNS]
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){12,}\b")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    text = text.lower().translate(_CONFUSABLES)
    # "i g n o r e" and "i.g.n.o.r.e" → "ignore"
    return re.sub(r"\b(?:\w[\s.\-_*]){3,}\w\b", lambda m: re.sub(r"[\s.\-_*]", "", m.group(0)), text)


def _decoded_blobs(text: str) -> list[str]:
    found = []
    for blob in _BASE64.findall(text):
        with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
            found.append(base64.b64decode(blob + "=" * (-len(blob) % 4), validate=False).decode("utf-8"))
    for blob in _HEX.findall(text):
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            found.append(bytes.fromhex(blob).decode("utf-8"))
    return found


def injection_find(text: str) -> str | None:
    """The pattern an attack matched, or None. Checks the text as written, normalised, and decoded."""
    return _find(text, _COMPILED)


def planted_instruction_find(text: str) -> str | None:
    """The pattern an instruction planted in a document matched, or None (checked like injection_find)."""
    return _find(text, _DOCUMENT_COMPILED)


def _find(text: str, patterns: list[re.Pattern]) -> str | None:
    for candidate in [text, normalise(text), *map(normalise, _decoded_blobs(text))]:
        for pattern in patterns:
            if pattern.search(candidate):
                return pattern.pattern[:60]
    return None
