"""A visitor's comment on a rating is stored with personal data redacted, like their messages: it is read in the
console, the review queue and exports, none of which need a visitor's email or card number."""

from __future__ import annotations

import json

import pytest

from feedback.models import Rating
from feedback.services import MAX_COMMENT_CHARS, feedback_record
from tests.chat.conftest import ORIGIN
from tests.chat.factories import AnswerFactory, ConversationFactory, QuestionFactory, WidgetFactory

pytestmark = [pytest.mark.django_db]
EMAIL, PHONE, CARD = "jane.doe@example.com", "+1 (415) 555-2671", "4111 1111 1111 1111"
SECRET = "password: hunter2-Secret"
COMMENT = f"Wrong! Mail me at {EMAIL} or call {PHONE}, I paid with {CARD}."


def _answer(*, pii_policy: str = "redact"):
    widget = WidgetFactory(pii_policy=pii_policy)
    conversation = ConversationFactory(widget=widget, visitor_id="visitor-0001")
    return AnswerFactory(reply_to=QuestionFactory(conversation=conversation))


def _rate(answer, comment: str) -> Rating:
    return feedback_record(
        message_id=answer.pk,
        conversation_id=answer.conversation_id,
        visitor_id="visitor-0001",
        rating="down",
        reason="wrong",
        comment=comment,
    )


def test_a_comment_with_an_email_a_phone_and_a_card_number_is_stored_redacted():
    # given
    answer = _answer()
    # when
    _rate(answer, COMMENT)
    # then: what the database holds has placeholders, and the rest of the comment
    stored = Rating.objects.get(message=answer).comment
    assert stored == "Wrong! Mail me at [EMAIL] or call [PHONE], I paid with [CARD]."


def test_a_comment_sent_to_the_http_api_is_stored_redacted(client):
    # given
    answer = _answer()
    body = {
        "key": answer.conversation.widget.key,
        "conversation_id": str(answer.conversation_id),
        "visitor_id": "visitor-0001",
        "message_id": answer.pk,
        "rating": "down",
        "comment": COMMENT,
    }
    # when
    response = client.post(
        "/api/feedback", json.dumps(body), content_type="application/json", headers={"Origin": ORIGIN}
    )
    # then
    assert response.status_code == 200
    stored = Rating.objects.get(message=answer).comment
    assert EMAIL not in stored and CARD not in stored and "555-2671" not in stored
    assert "[EMAIL]" in stored and "[CARD]" in stored and "[PHONE]" in stored


def test_a_widget_that_keeps_personal_data_keeps_it_in_comments_too_but_never_a_secret():
    # given: the widget's operator chose to keep personal data (as its messages do)
    answer = _answer(pii_policy="keep")
    # when
    _rate(answer, f"{COMMENT} {SECRET}")
    # then
    stored = Rating.objects.get(message=answer).comment
    assert EMAIL in stored and CARD in stored
    assert "hunter2" not in stored and "[SECRET]" in stored


def test_a_card_number_split_by_the_length_limit_is_still_removed():
    # given: a long comment whose card number straddles the stored length
    answer = _answer()
    comment = "x" * (MAX_COMMENT_CHARS - 8) + " " + CARD
    # when
    _rate(answer, comment)
    # then
    stored = Rating.objects.get(message=answer).comment
    assert len(stored) <= MAX_COMMENT_CHARS
    assert "4111 11" not in stored
