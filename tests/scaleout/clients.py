"""Websocket clients for the scale-out tests: a visitor on /ws/chat/, an agent on /ws/console/."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import ClientConnection, connect

WIDGET_KEY = "scaleout"


@dataclass
class Peer:
    """One open websocket and every frame it received, so a test can wait for a frame and look back at all."""

    ws: ClientConnection
    frames: list[dict] = field(default_factory=list)

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def expect(self, kind: str, *, timeout: float = 15, **match) -> dict:
        """The next frame of this type (and these field values); other frames are kept in `frames`."""
        seen = len(self.frames)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    frame = json.loads(await self.ws.recv())
                    self.frames.append(frame)
                    if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
                        return frame
        except TimeoutError:
            raise AssertionError(f"no {kind!r} frame {match} within {timeout} s; got {self.frames[seen:]}") from None

    async def expect_any(self, kinds: tuple[str, ...], *, timeout: float = 15) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                self.frames.append(frame)
                if frame.get("type") in kinds:
                    return frame

    async def close(self) -> None:
        await self.ws.close()


async def visitor_session(http_base: str, *, origin: str, visitor: str = "") -> tuple[str, str]:
    """What the widget does before every connect: POST /api/widget/session, sending the visitor id the server
    issued earlier (none for a new visitor); the server's visitor id and its session token."""
    body = {"key": WIDGET_KEY} | ({"visitor": visitor} if visitor else {})
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(f"{http_base}/api/widget/session", json=body, headers={"Origin": origin})
    assert response.status_code == 200, response.text
    return response.json()["visitor_id"], response.json()["token"]


async def visitor_connect(ws_base: str, *, visitor: str = "", conversation: str = "") -> Peer:
    """The one place a visitor's socket is opened: a new visitor, or the server-issued `visitor` coming back."""
    # A page Supportbot serves itself (the widget allows "*").
    origin = ws_base.replace("ws://", "http://")
    visitor, token = await visitor_session(origin, origin=origin, visitor=visitor)
    url = f"{ws_base}/ws/chat/?key={WIDGET_KEY}&visitor={visitor}&token={token}&conversation={conversation}"
    return Peer(await connect(url, origin=origin, open_timeout=20, ping_interval=None))


async def agent_connect(ws_base: str, *, session_key: str) -> Peer:
    """The console's socket, signed in through the session cookie; the origin must be the server's own host."""
    origin = ws_base.replace("ws://", "http://")
    headers = {"Cookie": f"sessionid={session_key}"}
    return Peer(
        await connect(
            f"{ws_base}/ws/console/", origin=origin, additional_headers=headers, open_timeout=20, ping_interval=None
        )
    )


# --- the console over HTTP ------------------------------------------------------------------------------------
class Console:
    """The knowledge-base pages of the console on one server, signed in with the agent's session."""

    def __init__(self, http_base: str, *, session_key: str):
        self.client = httpx.Client(base_url=http_base, cookies={"sessionid": session_key}, timeout=30)

    def upload(self, files: dict[str, str]) -> int:
        """Upload documents as the console's form does; return the id of the ingestion job it started."""
        page = self.client.get("/console/kb/")
        assert page.status_code == 200, page.status_code
        token = self.client.cookies["csrftoken"]
        posted = self.client.post(
            "/console/kb/upload",
            data={"csrfmiddlewaretoken": token},
            files=[("files", (name, text.encode(), "text/markdown")) for name, text in files.items()],
        )
        assert posted.status_code == 302, posted.text[:500]
        return max(job["id"] for job in self.jobs())

    def jobs(self) -> list[dict]:
        response = self.client.get("/console/kb/jobs.json")
        assert response.status_code == 200, response.status_code
        return response.json()["jobs"]

    def job(self, job_id: int) -> dict:
        return next(job for job in self.jobs() if job["id"] == job_id)


def help_articles(count: int, *, sections: int = 3) -> dict[str, str]:
    """Distinct Markdown help articles, each long enough to be cut into a few chunks."""
    articles = {}
    for n in range(count):
        body = [f"# Scale-out article {n}\n"]
        for s in range(sections):
            body.append(f"## Section {s} of article {n}\n")
            body.append(
                " ".join(f"Article {n} section {s} explains setting {w} of feature {n * 7 + s}." for w in range(25))
            )
        articles[f"scaleout-{n:03d}.md"] = "\n\n".join(body)
    return articles
