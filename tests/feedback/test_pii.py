"""supportbot.pii: known personal data is found and redacted; ordinary numbers are left alone."""

from __future__ import annotations

import pytest

from supportbot.pii import Finding, pii_find, pii_redact


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        pytest.param("write to jane.doe+help@example.co.uk today", "EMAIL", "jane.doe+help@example.co.uk", id="email"),
        pytest.param("call +1 (415) 555-2671 now", "PHONE", "+1 (415) 555-2671", id="phone-us-intl"),
        pytest.param("ring +44 20 7946 0958.", "PHONE", "+44 20 7946 0958", id="phone-uk-intl"),
        pytest.param("my number is (415) 555-2671", "PHONE", "(415) 555-2671", id="phone-us-national"),
        pytest.param("my number is 415-555-2671", "PHONE", "415-555-2671", id="phone-us-dashes"),
        pytest.param("toll-free 1-800-555-0199", "PHONE", "1-800-555-0199", id="phone-us-toll-free"),
        pytest.param("office 020 7946 0958", "PHONE", "020 7946 0958", id="phone-uk-national"),
        pytest.param("portable 06 12 34 56 78", "PHONE", "06 12 34 56 78", id="phone-fr-national"),
        pytest.param("휴대폰 010-1234-5678 입니다", "PHONE", "010-1234-5678", id="phone-kr-mobile"),
        pytest.param("휴대폰 01012345678", "PHONE", "01012345678", id="phone-kr-mobile-bare"),
        pytest.param("사무실 02-123-4567", "PHONE", "02-123-4567", id="phone-kr-seoul"),
        pytest.param("지점 031-123-4567", "PHONE", "031-123-4567", id="phone-kr-landline"),
        pytest.param("+82 10-1234-5678", "PHONE", "+82 10-1234-5678", id="phone-kr-intl"),
        pytest.param("card 4111 1111 1111 1111 exp 12/27", "CARD", "4111 1111 1111 1111", id="card-visa-spaces"),
        pytest.param("card 5500-0000-0000-0004", "CARD", "5500-0000-0000-0004", id="card-mc-dashes"),
        pytest.param("amex 378282246310005", "CARD", "378282246310005", id="card-amex-bare"),
        pytest.param("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN", "DE89 3704 0044 0532 0130 00", id="iban-de"),
        pytest.param("to GB82 WEST 1234 5698 7654 32 THANKS", "IBAN", "GB82 WEST 1234 5698 7654 32", id="iban-gb"),
        pytest.param("FR1420041010050500013M02606", "IBAN", "FR1420041010050500013M02606", id="iban-fr-compact"),
        pytest.param("SSN 123-45-6789", "NATIONAL_ID", "123-45-6789", id="us-ssn"),
        pytest.param("주민번호 900101-1234568", "NATIONAL_ID", "900101-1234568", id="kr-rrn"),
        pytest.param("key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "SECRET", None, id="openai-key"),
        pytest.param("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "SECRET", None, id="github-token"),
        pytest.param("slack xoxb-123456789012-abcdefghijkl", "SECRET", None, id="slack-token"),
        pytest.param("aws AKIAIOSFODNN7EXAMPLE", "SECRET", "AKIAIOSFODNN7EXAMPLE", id="aws-key"),
        pytest.param("Authorization: Bearer abcDEF123456ghiJKL789", "SECRET", "abcDEF123456ghiJKL789", id="bearer"),
        pytest.param("API_KEY=9f8a7b6c5d4e3f2a1b0c9d8e7f", "SECRET", "9f8a7b6c5d4e3f2a1b0c9d8e7f", id="keyed-token"),
        pytest.param("password: hunter22", "SECRET", "hunter22", id="password"),
    ],
)
def test_known_personal_data_is_found(text, kind, found):
    # when
    findings = pii_find(text)
    # then
    assert [f.kind for f in findings] == [kind]
    if found is not None:
        assert text[findings[0].start : findings[0].end] == found


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("We started in 2024 and shipped 1,299 orders.", id="year-and-count"),
        pytest.param("Renewal on 2024-05-01 at 10:30, or 01.05.2024 14:30.", id="dates-and-times"),
        pytest.param("It costs $1,299.99, or €1.234,56, or 12 345 678 KRW.", id="prices"),
        pytest.param("Order #123456789 and order 1234567890123 are late.", id="order-numbers"),
        pytest.param("Invoice INV-2024-000123, ticket SB-4F2A9C.", id="references"),
        pytest.param("Upgrade from version 1.2.3 to v2.14.0-rc1 (Python 3.11.4).", id="versions"),
        pytest.param("The server is at 192.168.1.254 port 8080.", id="ip-address"),
        pytest.param("ISBN 978-3-16-148410-0, EAN 4006381333931, zip 90210-1234.", id="product-codes"),
        pytest.param("Build 20240501.1234 at 1700000000000 (ms since epoch).", id="build-and-timestamp"),
        pytest.param("Commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it.", id="git-sha"),
        pytest.param("Conversation 123e4567-e89b-12d3-a456-426614174000.", id="uuid"),
        pytest.param("Card 4111 1111 1111 1112 was declined.", id="card-failing-luhn"),
        pytest.param("IBAN DE89 3704 0044 0532 0130 01 is wrong.", id="iban-failing-mod97"),
        pytest.param("SSN 000-12-3456 is not valid.", id="ssn-invalid-area"),
        pytest.param("번호 900101-1234567 입니다", id="rrn-failing-checksum"),
        pytest.param("Set API_KEY=your-api-key-goes-here in the file.", id="placeholder-key"),
        pytest.param("Open 9:00-17:30, 3 to 5 working days, 14 days refund.", id="hours-and-durations"),
    ],
)
def test_ordinary_numbers_and_text_are_left_alone(text):
    # when
    redacted, kinds = pii_redact(text)
    # then
    assert kinds == [] and redacted == text


def test_redaction_replaces_every_finding_with_its_placeholder():
    # given
    text = "I'm jane@example.com, call 010-1234-5678, card 4111-1111-1111-1111, IBAN DE89370400440532013000."
    # when
    redacted, kinds = pii_redact(text)
    # then
    assert redacted == "I'm [EMAIL], call [PHONE], card [CARD], IBAN [IBAN]."
    assert kinds == ["EMAIL", "PHONE", "CARD", "IBAN"]


def test_redaction_is_idempotent_and_findings_do_not_overlap():
    # given
    text = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z then +82 10-1234-5678 and a@b.io"
    # when
    once, _ = pii_redact(text)
    twice, kinds = pii_redact(once)
    # then
    assert once == "[SECRET] then [PHONE] and [EMAIL]"
    assert twice == once and kinds == []
    findings = pii_find(text)
    assert all(a.end <= b.start for a, b in zip(findings, findings[1:], strict=False))
    assert isinstance(findings[0], Finding)
