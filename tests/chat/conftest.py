"""Helpers of the websocket tests: connect like the widget does and ask a question.

The fixtures these tests share with the other areas (widget, knowledge, llm, fake_llm, no_llm) are in
tests/conftest.py.
"""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from supportbot.asgi import application
from supportbot.chat import limits
from supportbot.chat.tokens import session_token_sign
from tests.conftest import FIXTURES, ORIGIN

__all__ = ["FIXTURES", "ORIGIN", "ask", "open_chat"]


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
    # Generous timeouts: the connect does database work, and CI machines can be busy.
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator, await communicator.receive_json_from(timeout=10)


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


@pytest.fixture
def generous(settings):
    """Every limit far away and no budget shares, so a test can bring down exactly the one it is about."""
    for name in [*limits.LIMIT_SETTINGS.values(), *limits.SESSION_LIMIT_SETTINGS.values()]:
        setattr(settings, name, 1000)
    settings.CHAT_DAILY_TOKEN_BUDGET = 1_000_000
    settings.CHAT_VISITOR_BUDGET_SHARE = settings.CHAT_ADDRESS_BUDGET_SHARE = 1.0
    return settings
