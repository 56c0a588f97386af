"""Drafts from resolved conversations: what an agent answered in a taken-over conversation becomes a draft
knowledge-base article in the review queue, and approving it publishes it like a correction (issue #15).

The draft is the visitor's question in their own words and the agent's answer, generalised: personal data
(supportbot/pii.py) becomes a generic phrase ("your email address"), and greetings, thanks and sign-offs that only
made sense in that one conversation are left out. Nothing reaches visitors before an admin approves it, and the
reviewer can edit both parts first.

A draft whose question an existing article already asks (near-identical by embedding, among the articles
`kb.search` finds for it) is offered as an edit of that article: approving it rewrites that article's body, through
kb.services.article_write like every article, instead of adding a second page that would compete with it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import kb
from feedback.models import ArticleDraft
from feedback.services import MAX_CORRECTION_CHARS, FeedbackError
from kb import services as kb_services
from kb.embeddings import embed_query
from kb.models import Document
from supportbot.chat.escalation import wants_human
from supportbot.chat.models import Conversation, Message
from supportbot.jobs import job_enqueue_on_commit
from supportbot.pii import PLACEHOLDERS, pii_find

logger = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 300
# Cosine of the two questions' embeddings from which a draft counts as a duplicate. Measured with all-MiniLM-L6-v2
# on "Can I change the delivery address after my order has shipped?": rewordings scored 0.78-0.99, a different
# question on the same topic ("Can I cancel my order after it has shipped?") 0.64, section headings of the topic
# below 0.5. A false duplicate costs little: the reviewer sees it and can publish the draft as a new article.
DUPLICATE_SIMILARITY = 0.75
DUPLICATE_CANDIDATES = 5
# Articles Supportbot wrote itself, so it may rewrite them: corrections' FAQ pages (feedback/faq.py), the console's
# new entries (supportbot/console/services.py) and published drafts, which are new entries too. Anything else (an
# upload, a web page) belongs to its source, and a duplicate of it is published as a new article instead.
EDITABLE_FOLDERS = ("corrections", "kb-entries")
# Generic words for personal data, so the article reads as an answer to anyone.
GENERIC = {
    "EMAIL": "your email address",
    "PHONE": "your phone number",
    "CARD": "your card number",
    "IBAN": "your bank account",
    "NATIONAL_ID": "your ID number",
    "BUSINESS_ID": "your business number",
    "SECRET": "your credentials",
}
_SALUTATION = re.compile(r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b[^,.!?\n]{0,40}[,.!]\s*", re.I)
_PLEASANTRY = re.compile(
    r"^(?:thanks?|thank you|you're welcome|no problem|let me (?:check|look)|one moment|sorry for the wait|"
    r"(?:is there )?anything else|have a (?:nice|great|good) (?:day|evening|weekend)|glad (?:I could|to) help|"
    r"bye|cheers)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def draft_path(draft_id: int) -> Path:
    # Among the console's new entries: a folder of the data directory that ingestion accepts (kb/targets.py).
    return settings.DATA_DIR / "kb-entries" / f"draft-{draft_id}.md"


def text_generalise(text: str) -> str:
    """`text` without personal data (each finding becomes a generic phrase) and without the greetings, thanks
    and sign-offs that belong to one conversation."""
    for finding in reversed(pii_find(text)):
        text = text[: finding.start] + GENERIC[finding.kind] + text[finding.end :]
    # A widget that redacts stored its visitors' words with placeholders ("[EMAIL]") already.
    for kind, placeholder in PLACEHOLDERS.items():
        text = text.replace(placeholder, GENERIC[kind])
    kept = []
    for line in text.splitlines():
        line = _SALUTATION.sub("", line)
        sentences = [s for s in _SENTENCE_END.split(line.strip()) if s and not _PLEASANTRY.match(s)]
        kept.append(" ".join(sentences))
    return "\n".join(kept).strip()


def _question_of(conversation: Conversation, first_reply: Message) -> str:
    """The visitor's question the agent answered: the last thing they asked before the agent's first reply,
    not counting the request for a human."""
    asked = conversation.messages.filter(role=Message.Role.VISITOR, created_at__lte=first_reply.created_at)
    for message in asked.exclude(text="").order_by("-created_at", "-pk"):
        question = text_generalise(_impersonal(" ".join(message.text.split())))
        if len(question.split()) >= 3 and not wants_human(message.text):
            return question[:MAX_QUESTION_CHARS]
    return ""


def _impersonal(text: str) -> str:
    """The sentences of `text` that hold no personal data ("I'm jane@example.com, call me..." says nothing
    about the question), or all of it when every sentence does."""
    sentences = _SENTENCE_END.split(text)
    kept = [s for s in sentences if not pii_find(s) and not any(p in s for p in PLACEHOLDERS.values())]
    return " ".join(kept) if kept else text


def duplicate_find(*, question: str) -> tuple[Document | None, float]:
    """The existing article that asks `question` already, if any, and how similar the two questions are. The
    candidates are what `kb.search` finds for the question; an article's question is its title (an FAQ page's
    "FAQ: " taken off) or the heading of the section found."""
    results = kb.search(question, k=DUPLICATE_CANDIDATES)
    if not results:
        return None, 0.0
    asked = embed_query(question)
    best: tuple[int | None, float] = (None, 0.0)
    for result in results:
        for title in {result.title.removeprefix("FAQ: "), result.heading_path[-1] if result.heading_path else ""}:
            if title:
                similarity = float(np.dot(asked, embed_query(title)))
                if similarity > best[1]:
                    best = (result.document_id, similarity)
    if best[0] is None or best[1] < DUPLICATE_SIMILARITY:
        return None, best[1]
    return Document.objects.filter(pk=best[0]).first(), best[1]


def article_body(document: Document) -> str:
    """An editable article's body as written (no front matter, no title heading), or "" for any other."""
    path = editable_path(document)
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        text = text.split("\n---\n", 1)[-1]
    return re.sub(r"^\s*# [^\n]*\n", "", text, count=1).strip()


def editable_path(document: Document | None) -> Path | None:
    """The file of an article Supportbot wrote itself (see EDITABLE_FOLDERS), which a draft may rewrite."""
    if document is None or not document.uri.startswith("/"):
        return None
    path = Path(document.uri)
    folders = [(settings.DATA_DIR / name).resolve() for name in EDITABLE_FOLDERS]
    return path if any(path.is_relative_to(folder) for folder in folders) else None


def article_draft_create(*, conversation: Conversation, agent: AbstractBaseUser | None) -> ArticleDraft | None:
    """The draft article of a conversation an agent resolved; None when the agent never answered, or no question
    is left once personal data and pleasantries are out. Resolving again returns the first draft."""
    existing = ArticleDraft.objects.filter(conversation=conversation).first()
    if existing is not None:
        return existing
    replies = list(conversation.messages.filter(role=Message.Role.AGENT).exclude(text="").order_by("created_at", "pk"))
    if not replies:
        return None
    question = _question_of(conversation, replies[0])
    answer = "\n\n".join(filter(None, (text_generalise(m.text) for m in replies)))[:MAX_CORRECTION_CHARS]
    if not question or not answer:
        return None
    duplicate, similarity = duplicate_find(question=question)
    if duplicate is not None and editable_path(duplicate) is not None:
        # Offered as an edit: the reviewer starts from the article as it is, with the agent's answer added.
        answer = f"{article_body(duplicate)}\n\n{answer}".strip()[:MAX_CORRECTION_CHARS]
    return ArticleDraft.objects.create(
        conversation=conversation,
        question=question,
        answer=answer,
        duplicate_of=duplicate,
        duplicate_similarity=similarity if duplicate else None,
        resolved_by=agent,
    )


def article_draft_edit(*, draft_id: int, question: str, answer: str) -> ArticleDraft:
    """The reviewer's edit of a pending draft. Personal data typed in by hand is taken out like the agent's."""
    question, answer = text_generalise(" ".join(question.split())), text_generalise(answer.strip())
    if not question or not answer:
        raise FeedbackError("empty_draft", "an article needs a question and an answer")
    if len(question) > MAX_QUESTION_CHARS or len(answer) > MAX_CORRECTION_CHARS:
        raise FeedbackError(
            "draft_too_long",
            f"questions are limited to {MAX_QUESTION_CHARS}, answers to {MAX_CORRECTION_CHARS} characters",
        )
    with transaction.atomic():
        draft = _pending(draft_id)
        draft.question, draft.answer = question, answer
        draft.save(update_fields=["question", "answer", "updated_at"])
    return draft


def article_draft_approve(*, draft_id: int, approver: AbstractBaseUser | None, as_new: bool = False) -> ArticleDraft:
    """Approve a pending draft; it is published once the approval commits. `as_new` publishes a duplicate as an
    article of its own instead of an edit of the existing one."""
    from feedback import tasks

    with transaction.atomic():
        draft = _pending(draft_id)
        if as_new:
            draft.duplicate_of = None
        draft.status, draft.approved_by, draft.approved_at = ArticleDraft.Status.APPROVED, approver, timezone.now()
        draft.save(update_fields=["status", "duplicate_of", "approved_by", "approved_at", "updated_at"])
        job_enqueue_on_commit(tasks.article_draft_publish_task, draft.pk)
    return draft


def article_draft_reject(*, draft_id: int) -> ArticleDraft:
    """Reject a pending draft: nothing is published."""
    with transaction.atomic():
        draft = _pending(draft_id)
        draft.status = ArticleDraft.Status.REJECTED
        draft.save(update_fields=["status", "updated_at"])
    return draft


def _pending(draft_id: int) -> ArticleDraft:
    draft = ArticleDraft.objects.select_for_update().filter(pk=draft_id).first()
    if draft is None:
        raise FeedbackError("unknown_draft", "no such draft")
    if draft.status != ArticleDraft.Status.DRAFT:
        raise FeedbackError("draft_decided", f"this draft was already {draft.get_status_display().lower()}")
    return draft


def article_draft_publish(*, draft_id: int) -> ArticleDraft:
    """Write and ingest the article of an approved draft: a rewrite of the existing article it duplicates when
    that one is editable, else a page of its own at /help/articles/<id>/. Idempotent."""
    draft = ArticleDraft.objects.select_related("duplicate_of").get(pk=draft_id)
    if draft.status != ArticleDraft.Status.APPROVED:
        return draft
    target = draft.duplicate_of
    path = editable_path(target)
    if target is not None and path is not None:
        title, url = target.title, target.url
    else:
        path, title, url = draft_path(draft.pk), f"FAQ: {draft.question}", draft.article_url
    document, errors = kb_services.article_publish(path=path, title=title, url=url, body=draft.answer)
    if document is None:
        logger.error("article draft %s: ingesting its article failed: %s", draft.pk, errors)
        return draft
    ArticleDraft.objects.filter(pk=draft.pk).update(document=document)
    draft.document = document
    return draft
