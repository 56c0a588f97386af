"""A live conversation between a visitor on one server and an agent on another, as the scale-out tests drive it."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.scaleout.clients import Peer, agent_connect, visitor_connect

ASK_FOR_HUMAN = "I want to talk to a human, please."


@dataclass
class LiveConversation:
    visitor: Peer
    agent: Peer
    conversation_id: str

    async def agent_says(self, text: str) -> None:
        """The agent replies; the visitor must see it (through the channel layer) and the agent gets "done"."""
        await self.agent.send({"type": "reply", "conversation_id": self.conversation_id, "text": text})
        await self.agent.expect("done", action="reply")
        frame = await self.visitor.expect("agent_message")
        assert frame["text"] == text

    async def visitor_says(self, text: str, client_id: str) -> None:
        """The visitor writes; it is acknowledged ("received") and shows up live in the agent's console."""
        await self.visitor.send({"type": "message", "text": text, "client_id": client_id})
        await self.visitor.expect("received", client_id=client_id)
        await self.agent_sees(text)

    async def agent_sees(self, text: str) -> None:
        while True:
            frame = await self.agent.expect("message", conversation_id=self.conversation_id)
            if frame["message"]["text"] == text:
                return

    async def close(self) -> None:
        await self.visitor.close()
        await self.agent.close()


async def conversation_start(visitor_ws: str, agent_ws: str, *, session_key: str, visitor: str) -> LiveConversation:
    """An agent's console is open on one server; a new visitor on another asks for a human, the escalation reaches
    the console live, and the agent watches the conversation and takes it over. `visitor` names the visitor's
    client ids; the visitor id itself is the one the server issues."""
    agent = await agent_connect(agent_ws, session_key=session_key)
    await agent.expect("hello")
    peer = await visitor_connect(visitor_ws)
    await peer.expect("session")
    await peer.send({"type": "message", "text": ASK_FOR_HUMAN, "client_id": f"{visitor}-ask"})
    await peer.expect("received", client_id=f"{visitor}-ask")
    await peer.expect("escalated")
    conversation_id = (await agent.expect("escalated"))["row"]["id"]
    await agent.send({"type": "watch", "conversation_id": conversation_id})
    await agent.expect("transcript", conversation_id=conversation_id)
    await agent.send({"type": "take_over", "conversation_id": conversation_id})
    await agent.expect("done", action="take_over")
    notice = await peer.expect("notice")
    assert "joined" in notice["text"]
    return LiveConversation(visitor=peer, agent=agent, conversation_id=conversation_id)


def in_own_loop(test):
    """Run an async test on an event loop of its own, in a thread. These tests only drive real servers from the
    outside, and a browser test earlier in the session can leave Playwright's loop marked as running in the
    main thread, where pytest-asyncio would refuse to start another."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, test(*args, **kwargs)).result()

    return run
