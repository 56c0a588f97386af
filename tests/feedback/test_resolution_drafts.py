"""Drafts from resolved conversations (issue #15, "must show" 3): an agent resolves a taken-over conversation, its
answer lands in the review queue as a draft article without personal data, and approving it publishes it so the
next visitor's reworded question cites it; a duplicate is offered as an edit of the existing article; a rejected
draft publishes nothing; only staff resolve and only support admins publish."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from feedback import drafts
from feedback.models import ArticleDraft
from kb.models import Document
from supportbot.chat import takeover
from supportbot.chat.models import Conversation, Widget
from supportbot.console import services as console_services
from tests.chat.conftest import ask, open_chat
from tests.chat.factories import AnswerFactory, ConversationFactory, QuestionFactory

EMAIL, PHONE = "jane.doe@example.com", "+44 20 7946 0958"
QUESTION = f"Can I change the delivery address after my order has shipped? I'm {EMAIL}, call me on {PHONE}"
REPLY = (
    "Hi Jane! Yes: until the courier collects the parcel you can change the delivery address under Orders, then "
    f"Change address. I have sent the steps to {EMAIL} too. Anything else?"
)
PARAPHRASE = "How do I update the shipping address once the parcel is on its way?"
PASSWORD = "drafts-pw-12345"
pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def agent(db):
    return get_user_model().objects.create_user("sam", password=PASSWORD, first_name="Sam", is_staff=True)


@pytest.fixture
def support_admin(db):
    return get_user_model().objects.create_user("ada", password=PASSWORD, is_staff=True, is_superuser=True)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def taken_over(agent, *, question: str = QUESTION, reply: str = REPLY) -> Conversation:
    """A conversation the visitor began with `question`, then asked for a human; `agent` took over and replied."""
    widget, _ = Widget.objects.get_or_create(
        key="keep-widget", defaults={"name": "Keeps personal data", "pii_policy": "keep"}
    )
    conversation = ConversationFactory(widget=widget)
    AnswerFactory(reply_to=QuestionFactory(conversation=conversation, text=question), text="Delivery takes 2 days [1].")
    QuestionFactory(conversation=conversation, text="Can I talk to a human please?")
    takeover.conversation_take_over(conversation_id=conversation.pk, agent=agent)
    takeover.agent_reply(conversation_id=conversation.pk, agent=agent, text=reply)
    return conversation


def test_resolving_a_taken_over_conversation_drafts_an_article_without_personal_data(knowledge, data_dir, agent):
    # given
    conversation = taken_over(agent)
    client = _client(agent)
    # when: the agent marks it resolved in the console
    response = client.post(f"/console/conversations/{conversation.pk}/resolve")
    # then: a draft in the review queue, the visitor's question in their words and the agent's answer, generalised
    draft = ArticleDraft.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/console/review/drafts/{draft.pk}/"
    assert draft.question == "Can I change the delivery address after my order has shipped?"
    assert draft.answer == (
        "Yes: until the courier collects the parcel you can change the delivery address under Orders, then "
        "Change address. I have sent the steps to your email address too."
    )
    assert (draft.status, draft.resolved_by, draft.duplicate_of) == ("draft", agent, None)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent) == ("closed", None)
    queue = client.get("/console/review/").content.decode()
    page = client.get(f"/console/review/drafts/{draft.pk}/").content.decode()
    assert f"/console/review/drafts/{draft.pk}/" in queue and "Can I change the delivery address" in queue
    for shown in (queue, page, draft.question + draft.answer):
        assert EMAIL not in shown and PHONE not in shown and "7946" not in shown
    # and: resolving is once; a second request is refused and drafts nothing more
    again = client.post(f"/console/conversations/{conversation.pk}/resolve", follow=True)
    assert "Take the conversation over" in again.content.decode() and ArticleDraft.objects.count() == 1


def test_a_conversation_must_be_taken_over_by_the_agent_to_be_resolved(knowledge, data_dir, agent):
    # given: the visitor is still with the bot
    conversation = ConversationFactory()
    AnswerFactory(reply_to=QuestionFactory(conversation=conversation, text=QUESTION))
    # when
    response = _client(agent).post(f"/console/conversations/{conversation.pk}/resolve", follow=True)
    # then: told why, nothing drafted, nothing closed
    assert response.status_code == 200 and "Take the conversation over" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.status == "open" and not ArticleDraft.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_an_approved_draft_is_cited_for_the_next_visitors_reworded_question(widget, knowledge, data_dir, no_llm):
    # given: a visitor asks, the bot has no article on it, the visitor asks for a human
    agent = await database_sync_to_async(get_user_model().objects.create_user)("sam", is_staff=True, is_superuser=True)
    await Widget.objects.filter(pk=widget.pk).aupdate(pii_policy="keep")
    chat, session = await open_chat()
    await ask(chat, QUESTION)
    _, escalated = await ask(chat, "Can I talk to a human please?")
    assert escalated["type"] == "escalated", escalated
    # and: an agent takes over, answers, and resolves it
    conversation_id = session["conversation_id"]
    await database_sync_to_async(takeover.conversation_take_over)(conversation_id=conversation_id, agent=agent)
    await database_sync_to_async(takeover.agent_reply)(conversation_id=conversation_id, agent=agent, text=REPLY)
    resolve = database_sync_to_async(console_services.conversation_resolve)
    draft = await resolve(conversation_id=conversation_id, agent=agent)
    await chat.disconnect()
    # when: a support admin approves the draft (published once the approval commits)
    await database_sync_to_async(drafts.article_draft_approve)(draft_id=draft.pk, approver=agent)
    # then: the next visitor's reworded question is answered from it and cites its page
    chat, _ = await open_chat(visitor="visitor-0002")
    _, answer = await ask(chat, PARAPHRASE)
    await chat.disconnect()
    assert answer["type"] == "answer", answer
    assert answer["citations"][0]["url"].startswith(f"/help/articles/{draft.pk}/#"), answer["citations"]
    assert "Change address" in answer["text"] and EMAIL not in answer["text"]
    await sync_to_async(connections.close_all)()


def test_a_duplicate_of_an_existing_article_is_offered_as_an_edit_of_it(
    knowledge, data_dir, agent, support_admin, django_capture_on_commit_callbacks
):
    # given: an article published from an earlier resolved conversation
    first = console_services.conversation_resolve(conversation_id=taken_over(agent).pk, agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        drafts.article_draft_approve(draft_id=first.pk, approver=support_admin)
    first.refresh_from_db()
    article = first.document
    assert article is not None and article.url == f"/help/articles/{first.pk}/"
    # when: another visitor asks the same, reworded, and another agent's answer is resolved
    reworded = "Is it possible to update the delivery address after the order shipped?"
    addition = "Once the courier has the parcel, ask the courier to redirect it from their tracking page."
    second_conversation = taken_over(agent, question=reworded, reply=addition)
    second = console_services.conversation_resolve(conversation_id=second_conversation.pk, agent=agent)
    # then: offered as an edit of the existing article, starting from its text with the new answer added
    assert second.duplicate_of == article and second.duplicate_similarity >= drafts.DUPLICATE_SIMILARITY
    assert second.answer.startswith(first.answer) and second.answer.endswith(addition)
    admin = _client(support_admin)
    page = admin.get(f"/console/review/drafts/{second.pk}/").content.decode()
    assert "Approve as an edit of the existing article" in page and article.title in page
    # when: the admin approves it as offered
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/console/review/drafts/{second.pk}/approve")
    # then: the existing article now says both, and no second article competes with it
    second.refresh_from_db()
    assert response.status_code == 302 and (second.status, second.document) == ("approved", article)
    assert Document.objects.filter(url__startswith="/help/articles/").count() == 1
    public = Client().get(article.url).content.decode()
    assert addition in public and "Change address" in public


def test_an_agent_edits_a_draft_and_personal_data_typed_in_is_taken_out(knowledge, data_dir, agent):
    # given
    draft = console_services.conversation_resolve(conversation_id=taken_over(agent).pk, agent=agent)
    client = _client(agent)
    # when
    edited = client.post(
        f"/console/review/drafts/{draft.pk}/",
        {"question": "Can I change the delivery address after shipping?", "answer": f"Yes, write to {EMAIL}."},
    )
    empty = client.post(f"/console/review/drafts/{draft.pk}/", {"question": "  ", "answer": "Yes."})
    # then
    draft.refresh_from_db()
    assert edited.status_code == 302 and empty.status_code == 200
    assert (draft.question, draft.answer) == (
        "Can I change the delivery address after shipping?",
        "Yes, write to your email address.",
    )


def test_rejecting_a_draft_publishes_nothing(
    knowledge, data_dir, agent, support_admin, django_capture_on_commit_callbacks
):
    # given
    draft = console_services.conversation_resolve(conversation_id=taken_over(agent).pk, agent=agent)
    documents = Document.objects.count()
    admin = _client(support_admin)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        rejected = admin.post(f"/console/review/drafts/{draft.pk}/reject")
        approved_after = admin.post(f"/console/review/drafts/{draft.pk}/approve", follow=True)
    # then: no article, no file, no page; and a decided draft is not approved afterwards
    draft.refresh_from_db()
    assert rejected.status_code == 302 and (draft.status, draft.document) == ("rejected", None)
    assert "already rejected" in approved_after.content.decode()
    assert Document.objects.count() == documents and not drafts.draft_path(draft.pk).exists()
    assert Client().get(draft.article_url).status_code == 404
    assert f"/console/review/drafts/{draft.pk}/" not in admin.get("/console/review/").content.decode()


def test_only_staff_resolve_and_only_support_admins_publish(
    knowledge, data_dir, agent, django_capture_on_commit_callbacks
):
    # given
    conversation = taken_over(agent)
    customer = get_user_model().objects.create_user("carol", password=PASSWORD)
    # when: someone signed in who is not staff tries to resolve, and anonymous visitors try too
    refused = [
        _client(customer).post(f"/console/conversations/{conversation.pk}/resolve").status_code,
        Client().post(f"/console/conversations/{conversation.pk}/resolve").status_code,
    ]
    # then
    assert refused == [403, 302] and not ArticleDraft.objects.exists()
    # when: an agent (not a support admin) tries to publish the draft of a conversation they resolved
    draft = console_services.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        approve = _client(agent).post(f"/console/review/drafts/{draft.pk}/approve")
        reject = _client(agent).post(f"/console/review/drafts/{draft.pk}/reject")
    # then: refused; the draft waits for an admin, with the buttons theirs only
    draft.refresh_from_db()
    assert (approve.status_code, reject.status_code, draft.status, draft.document) == (403, 403, "draft", None)
    page = _client(agent).get(f"/console/review/drafts/{draft.pk}/").content.decode()
    assert "A support admin approves drafts" in page and "/approve" not in page
