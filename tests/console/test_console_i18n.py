"""The agent console in Korean: picked from the browser's Accept-Language or chosen with the language switch,
with dates, numbers and choice labels in the active locale."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from supportbot.chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_afterwards():
    # The test client's LocaleMiddleware activates a language in this thread; don't let it leak into other tests.
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def conversation(widget):
    conversation = Conversation.objects.create(widget=widget, visitor_id="visitor-ko-01", status="escalated")
    Conversation.objects.filter(pk=conversation.pk).update(created_at=datetime(2026, 3, 7, 14, 5, tzinfo=UTC))
    Message.objects.create(conversation=conversation, role="visitor", text="위젯이 안 보여요")
    Message.objects.create(
        conversation=conversation, role="bot", text="설정을 확인하세요 [1].", confidence=0.8125, confidence_label="high"
    )
    return conversation


@pytest.mark.parametrize(
    ("header", "nav", "sign_out", "lang"),
    [
        pytest.param("ko-KR,ko;q=0.9,en;q=0.5", "받은 대화함", "로그아웃", "ko", id="korean-browser"),
        pytest.param("en-US,en;q=0.9", "Inbox", "Sign out", "en", id="english-browser"),
        pytest.param("fr-FR,fr;q=0.9", "Inbox", "Sign out", "en", id="unsupported-falls-back-to-english"),
    ],
)
def test_the_console_speaks_the_browsers_language(agent_client, header, nav, sign_out, lang):
    # when
    response = agent_client.get(reverse("console:inbox"), HTTP_ACCEPT_LANGUAGE=header)
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in page and nav in page and sign_out in page
    assert response["Content-Language"] == lang


def test_an_agent_switches_the_console_to_korean_and_back(agent_client):
    # given: an English browser
    english = {"HTTP_ACCEPT_LANGUAGE": "en"}
    page = agent_client.get(reverse("console:inbox"), **english).content.decode()
    assert 'action="/i18n/setlang/"' in page and "Change language" in page
    # when: the agent picks Korean in the language switch
    switched = agent_client.post("/i18n/setlang/", {"language": "ko", "next": "/console/"}, **english)
    # then: back on the console, in Korean, and it stays Korean
    assert switched.status_code == 302 and switched["Location"] == "/console/"
    assert agent_client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
    page = agent_client.get(reverse("console:review"), **english).content.decode()
    assert '<html lang="ko">' in page and "검토 대기열" in page and "언어 변경" in page
    # when: back to English
    agent_client.post("/i18n/setlang/", {"language": "en", "next": "/console/"}, **english)
    assert "Review queue" in agent_client.get(reverse("console:review"), **english).content.decode()


def test_a_bad_language_choice_changes_nothing(agent_client):
    response = agent_client.post("/i18n/setlang/", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"  # no open redirect either
    assert settings.LANGUAGE_COOKIE_NAME not in agent_client.cookies


def test_dates_numbers_and_labels_follow_the_locale(agent_client, conversation):
    url = reverse("console:conversation", args=[conversation.pk])
    # when
    korean = agent_client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    english = agent_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # then: Django's Korean and English formats for the start time, the role labels translated
    assert "<dd>2026-3-7 14:05</dd>" in korean
    assert "<dd>03/07/2026 2:05 p.m.</dd>" in english
    assert "<strong>첫 질문:</strong> 위젯이 안 보여요" in korean and "<strong>봇:</strong> 설정을 확인하세요" in korean


def test_the_javascript_catalogue_is_korean_for_a_korean_console(agent_client):
    response = agent_client.get(reverse("console:jsi18n"), HTTP_ACCEPT_LANGUAGE="ko")
    body = response.content.decode()
    assert response.status_code == 200
    assert f'"Live updates connected": {json.dumps("실시간 업데이트 연결됨")}' in body
    english = agent_client.get(reverse("console:jsi18n"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Live updates connected" not in english  # nothing to translate: the scripts keep their English


def test_choice_labels_are_translated(agent_client, conversation):
    with translation.override("ko"):
        assert conversation.get_status_display() == "상담원 연결됨"
        assert Message(role="visitor").get_role_display() == "방문자"
    with translation.override("en"):
        assert conversation.get_status_display() == "Escalated"
