"""Switching embedding models empties the semantic cache: its question vectors came from the old model."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from kb.embeddings import embed_query
from kb.reembedding import documents_reembed
from supportbot.chat.models import CachedAnswer, Conversation, Message, Widget

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.mark.django_db
def test_reembed_empties_the_semantic_cache(ingest):
    # given: an answer cached for a question
    assert ingest(FIXTURES / "hybrid").status == "succeeded"
    widget = Widget.objects.create(key="cache-widget", name="Cache", allowed_origins=["self"])
    conversation = Conversation.objects.create(widget=widget, visitor_id="visitor-cache-01")
    message = Message.objects.create(conversation=conversation, role=Message.Role.BOT, text="Cached [1].")
    question = "what does E4403 mean"
    CachedAnswer.objects.create(
        widget=widget, question=question, embedding=embed_query(question), message=message, kb_version=1
    )
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as in a reembed's own transaction
    # when
    documents_reembed()
    # then
    assert not CachedAnswer.objects.exists()
    assert Message.objects.filter(pk=message.pk).exists()
