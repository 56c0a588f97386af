"""The fake LLM of the chat benchmarks: the project's own (tests/fake_llm.py, the real openai SDK over local HTTP),
answering ~40 words in three cited sentences, and recording when each streamed request arrived, sent its first
words and ended (so the model's own waiting can be taken out of the client's times)."""

from __future__ import annotations

import re
import sys
import time

from bench.harness import stats_ms


def make_reply(words: int):
    from tests.fake_llm import cite_first_passage

    def reply(messages: list[dict]) -> str:
        """Like tests.fake_llm.cite_first_passage (condensing included), but `words` words from passage [1]
        in three cited sentences, about the length of a real short answer."""
        last = messages[-1]["content"] if messages else ""
        if "standalone question" in last:
            return cite_first_passage(messages)
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        match = re.search(r"\n\[1\][^\n]*\n(.+?)(?:\n\n\[2\]|\Z)", system, re.DOTALL)
        if not match:
            return "I could not find that in the help centre."
        body = re.findall(r"[A-Za-z0-9][\w'’-]*", match.group(1))
        body = (body * (words // max(len(body), 1) + 1))[:words]
        third = max(1, len(body) // 3)
        parts = [body[:third], body[third : 2 * third], body[2 * third :]]
        return " ".join(" ".join(p).capitalize() + " [1]." for p in parts if p)

    return reply


def timed_fake_llm():
    """tests.fake_llm.FakeLLM, recording per streamed request when it arrived, sent its first words, ended."""
    from tests.fake_llm import FakeLLM

    class TimedFakeLLM(FakeLLM):
        def __init__(self) -> None:
            self.timings: list[dict] = []
            super().__init__()
            # 200 conversations open up to 200 streams at once: a listen backlog of 5 would drop SYNs.
            self.server.socket.listen(1024)
            handle_error = self.server.handle_error

            def quiet_resets(request, client_address) -> None:
                # The server's keep-alive connections are reset when it stops: not worth a traceback.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    handle_error(request, client_address)

            self.server.handle_error = quiet_resets

        def _handler(self):
            base = super()._handler()
            fake = self

            class Handler(base):
                def _stream(self, body: dict) -> None:
                    self._t = {"arrived": time.perf_counter(), "first": None}
                    last = (body.get("messages") or [{}])[-1].get("content", "")
                    self._t["kind"] = "condense" if "standalone question" in last else "answer"
                    if self._t["kind"] == "condense":  # which question: follow-ups that stand alone skip this
                        self._t["question"] = last.rsplit("Last message:", 1)[-1].strip()
                    try:
                        super()._stream(body)
                    finally:
                        self._t["ended"] = time.perf_counter()
                        with fake._lock:
                            fake.timings.append(self._t)

                def _event(self, payload: dict) -> None:
                    t = getattr(self, "_t", None)
                    if (
                        t is not None
                        and t["first"] is None
                        and any((c.get("delta") or {}).get("content") for c in payload.get("choices") or [])
                    ):
                        t["first"] = time.perf_counter()
                    super()._event(payload)

            return Handler

    return TimedFakeLLM().start()


def fake_lateness(fake, since: int = 0) -> dict:
    """How late the fake's first words came (vs first_token_delay), by request kind: harness noise, in ms."""
    rows = fake.timings[since:]
    out = {}
    for kind in ("condense", "answer"):
        late = [
            (t["first"] - t["arrived"] - fake.first_token_delay) * 1000
            for t in rows
            if t["kind"] == kind and t["first"]
        ]
        out[kind] = stats_ms(late)
    return out
