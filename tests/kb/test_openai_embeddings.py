"""The `openai` embedding backend (KB_EMBEDDING_BACKEND=openai): vectors from an OpenAI-compatible endpoint,
asked through the one LLM boundary (supportbot.llm) with the real openai SDK over HTTP, from the local fake
server."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from kb.embeddings import OpenAIEmbedder, embedder
from tests.fake_llm import FakeLLM


@pytest.fixture
def endpoint(settings):
    server = FakeLLM().start()
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "embed-key"
    yield server
    server.stop()


@pytest.fixture
def openai_backend(settings, endpoint):
    """The process-wide embedder built from settings for the API backend, and forgotten again afterwards."""
    settings.KB_EMBEDDING_BACKEND, settings.KB_EMBEDDING_MODEL = "openai", "fake-embedding"
    settings.KB_EMBEDDING_DIMENSIONS, settings.KB_EMBEDDING_BATCH_SIZE = 4, 2
    embedder.cache_clear()
    yield endpoint
    embedder.cache_clear()


def unit_rows(rows: list[list[float]]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_texts_are_embedded_in_batches_in_their_order_and_normalised(endpoint):
    # given
    texts = ["a", "bbb", "cc", "dddd", "e"]
    model = OpenAIEmbedder("fake-embedding", 4, batch_size=2)
    # when
    vectors = model.embed(texts)
    # then: one request a batch, to the configured endpoint, with its key and the embedding model
    assert [request["body"]["input"] for request in endpoint.requests] == [["a", "bbb"], ["cc", "dddd"], ["e"]]
    assert {request["path"] for request in endpoint.requests} == {"/v1/embeddings"}
    assert {request["auth"] for request in endpoint.requests} == {"Bearer embed-key"}
    assert {request["body"]["model"] for request in endpoint.requests} == {"fake-embedding"}
    # then: every text gets its own vector although the server answered each batch in reverse order
    np.testing.assert_allclose(vectors, unit_rows([[len(text), 1, 1, 1] for text in texts]), rtol=1e-6)


def test_vectors_of_another_size_than_configured_are_a_clear_configuration_error(endpoint):
    # given
    model = OpenAIEmbedder("fake-embedding", 384, batch_size=8)
    # when / then
    with pytest.raises(ImproperlyConfigured, match="returns 4-d vectors but KB_EMBEDDING_DIMENSIONS is 384"):
        model.embed(["hello"])


def test_the_api_backend_is_chosen_by_settings_and_embeds_search_questions(openai_backend):
    # when
    chosen = embedder()
    vector = chosen.embed(["where is my invoice"], kind="query")[0]
    # then
    assert isinstance(chosen, OpenAIEmbedder) and chosen.model_name == "fake-embedding"
    np.testing.assert_allclose(vector, unit_rows([[19, 1, 1, 1]])[0], rtol=1e-6)
    assert openai_backend.requests[-1]["body"]["input"] == ["where is my invoice"]
