"""An httpx client that connects only where kb.address_policy allows: the check sits on the connection itself.

httpcore hands every new connection's host name to a network backend; ours resolves it once, checks every address
it resolved to (one bad address refuses the host, so a name cannot mix a public address with an internal one),
and opens the socket to an address it checked — never to the name, which a second lookup could answer
differently (DNS rebinding). TLS still verifies the certificate against the host name. Redirects are not followed
here: kb.fetching follows them itself, and each one opens (and checks) its own connection. Proxies from the
environment are ignored, since a proxy would make the connection somewhere the check never saw.

Why not a library: safehttpx is async-only and falls back to a public DNS-over-HTTPS service; drawbridge (0.1)
rewrites URLs to IP addresses and reads bodies with iter_bytes(), which decompresses a whole network read at once.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import httpcore
import httpx

from kb.address_policy import AddressRefused, address_check

SOCKET_OPTION = tuple[int, int, int | bytes] | tuple[int, int, None, int]


class CheckedBackend(httpcore.NetworkBackend):
    """httpcore's own blocking backend, connecting only to addresses that passed address_check."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = checked_addresses(host, port)
        for address in addresses[:-1]:  # as a browser would: the next address when one does not answer
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return self._inner.connect_tcp(addresses[-1], port, timeout, local_address, socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise AddressRefused("the fetcher does not open unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def checked_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, once; AddressRefused if any of them is not allowed."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found if info[0] in (socket.AF_INET, socket.AF_INET6)))
    if not addresses:
        raise httpcore.ConnectError(f"could not resolve {host}: no IPv4 or IPv6 address")
    for address in addresses:
        try:
            address_check(address, port)
        except AddressRefused as exc:
            named = "" if address == host else f"{host} resolves to {address}; "
            raise AddressRefused(f"refused before connecting: {named}{exc}") from None
    return addresses


class CheckedTransport(httpx.HTTPTransport):
    """httpx's transport over CheckedBackend. httpx takes no network backend, so the pool it built is replaced by
    the same pool with ours (httpx's `_pool`, stable through the 0.2x releases pinned in pyproject.toml)."""

    def __init__(self, *, keepalive_connections: int = 10) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=keepalive_connections * 2,
            max_keepalive_connections=keepalive_connections,
            keepalive_expiry=5.0,
            network_backend=CheckedBackend(),
        )


def checked_client(*, timeout: float, headers: dict[str, str]) -> httpx.Client:
    """A client that follows no redirect, reads no proxy or .netrc from the environment, and connects only where
    kb.address_policy allows."""
    return httpx.Client(
        transport=CheckedTransport(), timeout=timeout, headers=headers, follow_redirects=False, trust_env=False
    )
