"""A tiny local web site for tests: routes set by the test, conditional GETs, a log of what was asked.

Runs `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in a daemon thread, so tests that fetch
pages and sitemaps never reach the internet.

    site = LocalSite().start()
    site.route("/a.html", body="<html>…</html>", etag='"v1"')
    fetch(site.url("/a.html"))
    site.requests("/a.html")  # → [{"host": …, "if-none-match": …, …}, …] one dict per request, lower-case names
    site.stop()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0
    headers: dict[str, str] = field(default_factory=dict)
    send_length: bool = True


class LocalSite:
    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._seen: dict[str, list[dict[str, str]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- the test's side ------------------------------------------------------------------------------------

    def start(self) -> LocalSite:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends any delayed answer at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the site first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host_port(self) -> str:
        """`127.0.0.1:PORT`, as KB_FETCH_ALLOWED_NETWORKS takes it."""
        assert self._server is not None, "start() the site first"
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the site first"
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else f"/{path}")

    def route(
        self,
        path: str,
        body: str | bytes = b"",
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
        delay: float = 0,
        headers: dict[str, str] | None = None,
        send_length: bool = True,
    ) -> None:
        """Answer GET `path` with this (replacing what it answered before).

        `etag` / `last_modified` are sent and make If-None-Match / If-Modified-Since answer 304; `delay` waits
        that many seconds before answering; `send_length=False` leaves out Content-Length (body ends at close).
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        route = Route(data, status, content_type, etag, last_modified, delay, dict(headers or {}), send_length)
        with self._lock:
            self._routes[path] = route

    def remove(self, path: str) -> None:
        with self._lock:
            self._routes.pop(path, None)

    def requests(self, path: str) -> list[dict[str, str]]:
        """The headers (names in lower case) of every request for `path` so far, oldest first."""
        with self._lock:
            return [dict(headers) for headers in self._seen.get(path, [])]

    def requested_paths(self) -> list[str]:
        """Every path asked for so far (each once), whatever the route."""
        with self._lock:
            return list(self._seen)

    # --- the server's side ----------------------------------------------------------------------------------

    def _record(self, path: str, headers: dict[str, str]) -> Route | None:
        with self._lock:
            self._seen.setdefault(path, []).append(headers)
            return self._routes.get(path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a timeout test) makes the late answer fail with a broken pipe: not news.
        pass


def _handler_for(site: LocalSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "SupportbotTestSite/1.0"

        def do_GET(self) -> None:  # noqa: N802 — the stdlib's naming
            path = self.path.split("?", 1)[0]
            headers = {name.lower(): value for name, value in self.headers.items()}
            route = site._record(path, headers)
            if route is None:
                return self._answer(404, b"not found", "text/plain; charset=utf-8")
            if route.delay and site._stopping.wait(route.delay):
                return None  # the site is shutting down: drop the connection
            if _not_modified(route, headers):
                return self._answer(304, b"", None, route, body_allowed=False)
            return self._answer(route.status, route.body, route.content_type, route, send_length=route.send_length)

        def _answer(
            self,
            status: int,
            body: bytes,
            content_type: str | None,
            route: Route | None = None,
            *,
            body_allowed: bool = True,
            send_length: bool = True,
        ) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            if route is not None:
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                for name, value in route.headers.items():
                    self.send_header(name, value)
            if body_allowed and send_length:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if body_allowed:
                self.wfile.write(body)

        def log_message(self, format, *args) -> None:  # noqa: A002
            pass

    return Handler


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    if route.status != 200:
        return False
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and route.etag:
        # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.2.2).
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or route.etag.removeprefix("W/") in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is not None and route.last_modified:
        try:
            return parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
    return False
