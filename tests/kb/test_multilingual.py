"""Korean first, multilingual end to end: sentence-aware chunking, CJK keyword search, language detection, and
cross-lingual retrieval with the multilingual embedding model (multilingual-e5-small, 384-d like the default,
so the vector column needs no change to switch within a test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.db import connection

import kb
from kb.chunking import chunk_markdown, chunk_text
from kb.embeddings import BUNDLED_MODEL, MULTILINGUAL_MODEL, QUERY, embed_query, embedder
from kb.models import Document, KnowledgeBaseState, LexemeStat
from kb.reembedding import documents_reembed
from supportbot.evaluation.cases import cases_load
from supportbot.evaluation.retrieval import retrieval_evaluate

DEMO = Path(__file__).resolve().parents[2] / "kb" / "demo"
SENTENCE_ENDS = (".", "!", "?", "。", "！", "？")

KOREAN = (
    "위젯 키는 관리 화면에서 발급합니다. 키마다 허용할 웹사이트 주소를 등록해야 합니다. "
    "등록되지 않은 주소에서 위젯을 열면 연결이 거부돼요. 키가 유출되었다면 즉시 폐기하세요! "
    "폐기한 키로 열린 대화는 바로 끊어지나요? 네, 바로 끊어집니다. 궁금한 점이 있으면 지원팀에 문의하세요."
)
JAPANESE = (
    "ウィジェットキーは管理画面で発行します。キーごとに許可するサイトのアドレスを登録してください。"
    "登録されていないアドレスからは接続できません！キーが漏れた場合はすぐに無効にしてください。"
    "無効にしたキーの会話は切断されますか？はい、すぐに切断されます。"
)


def _sentences(text: str) -> list[str]:
    sentences, current = [], ""
    for char in text:
        current += char
        if char in SENTENCE_ENDS:
            sentences.append(current.strip())
            current = ""
    return sentences


@pytest.mark.parametrize("text", [pytest.param(KOREAN, id="korean"), pytest.param(JAPANESE, id="japanese")])
@pytest.mark.parametrize("kind", ["text", "markdown"])
@pytest.mark.parametrize("overlap", [0, 10])
def test_chunks_end_at_korean_and_japanese_sentence_boundaries(text, kind, overlap):
    # given: chunks too small for the whole paragraph but big enough for any one sentence
    # when
    if kind == "markdown":
        chunks = chunk_markdown(f"# 안내\n\n## 위젯 키\n\n{text}\n", max_tokens=40, overlap=overlap)
    else:
        chunks = chunk_text(text, max_tokens=40, overlap=overlap)
    # then: the paragraph is cut, but only after 다. / 요. / 。 / ！ / ？ and never inside a sentence
    assert len(chunks) > 1
    assert all(c.text.endswith(SENTENCE_ENDS) for c in chunks)
    assert all(any(s in c.text for c in chunks) for s in _sentences(text))


HELP_PAGES = {
    "ko-keys.md": "---\ntitle: 위젯 키 관리\n---\n# 위젯 키 관리\n\n## 키 교체\n\n"
    "키를 교체하면 새 키가 즉시 발급되고, 이전 키는 24시간 동안 계속 동작합니다.\n",
    "ko-privacy.md": "---\ntitle: 개인정보 보관\n---\n# 개인정보 보관\n\n## 보관 기간\n\n"
    "대화 기록은 마지막 메시지로부터 90일 동안 보관한 뒤 삭제합니다.\n",
    "ko-handover.md": "---\ntitle: 상담원 연결\n---\n# 상담원 연결\n\n## 운영 시간\n\n"
    "운영 시간이 아니면 방문자는 이메일 주소를 남기는 오프라인 양식을 보게 됩니다.\n",
    "ja-keys.md": "---\ntitle: ウィジェットキー\n---\n# ウィジェットキー\n\n## キーの無効化\n\n"
    "キーが漏れた場合は、管理画面ですぐに無効にしてください。新しいキーが発行されます。\n",
    "en-keys.md": "---\ntitle: Widget keys\n---\n# Widget keys\n\n## Rotating a key\n\n"
    "Rotating a key issues a new one at once; the old key keeps working for 24 hours.\n",
}


@pytest.fixture
def help_pages(ingest, write_docs):
    job = ingest(write_docs(HELP_PAGES))
    assert job.status == "succeeded", job.errors
    return job


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # No word of the question appears in the page as written ("교체하는" vs "교체하면", "기록이" vs "기록은"):
        # only the shared character bigrams connect them.
        pytest.param("키를 교체하는 방법", "ko-keys.md", id="korean-rotation"),
        pytest.param("채팅 기록이 며칠이나 보관되나요", "ko-privacy.md", id="korean-retention"),
        pytest.param("운영시간 외에는 어떻게 되나요", "ko-handover.md", id="korean-no-spaces"),
        pytest.param("キーを無効にする方法", "ja-keys.md", id="japanese"),
    ],
)
def test_keyword_search_finds_korean_and_japanese_pages(help_pages, question, expected):
    results = kb.search(question, k=3, mode="keyword")
    assert results and results[0].source.endswith(expected)


@pytest.mark.django_db
def test_cjk_bigrams_are_indexed_and_counted_for_bm25(help_pages):
    # given
    document = Document.objects.get(uri__endswith="ko-keys.md")
    # when
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(search_vector) FROM kb_chunk WHERE document_id = %s", [document.pk])
        lexemes = set(cursor.fetchone()[0])
    # then: the words as Postgres cuts them, plus their bigrams; the corpus statistics know the bigrams
    assert {"교체하면", "교체", "체하", "하면", "동작합니다", "동작", "작합", "합니", "니다"} <= lexemes
    assert LexemeStat.objects.get(lexeme="교체").ndoc == 1


@pytest.mark.django_db
def test_english_full_text_is_unchanged():
    # The CJK additions are empty for English: the same lexemes and the same query as before they existed.
    text = "Rotating a widget key issues a new one at once; the old key keeps working for 24 hours."
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kb_tsvector('english', %(t)s) = to_tsvector('english', %(t)s), "
            "kb_tsquery('english', %(t)s)::text = replace(plainto_tsquery('english', %(t)s)::text, '&', '|')",
            {"t": text},
        )
        assert cursor.fetchone() == (True, True)


@pytest.mark.django_db
def test_each_document_gets_its_language_at_ingestion(help_pages):
    languages = {Path(d.uri).name: d.language for d in Document.objects.all()}
    assert languages == {
        "ko-keys.md": "ko",
        "ko-privacy.md": "ko",
        "ko-handover.md": "ko",
        "ja-keys.md": "ja",
        "en-keys.md": "en",
    }


@pytest.fixture
def multilingual(settings):
    """The multilingual model for one test; the process-wide embedder is rebuilt before and after."""
    settings.KB_EMBEDDING_MODEL = MULTILINGUAL_MODEL
    settings.KB_EMBEDDING_DIMENSIONS = 384
    embedder.cache_clear()
    yield settings
    embedder.cache_clear()


def test_the_multilingual_model_embeds_questions_and_passages_differently(multilingual):
    # given
    model = embedder()
    text = "위젯 키를 교체하면 이전 키는 언제까지 동작하나요?"
    # when
    passage = model.embed([text])
    query = model.embed([text], kind=QUERY)
    # then: both are unit float32 384-d vectors; the default stays "passage" so existing callers are unaffected
    assert model.model_name == MULTILINGUAL_MODEL and model.dimensions == 384
    assert passage.shape == query.shape == (1, 384) and passage.dtype == np.float32
    assert np.allclose(np.linalg.norm(np.vstack([passage, query]), axis=1), 1.0, atol=1e-5)
    assert 0.8 < float(passage[0] @ query[0]) < 0.999
    assert np.allclose(embed_query(text), query[0], atol=1e-6)
    assert model.embed([]).shape == (0, 384)


def _cases(name: str, documents: list[str], tmp_path: Path):
    kept = [
        line for line in (DEMO / name).read_text(encoding="utf-8").splitlines() if any(d in line for d in documents)
    ]
    path = tmp_path / name
    path.write_text("\n".join(kept), encoding="utf-8")
    return cases_load(path)


KOREAN_PAGES = ["widget-keys-and-allowed-origins.md", "accounts-and-security.md", "rate-limits-and-abuse-protection.md"]
ENGLISH_PAGES = [
    "guardrails-and-safety.md",
    "connecting-an-llm.md",
    "widget-keys-and-allowed-origins.md",
    "handing-over-to-a-human.md",
    "rate-limits-and-abuse-protection.md",
]


@pytest.mark.django_db
def test_korean_help_centre_with_the_multilingual_model_and_without(multilingual, ingest, tmp_path):
    # given: part of the Korean demo help centre, embedded with the multilingual model
    job = ingest(*(DEMO / "docs-ko" / name for name in KOREAN_PAGES))
    assert job.status == "succeeded", job.errors
    korean = _cases("eval-ko.jsonl", KOREAN_PAGES, tmp_path)
    english = _cases("eval-en-over-ko.jsonl", KOREAN_PAGES, tmp_path)
    # when
    with_e5 = retrieval_evaluate(korean, k=5, modes=("hybrid", "vector"))["modes"]
    english_over_korean = retrieval_evaluate(english, k=5, modes=("hybrid",))["modes"]["hybrid"]
    # and: the same chunks re-embedded with the English-only default (same dimensions, so only the vectors change)
    multilingual.KB_EMBEDDING_MODEL = BUNDLED_MODEL
    embedder.cache_clear()
    with connection.cursor() as cursor:
        # The test's own uncommitted inserts leave deferred foreign-key checks that would block reembed's ALTER
        # TABLE; a real reembed starts in a transaction of its own.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    state = documents_reembed()
    with_minilm = retrieval_evaluate(korean, k=5, modes=("hybrid", "vector"))["modes"]
    # then: Korean paraphrases and English questions find the Korean sections; MiniLM does clearly worse
    assert len(korean) >= 15 and len(english) >= 8
    assert with_e5["hybrid"]["hit@5"] >= 0.85 and with_e5["hybrid"]["section_hit@5"] >= 0.8
    assert english_over_korean["section_hit@5"] >= 0.75
    assert with_e5["vector"]["section_mrr"] >= with_minilm["vector"]["section_mrr"] + 0.3
    assert with_e5["hybrid"]["section_mrr"] >= with_minilm["hybrid"]["section_mrr"] + 0.15
    assert state.embedding_model == BUNDLED_MODEL == KnowledgeBaseState.objects.get().embedding_model


@pytest.mark.django_db
def test_korean_questions_find_english_sections_with_the_multilingual_model(multilingual, ingest, tmp_path):
    # given: English help pages only, embedded with the multilingual model
    job = ingest(*(DEMO / "docs" / name for name in ENGLISH_PAGES))
    assert job.status == "succeeded", job.errors
    cases = _cases("eval-ko-over-en.jsonl", ENGLISH_PAGES, tmp_path)
    # when
    hybrid = retrieval_evaluate(cases, k=5, modes=("hybrid",))["modes"]["hybrid"]
    # then
    assert len(cases) >= 6
    assert hybrid["section_hit@5"] >= 0.8
    top = kb.search("위젯 키를 바꾸면 예전 키는 언제까지 쓸 수 있나요?", k=1)[0]
    assert top.heading_path[-1] == "Rotating a key"
