from __future__ import annotations

from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator

from supportbot.asgi import application
from supportbot.chat.models import Widget
from supportbot.chat.tokens import session_token_sign
from tests.fake_llm import FakeLLM

FIXTURES = Path(__file__).resolve().parents[1] / "kb" / "fixtures"
ORIGIN = "http://testserver"


@pytest.fixture
def fake_llm():
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def llm(settings, fake_llm) -> FakeLLM:
    """Point Supportbot at the local OpenAI-compatible server."""
    settings.OPENAI_BASE_URL = fake_llm.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.LLM_MODEL = "fake-model"
    settings.LLM_TIMEOUT_SECONDS = 2.0
    settings.LLM_MAX_RETRIES = 0
    return fake_llm


@pytest.fixture
def no_llm(settings) -> None:
    settings.OPENAI_BASE_URL = None
    settings.OPENAI_API_KEY = ""


@pytest.fixture
def widget(db) -> Widget:
    return Widget.objects.create(key="test-widget", name="Test", allowed_origins=[ORIGIN], title="Help")


@pytest.fixture
def knowledge(ingest):
    job = ingest(FIXTURES / "hybrid")
    assert job.status == "succeeded", job.errors
    return job


async def open_chat(
    *,
    key: str = "test-widget",
    visitor: str = "visitor-0001",
    conversation: str = "",
    origin: str = ORIGIN,
    token: str | None = None,
    address: str = "192.0.2.10",
) -> tuple[WebsocketCommunicator, dict]:
    """Connect like the widget does (with a session token for this key, origin and visitor unless one is given);
    return the communicator and the first frame it got."""
    if token is None:
        token = session_token_sign(widget_key=key, origin=origin, visitor_id=visitor)
    query = f"key={key}&visitor={visitor}&token={token}" + (f"&conversation={conversation}" if conversation else "")
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    communicator = WebsocketCommunicator(application, f"/ws/chat/?{query}", headers=headers)
    communicator.scope["client"] = [address, 50000]
    connected, _ = await communicator.connect()
    assert connected
    return communicator, await communicator.receive_json_from(timeout=5)


async def ask(communicator: WebsocketCommunicator, text: str, **extra) -> tuple[list[dict], dict]:
    """Send a question; return the token frames and the final answer (or escalation) frame."""
    await communicator.send_json_to({"type": "message", "text": text, **extra})
    received = await communicator.receive_json_from(timeout=5)
    assert received["type"] == "received", received
    tokens = []
    while True:
        frame = await communicator.receive_json_from(timeout=10)
        if frame["type"] == "token":
            tokens.append(frame)
            continue
        return tokens, frame
