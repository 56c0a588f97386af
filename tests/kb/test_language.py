"""Language detection: scripts decide Korean, Japanese and Chinese; py3langid the rest; code is not language."""

from __future__ import annotations

import pytest

from kb.language import language_detect

KOREAN_PAGE = """# 위젯 키와 허용 도메인

위젯마다 공개 키 하나와 위젯을 띄울 수 있는 웹사이트 목록이 있습니다.

```bash
KB_EMBEDDING_MODEL=multilingual-e5-small python manage.py reembed --verbosity 2 --settings supportbot.settings
```

`https://www.example.com`은 HTTPS로 접속한 바로 그 호스트만 허용합니다.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Where do I paste the widget snippet on my website?", "en", id="english"),
        pytest.param("위젯 코드를 홈페이지 어디에 붙여 넣어야 하나요?", "ko", id="korean"),
        pytest.param("ウィジェットのコードはどこに貼り付ければいいですか。", "ja", id="japanese"),
        pytest.param("我应该把聊天窗口的代码放在网站的哪里？", "zh", id="chinese"),
        pytest.param("Wo füge ich den Code für das Chat-Fenster auf meiner Webseite ein?", "de", id="german"),
        pytest.param("Où dois-je coller le code du widget sur mon site web ?", "fr", id="french"),
        pytest.param("KB_EMBEDDING_MODEL 설정은 어떻게 바꾸나요?", "ko", id="korean-with-english-names"),
        pytest.param(KOREAN_PAGE, "ko", id="korean-page-full-of-code"),
    ],
)
def test_the_main_language_is_detected(text, expected):
    assert language_detect(text) == expected


def test_an_english_page_quoting_a_korean_greeting_stays_english():
    text = "The greeting is shown before the first message. " * 20 + "For example: 안녕하세요, 무엇을 도와드릴까요?"
    assert language_detect(text) == "en"


@pytest.mark.parametrize(
    "text", ["", "   ", "12345 67.89", "```\n$ make run\n```"], ids=["empty", "blank", "digits", "code"]
)
def test_text_without_letters_gets_the_default(text):
    assert language_detect(text) == "en"
    assert language_detect(text, default="und") == "und"
