"""factory_boy factories for widgets, conversations, questions and answers, stored straight in the database."""

from __future__ import annotations

import factory

from supportbot.chat.models import Conversation, Message, Widget


class WidgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Widget
        django_get_or_create = ("key",)

    key = "test-widget"
    name = "Test"
    allowed_origins = factory.LazyFunction(lambda: ["http://testserver"])


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    widget = factory.SubFactory(WidgetFactory)
    visitor_id = factory.Sequence(lambda n: f"visitor-{n:04d}")


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.VISITOR
    text = "How do I get my money back?"


class AnswerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.LazyAttribute(lambda answer: answer.reply_to.conversation)
    reply_to = factory.SubFactory(QuestionFactory)
    role = Message.Role.BOT
    text = "If you cancel within 14 days we return the full payment [1]."
    confidence = 0.8
    confidence_label = "high"
    model = "offline-extractive"
    prompt_version = "test.1"
