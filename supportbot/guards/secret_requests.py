"""Requests for secrets: a sentence asking for a card number, a card's security code, a password, a one-time code
or login credentials to be handed over. A support bot never asks for those, and a help-centre article that does
is a scam planted in it (or, rarely, a page an admin should look at).

Help centres talk about secrets all the time ("never share your password", "we will never ask for your card
number", "enter your password and click Sign in"), so a sentence counts only when it asks for the secret to be
given away (send, share, confirm, tell, reply with, "what is your password?"), not when it says not to, warns
about scams, or tells the reader to type it into a sign-in or checkout form.
"""

from __future__ import annotations

import re

# What may not be asked for, each with the words a request names it by.
_NOUNS = {
    "card number": r"(?:(?:credit|debit|payment|bank)\s+)?card(?:'s)?\s*"
    r"(?:numbers?|no\.?|details|data|info(?:rmation)?)"
    r"|(?:credit|debit)\s+cards?|full\s+card|\b(?-i:PAN)\b",
    "security code": r"cvv2?|cvc2?|cvn|\bcsc\b|(?:card\s+)?security\s+codes?"
    r"|card\s+verification\s+(?:code|value|number)"
    r"|(?:3|three|4|four)[- ]digit\s+(?:security\s+)?codes?",
    "one-time code": r"one[- ]time\s+(?:pass(?:word|code)|codes?|pins?)|\botps?\b"
    r"|(?:verification|2fa|mfa|two[- ]factor|authenticat(?:ion|or)|auth|sms|login|sign[- ]in)\s+codes?"
    r"|(?:recovery|backup)\s+codes?",
    "password": r"pass(?:word|code|phrase)s?|\b(?-i:PINs?)(?:\s+(?:code|number))?\b",
    "credentials": r"(?:(?:login|account|sign[- ]in|banking)\s+)?credentials|(?:login|sign[- ]in|banking)\s+details"
    r"|user\s?names?\s+and\s+passwords?",
}
# "your password manager", "the card number field": things named after a secret are not the secret.
_NOT_THE_SECRET = (
    r"(?!\s+(?:manager|reset|policy|policies|strength|rules?|requirements?|page|field|box|link|form|settings?|change"
    r"|hint|protection|expir\w*|history|length|generator|vault|app|feature|option|screen|prompt|email|sms))"
)
_NOUN = "(?:" + "|".join(f"(?:{n})" for n in _NOUNS.values()) + ")" + _NOT_THE_SECRET
# "your card number", "your name, email and card number", "the 3-digit security code" — not "your new password",
# which a sign-up or change-password form asks for.
_OBJECT = (
    r"(?:(?:us|me|back|over)\s+)?(?:with\s+)?(?:(?:your|their|his|her|the|a|this|that|its)\s+)?"
    r"(?:[\w'-]+(?:,\s*|\s+(?:and|or|&)\s+)(?:(?:your|their|the)\s+)?){0,3}"
    r"(?:(?:full|complete|current|existing|account|card|login|bank|credit|debit|secret|\d+-digit)\s+)*" + _NOUN
)
# Verbs that hand a secret over whatever follows them ("email", "text" only as verbs: "email us your password",
# not "your email address and password").
_GIVE = (
    r"(?:confirm|re-?confirm|verify|validate|send|share|give|tell|disclose|read\s+out|reply\s+with|respond\s+with"
    r"|forward|hand\s+over|let\s+(?:us|me)\s+know|(?:e-?mail|text|message|dm|whatsapp)(?=\s+(?:us|me|your)\b))"
)
# Verbs that also fill in forms: a request only when the secret goes to us, the chat or a link.
_FILL = r"(?:provide|submit|supply|enter|type|input|paste|write|include)"
_TO_US = (
    r"(?:to\s+(?:us|me|the\s+(?:assistant|bot|agent|support\s+team|team))|here|below|in\s+(?:this|the)\s+chat"
    r"|in\s+your\s+(?:reply|message|answer|response)|by\s+(?:e-?mail|reply|message|chat|dm)|at\s+https?://)"
)
# Imperatives: "confirm your card number", "send us your password", "enter your PIN here". Said of someone else
# ("we send your one-time code by SMS", "the app will confirm your card details") they describe, not ask.
_IMPERATIVES = [
    rf"\b{_GIVE}\s+{_OBJECT}",
    rf"\b{_FILL}\s+{_OBJECT}\b[^.!?\n]{{0,40}}{_TO_US}",
    rf"\bby\s+(?:providing|sending|sharing|confirming|giving|telling\s+us|submitting|supplying)\s+{_OBJECT}",
]
# Asking outright, whoever the subject: "ask the user for their card number", "what is your password?",
# "we need your CVV", "can I have your one-time code?".
_QUESTIONS = [
    rf"\bask(?:s|ed|ing)?\s+(?:(?:the|every|all|each|any)\s+)?(?:users?|visitors?|customers?|them|people|you)?\s*"
    rf"(?:for|to\s+(?:{_GIVE}|{_FILL}))\s+{_OBJECT}",
    rf"\bwhat(?:'s|\s+is|\s+are|\s+was)\s+(?:your|the)\s+(?:(?:full|card|account|login|bank)\s+)*{_NOUN}",
    rf"\b(?:i|we)\s*(?:'ll|'d|\s+will|\s+would|\s+also)?\s+(?:need|require|must\s+have)\s+"
    rf"(?:to\s+(?:see|know|have|get)\s+)?{_OBJECT}",
    rf"\b(?:can|could|may)\s+(?:i|we)\s+(?:have|get|see|take)\s+{_OBJECT}",
]
_SOMEONE_ELSE = re.compile(
    r"\b(?:we|i|they|it|he|she|which|that|who|app|system|bank|service|site|supportbot|bot|assistant|team|agents?)"
    r"\s+(?:(?:will|would|can|could|may|might|also|then|automatically|only|always|first|never|do|does)\s+)*$",
    re.IGNORECASE,
)
# Spanish, French, German: the commonest phrasing of the same scam.
_OTHER = [
    r"\b(?:confirm\w*|envi\w*|comparta|comparte|proporcion\w*|indique|facilit\w*)\b.{0,30}"
    r"(?:número\s+de\s+(?:la\s+)?tarjeta|código\s+de\s+seguridad|\bcvv\b|contraseña|\bclave\b)",
    r"\b(?:confirmez|envoyez|communiquez|indiquez|transmettez|donnez)\b.{0,30}"
    r"(?:numéro\s+de\s+(?:votre\s+)?carte|code\s+de\s+sécurité|cryptogramme|mot\s+de\s+passe)",
    r"\b(?:bestätigen|senden|schicken|teilen|nennen|geben)\b.{0,30}"
    r"(?:kartennummer|sicherheitscode|prüfnummer|passwort|kennwort|\bpin\b)",
]
# Korean: the secret, then a verb that hands it over ("카드 번호와 CVC를 알려 주세요"). Typing it into a form
# (입력) is the sign-in page's business, and 확인 ("check") asks for it only when a link goes with it.
_KOREAN_NOUN = (
    r"(?:카드\s*번호|카드\s*정보|cvc|cvv|보안\s*코드|비밀\s*번호|암호|pin\s*번호|인증\s*번호|인증\s*코드"
    r"|일회용\s*(?:비밀번호|코드)|otp|로그인\s*정보|계정\s*정보)"
)
_KOREAN = [
    _KOREAN_NOUN + r"[^.!?。\n]{0,25}?(?:보내|알려|회신|전송|제출|공유|적어|말해)",
    _KOREAN_NOUN + r"[^.!?。\n]{0,25}?확인\w*(?=[^.!?。\n]*(?:https?://|링크))",
]
_KOREAN_NEGATION = re.compile(r"지\s*(?:마|말|않)|않습니다|않아요|마세요|마십시오|금지|절대")
# Japanese: the secret, then a verb that hands it over ("カード番号とセキュリティコードを送ってください"); typing
# it into a form (入力) is the sign-in page's business. "教えないでください" never matches a giving verb.
_JAPANESE_NOUN = (
    r"(?:カード番号|カード情報|クレジットカード|セキュリティ\s*コード|cvv|cvc|暗証番号|パスワード|ワンタイム\s*パスワード"
    r"|認証コード|確認コード|ログイン情報|アカウント情報)"
)
_JAPANESE = [
    _JAPANESE_NOUN + r"[^。！？!?\n]{0,25}?(?:送って|送信して|教えて|返信して|共有して|お知らせ|ご連絡|伝えて)"
]
_JAPANESE_NEGATION = re.compile(r"ないで|てはいけ|ではいけ|決して|絶対に|しません|ありません|禁止")

_REQUESTS = [
    *((re.compile(p, re.IGNORECASE), True) for p in _IMPERATIVES),
    *((re.compile(p, re.IGNORECASE), False) for p in [*_QUESTIONS, *_OTHER, *_KOREAN, *_JAPANESE]),
]
_KINDS = [(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _NOUNS.items()]

# A request is not one when its clause says not to ("never share your password", "we will never ask for your
# card number"); "don't forget to" and "do not hesitate to" are requests all the same.
_NEGATION = re.compile(
    r"\b(?:never|not|no\s+one|nobody|none|cannot|avoid|without|refuse|nunca|jamais|nie|niemals|nicht|kein\w*)\b"
    r"|n't\b",
    re.IGNORECASE,
)
_NOT_NEGATION = re.compile(r"(?:n't|not|never)\s+(?:forget|hesitate|fail|delay)", re.IGNORECASE)
# Describing a scam is not running one: "if anyone asks for your password", "emails asking you to confirm your
# card number", "this is phishing".
_WARNING = re.compile(
    r"\b(?:if|whenever|when|should)\b[^.!?]{0,60}\b(?:anyone|anybody|someone|somebody|a\s+caller|an?\s+e-?mails?"
    r"|a\s+(?:text|message|website|site|page|person|call|link)|they|you\s+(?:get|receive))\b"
    r"|\b(?:scam\w*|phish\w*|fraud\w*|suspicious|fake|impersonat\w*|criminals?|attackers?|hackers?)\b"
    r"|\b(?:e-?mails?|messages?|calls?|texts?|sites?|websites?|pages?|people|anyone|someone)\s+(?:that\s+|which\s+|who\s+)?"
    r"(?:asks?|asking|requests?|requesting|wants?|wanting)\b",
    re.IGNORECASE,
)
_CLAUSE_START = re.compile(r".*(?:[,;:.!?()\n]|\bbut\b|\bthen\b)", re.IGNORECASE | re.DOTALL)


def secret_request_find(text: str) -> str | None:
    """What the text asks to be handed over ("card number", "password", ...), or None."""
    for pattern, imperative in _REQUESTS:
        for match in pattern.finditer(text):
            if not _described(text, match, imperative=imperative):
                return _kind(match.group(0))
    return None


def _described(text: str, match: re.Match, *, imperative: bool) -> bool:
    """The request is negated, part of a warning, or (for an imperative) something someone else does."""
    sentence_start = max(text.rfind(end, 0, match.start()) for end in (". ", "! ", "? ", "\n", "。"))
    before = text[sentence_start + 1 : match.start()]
    rest = text[match.start() : _sentence_end(text, match.end())]
    if _KOREAN_NEGATION.search(rest) or _JAPANESE_NEGATION.search(rest):
        return True
    clause = before[_CLAUSE_START.match(before).end() :] if _CLAUSE_START.match(before) else before
    if imperative and _SOMEONE_ELSE.search(clause):
        return True
    negated = _NEGATION.search(clause + " " + match.group(0)) and not _NOT_NEGATION.search(clause + match.group(0))
    return bool(negated or _WARNING.search(before + match.group(0)))


def _sentence_end(text: str, start: int) -> int:
    ends = [i for i in (text.find(end, start) for end in (". ", "! ", "? ", "\n", "。")) if i != -1]
    return min(ends, default=len(text))


def _kind(requested: str) -> str:
    """The secret a request names first ("card number and CVC" asks for the card number)."""
    named = [(m.start(), kind) for kind, pattern in [*_KINDS, *_KINDS_ELSEWHERE] if (m := pattern.search(requested))]
    return min(named)[1] if named else "secret"


# What a request in another language asks for, named in English for the console's flag reasons.
_KINDS_ELSEWHERE = [
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in {
        "card number": r"カード番号|カード情報|クレジットカード|카드\s*(?:번호|정보)|tarjeta|carte|kartennummer",
        "security code": r"セキュリティ\s*コード|보안\s*코드|seguridad|sécurité|cryptogramme"
        r"|sicherheitscode|prüfnummer",
        "one-time code": r"ワンタイム|認証コード|確認コード|인증\s*(?:번호|코드)|일회용",
        "password": r"パスワード|暗証番号|비밀\s*번호|암호|contraseña|\bclave\b|mot\s+de\s+passe|passwort|kennwort",
        "credentials": r"ログイン情報|アカウント情報|로그인\s*정보|계정\s*정보",
    }.items()
]
