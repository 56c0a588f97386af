"""The widget in Korean, in a real browser (Debian's chromium through Playwright) against a real server whose
demo knowledge base holds the Korean help centre too, with no LLM configured (the offline answerer answers)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
QUESTION = "답변 옆에 표시되는 신뢰도 배지는 무슨 뜻인가요?"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_a_korean_visitor_gets_a_korean_widget_and_a_korean_answer(live_server_process, page: Page, artifacts):
    server = live_server_process
    strings = []
    page.on("response", lambda r: strings.append(r.url) if "/api/widget/strings" in r.url else None)
    # given: the Korean demo page (<html lang="ko">), in a browser that prefers English
    page.goto(server.url + "/ko/")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    launcher = page.locator("#supportbot-widget .launcher")
    expect(launcher).to_have_text("Supportbot 도움말")  # the Korean demo widget's own title
    launcher.click()
    expect(page.locator("#supportbot-widget .msg.bot").first).to_have_text(
        "안녕하세요! 제품에 관해 무엇이든 물어보세요."
    )
    # then: the widget's own words are Korean
    question = page.get_by_role("textbox", name="질문")
    expect(question).to_have_attribute("placeholder", "질문을 입력하세요…")
    expect(page.locator("#supportbot-widget form.compose button")).to_have_text("보내기")
    expect(page.locator("#supportbot-widget .human")).to_have_text("상담원 연결")
    expect(page.get_by_role("button", name="채팅 닫기")).to_be_visible()
    assert len(strings) == 1 and "lang=ko" in strings[0]
    # when: the visitor asks in Korean
    question.fill(QUESTION)
    page.keyboard.press("Enter")
    # then: a Korean answer quoted from the Korean page, with a citation that leads to it
    answer = page.locator(".msg.bot[data-message-id]").last
    source = answer.locator(".sources a").first
    expect(source).to_be_visible(timeout=20000)
    text = answer.locator(".md").inner_text()
    assert len(HANGUL.findall(text)) > 20 and re.search(r"\[\d\]", text)
    href = source.get_attribute("href")
    assert re.search(r"/help/ko/confidence-levels/#\S+$", href), href
    # and a Korean confidence badge with its hint, and the time in Korean
    badge = answer.locator(".badge")
    expect(badge).to_have_text(re.compile("^신뢰도 (높음|보통|낮음)$"))
    assert HANGUL.search(badge.get_attribute("title"))
    expect(answer.get_by_role("button", name="도움이 안 됐어요")).to_be_visible()
    expect(answer.locator("time")).to_have_text(re.compile(r"^(오전|오후) \d{1,2}:\d{2}$"))
    page.screenshot(path=artifacts / "widget-korean-answer.png")
    # when: the visitor rates it down
    answer.get_by_role("button", name="도움이 안 됐어요").click()
    reasons = answer.get_by_role("combobox", name="무엇이 문제였나요?")
    expect(reasons.locator("option").first).to_have_text("틀림")
    answer.get_by_role("button", name="의견 보내기").click()
    expect(answer.get_by_text("의견을 보내 주셔서 감사합니다.")).to_be_visible()
    # when: the citation is followed
    page.goto(href)
    # then: the Korean help page, at the cited section
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    anchor = href.split("#", 1)[1]
    assert page.evaluate("(id) => !!document.getElementById(decodeURIComponent(id))", anchor)


def test_an_english_page_keeps_the_english_widget_without_asking_for_strings(live_server_process, page: Page):
    requested = []
    page.on("request", lambda r: requested.append(r.url) if "/api/widget/strings" in r.url else None)
    page.goto(live_server_process.url + "/")
    page.locator("#supportbot-widget .launcher").click()
    expect(page.get_by_role("textbox", name="Your question")).to_have_attribute("placeholder", "Ask a question…")
    expect(page.locator("#supportbot-widget .human")).to_have_text("Talk to a human")
    assert requested == []
