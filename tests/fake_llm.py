"""A small local OpenAI-compatible server: the only stand-in for the remote LLM in tests and benchmarks.

It speaks POST /v1/chat/completions (streamed as server-sent events, or not) and POST /v1/embeddings, so the
real openai SDK is exercised over real HTTP. Tests choose its behaviour: what it answers, how fast it streams,
and how it fails.
"""

from __future__ import annotations

import array
import base64
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = Callable[[list[dict]], str]


def cite_first_passage(messages: list[dict]) -> str:
    """A well-behaved model: restate the first sentence of context passage [1] and cite it.

    Asked to condense a follow-up, it returns the last message unchanged.
    """
    last = messages[-1]["content"] if messages else ""
    if "standalone question" in last:
        return last.rsplit("Last message:", 1)[-1].strip()
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    # A passage ends at its fence (<<<end of passage 1 …>>>) or, unfenced, where passage [2] starts.
    match = re.search(r"\n\[1\][^\n]*\n(.+?)(?:\n<<<|\n\n\[2\]|\Z)", system, re.DOTALL)
    if not match:
        return "I could not find that in the help centre."
    first = re.split(r"(?<=[.!?])\s", match.group(1).strip().replace("\n", " "), maxsplit=1)[0]
    return f"{first.rstrip('.')} [1]."


_PASSAGE = re.compile(r"<<<passage (\d+) (\w+)>>>\n\[\d+\][^\n]*\n(.*?)\n<<<end of passage \1 \2>>>", re.DOTALL)


def echo_context(messages: list[dict]) -> str:
    """A model that repeats its context: every passage's text, verbatim and in order, each cited as [n]
    (the worst case for instructions planted in the knowledge base: whatever reaches the prompt is said).

    Asked to condense a follow-up, it returns the last message unchanged.
    """
    last = messages[-1]["content"] if messages else ""
    if "standalone question" in last:
        return last.rsplit("Last message:", 1)[-1].strip()
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    passages = [f"{text.strip()} [{n}]" for n, _, text in _PASSAGE.findall(system)]
    return "\n\n".join(passages) or "I could not find that in the help centre."


class FakeLLM:
    def __init__(self) -> None:
        self.reply: Reply | str = cite_first_passage
        # ok | error | hang | break (the body ends early, no [DONE]) | die (the connection drops mid-body)
        # | rate_limited (HTTP 429 with Retry-After) | slow_first_token
        self.mode = "ok"
        self.status = 500
        # break / die: after this many text chunks (None: halfway through the answer for break, 0 for die).
        self.fail_after: int | None = None
        self.token_delay = 0.0
        self.first_token_delay = 0.0
        self.chunk_words = 1
        # /v1/embeddings: the length of every vector it returns (see _embeddings).
        self.embedding_dimensions = 4
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> FakeLLM:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer_for(self, messages: list[dict]) -> str:
        return self.reply(messages) if callable(self.reply) else self.reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with fake._lock:
                    fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("authorization")})
                if self.path.endswith("/embeddings"):
                    self._json(200, _embeddings(body, fake.embedding_dimensions))
                elif not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                elif fake.mode == "error":
                    self._json(fake.status, {"error": {"message": "fake failure", "type": "server_error"}})
                elif fake.mode == "rate_limited":
                    self._json(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"retry-after": "1"})
                elif fake.mode == "hang":
                    time.sleep(30)
                elif body.get("stream"):
                    self._stream(body)
                else:
                    text = fake.answer_for(body.get("messages", []))
                    self._json(200, _completion(body, text))

            def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict) -> None:
                text = fake.answer_for(body.get("messages", []))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                words = re.findall(r"\S+\s*", text)
                pieces = ["".join(words[i : i + fake.chunk_words]) for i in range(0, len(words), fake.chunk_words)]
                try:
                    if fake.first_token_delay:
                        time.sleep(fake.first_token_delay)
                    for index, piece in enumerate(pieces):
                        if fake.mode == "break" and index == _or(fake.fail_after, len(pieces) // 2):
                            self.wfile.write(b"0\r\n\r\n")  # end the body mid-answer, no [DONE]
                            self.close_connection = True
                            return
                        if fake.mode == "die" and index == _or(fake.fail_after, 0):
                            self.close_connection = True  # drop the socket inside a chunked body
                            return
                        self._event(_chunk(body, {"content": piece}))
                        if fake.token_delay:
                            time.sleep(fake.token_delay)
                    self._event(_chunk(body, {}, finish="stop"))
                    usage = {"prompt_tokens": 42, "completion_tokens": len(words), "total_tokens": 42 + len(words)}
                    self._event({**_chunk(body, None), "choices": [], "usage": usage})
                    self._send(b"data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _event(self, payload: dict) -> None:
                self._send(b"data: " + json.dumps(payload).encode() + b"\n\n")

            def _send(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _chunk(body: dict, delta: dict | None, finish: str | None = None) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": choices,
    }


def _embeddings(body: dict, dimensions: int) -> dict:
    """Vector i is [len(text i), 1, 1, …]: known to the test before normalisation. The items come back in
    reverse order, each with its index, as the API allows: clients must put them back in order. Like the real
    API, base64 float32 when asked (the openai SDK asks by default), else lists of floats."""
    texts = body.get("input", [])
    texts = [texts] if isinstance(texts, str) else texts
    vectors = [[float(len(text))] + [1.0] * (dimensions - 1) for text in texts]
    if body.get("encoding_format") == "base64":
        vectors = [base64.b64encode(array.array("f", vector).tobytes()).decode() for vector in vectors]
    data = [{"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)]
    tokens = sum(len(text.split()) for text in texts)
    return {
        "object": "list",
        "data": data[::-1],
        "model": body.get("model", "fake-embedding"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _completion(body: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 42, "completion_tokens": len(text.split()), "total_tokens": 42 + len(text.split())},
    }
