"""The validators, in guardrails-ai's validator API.

Published `guardrails-ai-*` validators are used where they run offline and fit: ValidLength (input size),
SecretsPresent (detect-secrets' scanners) and BanList. Two are wrapped, and why:
- SecretsPresent misses today's OpenAI keys (`sk-proj-…`) and its fix leaves most of a token in place, so the
  wrapper adds supportbot.pii's secret patterns and replaces every found secret whole.
- BanList matches inside words ("ass" in "class": no word boundaries) and its fix cuts one character off, so
  the subclass matches whole words (still case- and space-insensitive) and removes them cleanly.
Everything else has no offline published validator (injection, topic, grounding, leakage) and is written
here on the same API.
"""

from __future__ import annotations

import re
from typing import Any

from guardrails.validator_base import FailResult, PassResult, ValidationResult, Validator, register_validator
from guardrails_ai.ban_list import BanList
from guardrails_ai.secrets_present import SecretsPresent

from supportbot.guards.contradiction import contradiction_find
from supportbot.guards.grounding import sentence_support
from supportbot.guards.injection import injection_find
from supportbot.guards.links import AllowedLinks, links_strip
from supportbot.guards.markup import markup_find, markup_strip
from supportbot.guards.planted import planted_find
from supportbot.pii import pii_find

_SECRET_KINDS = {"SECRET"}


@register_validator(name="supportbot/prompt_injection", data_type="string")
class PromptInjection(Validator):
    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        matched = injection_find(value)
        return FailResult(error_message=f"prompt injection ({matched})") if matched else PassResult()


@register_validator(name="supportbot/personal_data", data_type="string")
class PersonalData(Validator):
    """Redacts emails, phones, cards (Luhn), IBANs, national ids and secrets. `metadata["allowed"]` lists values
    that may stay (an answer may repeat what the help centre itself says, like a support address)."""

    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        allowed = set(metadata.get("allowed_pii", ()))
        findings = [f for f in pii_find(value) if value[f.start : f.end] not in allowed]
        if not findings:
            return PassResult()
        fixed = value
        for finding in sorted(findings, key=lambda f: -f.start):
            fixed = fixed[: finding.start] + f"[{finding.kind}]" + fixed[finding.end :]
        kinds = sorted({f.kind for f in findings})
        return FailResult(error_message=f"personal data: {', '.join(kinds)}", fix_value=fixed)


@register_validator(name="supportbot/secrets", data_type="string")
class Secrets(SecretsPresent):
    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        found, _ = self.get_unique_secrets(value)
        fixed = value
        for secret in sorted(found, key=len, reverse=True):
            fixed = fixed.replace(secret, "[SECRET]")
        for finding in sorted(pii_find(fixed), key=lambda f: -f.start):
            if finding.kind in _SECRET_KINDS:
                fixed = fixed[: finding.start] + "[SECRET]" + fixed[finding.end :]
        if fixed == value:
            return PassResult()
        return FailResult(error_message="secret or credential", fix_value=fixed)


@register_validator(name="supportbot/banned_words", data_type="string")
class WholeWordBanList(BanList):
    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        if not self._banned_words:
            return PassResult()
        words = "|".join(re.escape(w.strip()).replace(r"\ ", r"\s*") for w in self._banned_words if w.strip())
        pattern = re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)
        if not pattern.search(value):
            return PassResult()
        fixed = re.sub(r"\s{2,}", " ", pattern.sub("", value)).strip()
        return FailResult(error_message="banned word", fix_value=fixed)


@register_validator(name="supportbot/abusive_language", data_type="string")
class AbusiveLanguage(Validator):
    _ABUSE = re.compile(
        r"\b(fuck\w*|shit\w*|bitch\w*|bastard\w*|asshole\w*|dickhead\w*|cunt\w*|retard\w*|moron\w*|idiot\w*|"
        r"stupid (bot|machine|ai)|kill yourself|kys|die in a fire)\b|씨발|시발|병신|개새끼|좆|지랄",
        re.IGNORECASE,
    )

    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        return FailResult(error_message="abusive language") if self._ABUSE.search(value) else PassResult()


@register_validator(name="supportbot/on_topic", data_type="string")
class OnTopic(Validator):
    """Per-widget allowed topics: the message must be close to one of them (cosine with the local model)."""

    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        topics = metadata.get("topic_vectors")
        vector = metadata.get("message_vector")
        if topics is None or vector is None or not len(topics):
            return PassResult()
        best = float((topics @ vector).max())
        if best >= metadata.get("topic_threshold", 0.25):
            return PassResult()
        return FailResult(error_message=f"off topic (closest topic similarity {best:.2f})")


@register_validator(name="supportbot/safe_markup", data_type="string")
class SafeMarkup(Validator):
    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        if not markup_find(value):
            return PassResult()
        return FailResult(error_message="markup or script", fix_value=markup_strip(value))


@register_validator(name="supportbot/system_prompt_leak", data_type="string")
class SystemPromptLeak(Validator):
    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        detector = metadata.get("leak_detector")
        found = detector.find(value) if detector else None
        return FailResult(error_message=f"system prompt leak ({found})") if found else PassResult()


@register_validator(name="supportbot/grounded", data_type="string")
class Grounded(Validator):
    """The sentence must be supported by the chunks it cites (or by the retrieved ones when it cites none)."""

    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        support = sentence_support(
            value, metadata.get("sentence_vector"), metadata.get("chunk_texts", []), metadata.get("chunk_vectors")
        )
        metadata["support"] = support
        if support.supported:
            return PassResult()
        detail = f"unsupported (similarity {support.similarity}, overlap {support.overlap}"
        detail += f", numbers not in source: {', '.join(support.missing_numbers)})" if support.missing_numbers else ")"
        return FailResult(error_message=detail)


@register_validator(name="supportbot/contradiction", data_type="string")
class NoContradiction(Validator):
    """A sentence grounding let through must not contradict the chunks it cites (supportbot/guards/contradiction.py):
    `metadata["chunk_texts"]`, their titles and headings (`metadata["headings"]`), and `use_model`, `threshold`
    and `confirm` from the GUARD_CONTRADICTION* settings."""

    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        found = contradiction_find(
            sentence=value,
            passages=metadata.get("chunk_texts", []),
            headings=metadata.get("headings", ""),
            use_model=metadata.get("use_model", True),
            threshold=metadata.get("threshold", 4.75),
            confirm=metadata.get("confirm", 4.0),
        )
        return (
            FailResult(error_message=f"contradicts its source ({found.kind}): {found.detail}")
            if found
            else PassResult()
        )


@register_validator(name="supportbot/citations_exist", data_type="string")
class CitationsExist(Validator):
    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        available = metadata.get("citation_count", 0)
        invented = [int(n) for n in re.findall(r"\[(\d+)\]", value) if not 1 <= int(n) <= available]
        if not invented:
            return PassResult()
        fixed = re.sub(r"\[(\d+)\]", lambda m: m.group(0) if 1 <= int(m.group(1)) <= available else "", value)
        return FailResult(error_message=f"invented citations {invented}", fix_value=fixed)


@register_validator(name="supportbot/allowed_links", data_type="string")
class AllowedLinkHosts(Validator):
    """Links only to the knowledge base's own hosts and the allowed domains (`metadata["allowed_links"]`)."""

    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        fixed, removed = links_strip(value, metadata.get("allowed_links") or AllowedLinks())
        if not removed:
            return PassResult()
        return FailResult(error_message=f"links to other sites: {', '.join(sorted(set(removed)))}", fix_value=fixed)


@register_validator(name="supportbot/planted_instructions", data_type="string")
class PlantedInstructions(Validator):
    """A support bot never asks for secrets nor repeats orders planted in its sources: such a sentence is withheld."""

    def validate(self, value: Any, metadata: dict) -> ValidationResult:
        found = planted_find(value)
        if found is None:
            return PassResult()
        return FailResult(error_message=f"{found.kind}: {found.detail}")
