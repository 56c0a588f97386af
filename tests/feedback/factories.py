"""factory_boy factories for feedback on answers (ratings, corrections), stored straight in the database.

The conversations and answers they rate come from tests/chat/factories.py."""

from __future__ import annotations

import factory

from feedback.models import Correction, Rating
from tests.chat.factories import AnswerFactory


class RatingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rating

    message = factory.SubFactory(AnswerFactory)
    visitor_id = factory.LazyAttribute(lambda rating: rating.message.conversation.visitor_id)
    value = Rating.Value.UP


class CorrectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Correction

    message = factory.SubFactory(AnswerFactory)
    text = "Refunds go back to the card you paid with within five working days [1]."
    status = Correction.Status.APPROVED
