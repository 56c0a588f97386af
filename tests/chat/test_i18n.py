"""The visitor is spoken to in their language: the widget's strings, the bot's own texts, Korean help pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections
from django.utils import translation

from kb.models import Document
from supportbot.answering import pipeline
from supportbot.answering.sentences import sentences_split
from supportbot.chat.ask import question_ask
from supportbot.chat.services import widget_ensure_demo
from supportbot.chat.visitor_language import frame_language, language_supported, visitor_language
from supportbot.chat.widget_strings import widget_strings_for
from tests.chat.conftest import ORIGIN, ask, open_chat

DEMO_KO = Path(__file__).resolve().parents[2] / "kb" / "demo" / "docs-ko"
NO_CONTEXT_KO = "도움말 센터에서 그에 관한 내용을 찾지 못했습니다"
HUMAN_OFFER_KO = "상담원과 이야기하시겠어요?"


@pytest.fixture
def korean_help_centre(ingest):
    job = ingest(DEMO_KO)
    assert job.status == "succeeded", job.errors
    widget_ensure_demo()
    return job


# --- Which language -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("ko", "ko", id="ko"),
        pytest.param("ko-KR", "ko", id="region"),
        pytest.param("KO_kr", "ko", id="underscore-upper"),
        pytest.param("en-GB", "en", id="en-region"),
        pytest.param("fr", "", id="unsupported"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="none"),
    ],
)
def test_language_codes_are_reduced_to_a_supported_one(code, expected):
    assert language_supported(code) == expected


@pytest.mark.parametrize(
    ("text", "fallback", "expected"),
    [
        pytest.param("위젯은 어떻게 설치하나요?", "en", "ko", id="korean-on-an-english-page"),
        pytest.param("How do I install the widget on my site?", "ko", "en", id="english-on-a-korean-page"),
        pytest.param("ok thanks", "ko", "ko", id="too-short-to-tell"),
        pytest.param("12345 ?!", "ko", "ko", id="no-letters"),
        pytest.param("Comment installer le widget sur mon site ?", "ko", "ko", id="unsupported-language"),
        pytest.param("Comment installer le widget sur mon site ?", "xx", "en", id="nothing-known-is-english"),
    ],
)
def test_the_message_decides_then_the_page_then_english(text, fallback, expected):
    assert visitor_language(text, fallback=fallback) == expected


def test_frames_without_text_keep_the_language_of_the_last_message():
    # given: a Korean page (the socket URL's lang)
    # then
    assert frame_language({"type": "escalate"}, page="ko") == "ko"
    assert frame_language({"type": "message", "text": "How do I embed the widget?"}, page="ko") == "en"
    assert frame_language({"type": "escalate"}, page="ko", spoken="en") == "en"
    assert frame_language({"type": "feedback", "lang": "ko-KR"}, page="") == "ko"
    assert frame_language({"type": "ping"}, page="") == "en"


# --- The widget's strings -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_widget_gets_its_korean_strings_cached_and_readable_from_its_origins(client, widget):
    # when
    response = client.get("/api/widget/strings?lang=ko-KR&key=test-widget", HTTP_ORIGIN=ORIGIN)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["lang"] == "ko"
    assert body["strings"]["Talk to a human"] == "상담원 연결"
    assert body["strings"]["Confident"] == "신뢰도 높음"
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "max-age=3600" in response["Cache-Control"] and "Origin" in response["Vary"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "origin"),
    [
        pytest.param("lang=ko&key=test-widget", "https://elsewhere.example", id="origin-not-allowed"),
        pytest.param("lang=ko&key=no-such-key", ORIGIN, id="unknown-key"),
    ],
)
def test_other_sites_cannot_read_the_strings(client, widget, query, origin):
    response = client.get(f"/api/widget/strings?{query}", HTTP_ORIGIN=origin)
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["lang=fr", "lang=", "", "lang=%00%ff"])
def test_unknown_languages_get_english_which_the_widget_already_has(client, query):
    response = client.get(f"/api/widget/strings?{query}")
    assert response.status_code == 200
    assert response.json() == {"lang": "en", "strings": {}}


def test_strings_are_translated_whatever_language_the_request_was_in():
    with translation.override("en"):
        korean = widget_strings_for("ko")
    assert korean["Send"] == "보내기" and "{reference}" in korean[next(k for k in korean if "{reference}" in k)]


def test_post_is_refused(client):
    assert client.post("/api/widget/strings?lang=ko").status_code == 405


# --- The bot's own texts over the websocket -------------------------------------------------------------------


@pytest.fixture
async def _close_connections():
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_connections")
async def test_a_korean_question_gets_the_bots_own_texts_in_korean(widget, no_llm):
    # given: an empty knowledge base, so the bot says it found nothing and offers a human
    chat, _ = await open_chat()
    # when
    _, answer = await ask(chat, "환불 정책이 어떻게 되나요?")
    await chat.send_json_to({"type": "escalate"})
    escalated = await chat.receive_json_from(timeout=5)
    await chat.disconnect()
    # then
    assert answer["text"].startswith(NO_CONTEXT_KO) and HUMAN_OFFER_KO in answer["text"]
    assert answer["escalation_offered"] is True
    assert escalated["type"] == "escalated"
    assert escalated["detail"].startswith("지금은 연결 가능한 상담원이 없습니다")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_connections")
async def test_an_english_question_on_a_korean_page_is_answered_in_english(widget, no_llm):
    chat, _ = await open_chat()
    # when: the widget says its page is Korean, the visitor writes English
    _, english = await ask(chat, "What is your refund policy for annual plans?", lang="ko")
    _, short = await ask(chat, "ok?", lang="ko")
    await chat.disconnect()
    # then: the message's language wins; a message too short to tell keeps the last one's
    with translation.override("en"):
        expected = f"{pipeline.NO_CONTEXT} {pipeline.HUMAN_OFFER}"
    assert english["text"] == expected and short["text"] == expected


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_connections")
async def test_error_frames_keep_their_codes_for_the_widget_to_translate(widget, no_llm):
    chat, _ = await open_chat()
    await chat.send_json_to({"type": "message", "text": "   ", "lang": "ko"})
    error = await chat.receive_json_from(timeout=5)
    await chat.disconnect()
    assert error["type"] == "error" and error["code"] == "empty_message"


# --- The offline answerer on Korean text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "위젯은 스크립트 하나입니다. 버튼을 누르면 창이 열립니다.",
            ["위젯은 스크립트 하나입니다.", "버튼을 누르면 창이 열립니다."],
            id="korean",
        ),
        pytest.param(
            "ウィジェットは一行です。すぐに使えます！本当？",
            ["ウィジェットは一行です。", "すぐに使えます！", "本当？"],
            id="japanese",
        ),
        pytest.param("It works. Version 1.2 is out.", ["It works.", "Version 1.2 is out."], id="english-decimals"),
    ],
)
def test_sentences_end_at_korean_and_japanese_sentence_ends(text, expected):
    assert sentences_split(text) == expected


@pytest.mark.django_db(transaction=True)
def test_the_offline_answerer_answers_a_korean_question_in_korean_from_the_right_page(korean_help_centre, no_llm):
    # when
    result = async_to_sync(question_ask)(
        text="답변 옆에 표시되는 신뢰도 배지는 무슨 뜻인가요?", visitor_id="ko-visitor-01"
    )
    # then: Korean sentences quoted from the confidence page, with citations that lead to it
    assert re.search(r"[\uac00-\ud7a3]{2,}", result["answer"])
    assert not re.search(r"\b(the|and|is)\b", result["answer"])
    assert result["citations"] and re.search(r"\[\d\]", result["answer"])
    assert result["citations"][0]["url"].startswith("/help/ko/confidence-levels/#")
    assert result["model"] == pipeline.OFFLINE_MODEL


# --- Korean help pages and the Korean demo page ----------------------------------------------------------------


@pytest.mark.django_db
def test_korean_help_pages_are_served_in_korean_with_the_anchors_citations_use(korean_help_centre, client):
    # given
    document = Document.objects.get(url="/help/ko/embedding-the-widget/")
    anchor = document.chunks.exclude(anchor="").last().anchor
    # when: even a browser that prefers English gets the page in its own language
    response = client.get(document.url, HTTP_ACCEPT_LANGUAGE="en")
    # then
    page = response.content.decode()
    assert response.status_code == 200 and response["Content-Language"] == "ko"
    assert '<html lang="ko">' in page and f'id="{anchor}"' in page and re.search(r"[\uac00-\ud7a3]", anchor)
    assert "Supportbot 도움말</title>" in page
    assert client.get("/help/ko/no-such-page/").status_code == 404
    assert client.get("/help/ko/%ED%95%9C%EA%B8%80/").status_code == 404  # a Unicode slug is looked up, not a 500


@pytest.mark.django_db
def test_a_help_page_with_a_unicode_path_is_served(write_docs, ingest, client):
    # given
    folder = write_docs(
        {"guide.md": "---\ntitle: 설치 안내\nurl: /help/ko/설치-안내/\n---\n\n# 설치 안내\n\n위젯을 설치합니다.\n"}
    )
    assert ingest(folder).status == "succeeded"
    # then: both the percent-encoded and the Unicode form of the address reach it
    assert client.get("/help/ko/%EC%84%A4%EC%B9%98-%EC%95%88%EB%82%B4/").status_code == 200
    assert "위젯을 설치합니다" in client.get("/help/ko/설치-안내/").content.decode()


@pytest.mark.django_db
def test_the_korean_demo_page_lists_the_korean_help_centre(korean_help_centre, ingest, client):
    # given: the English demo pages too
    assert ingest(DEMO_KO.parent / "docs").status == "succeeded"
    # when
    korean, english = client.get("/ko/"), client.get("/", HTTP_ACCEPT_LANGUAGE="ko")
    # then
    page = korean.content.decode()
    assert '<html lang="ko">' in page and "Supportbot 도움말 센터" in page and 'data-key="demo-ko"' in page
    assert page.count('href="/help/ko/') == 11 and 'href="/help/getting-started/"' not in page
    english_page = english.content.decode()
    assert '<html lang="en">' in english_page and 'href="/help/ko/' not in english_page
    assert 'data-key="demo"' in english_page
    assert 'href="/help/getting-started/"' in english_page and 'href="/ko/"' in english_page
