"""The client's address: the connected peer, or (only when the peer is a trusted proxy, TRUSTED_PROXIES) the
address that proxy forwarded.

Every per-address decision (rate limits, sign-in throttling, lockouts) uses this one resolver, so none of them can
be fooled by a client-written X-Forwarded-For, and none of them lumps every visitor together behind a proxy.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(scope: dict) -> str:
    """The peer's address from the ASGI scope; X-Forwarded-For only when the peer is a trusted proxy, then the
    right-most address that is not itself a trusted proxy (the left part of the header is the client's to forge)."""
    client = scope.get("client") or ("", 0)
    peer = str(client[0] or "")
    trusted = _trusted_networks()
    if not trusted or not _in(peer, trusted):
        return peer or "unknown"
    forwarded = ""
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-forwarded-for":
            forwarded = f"{forwarded},{value.decode('latin-1')}" if forwarded else value.decode("latin-1")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


def request_address(request: HttpRequest) -> str:
    """client_address for an HTTP request (ASGI or WSGI), from the same fields the server put in META."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    headers = [(b"x-forwarded-for", forwarded.encode("latin-1", "replace"))] if forwarded else []
    return client_address({"client": (request.META.get("REMOTE_ADDR", ""), 0), "headers": headers})


def _trusted_networks() -> list:
    return [ipaddress.ip_network(item, strict=False) for item in settings.TRUSTED_PROXIES]


def _in(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def address_group(address: str) -> str:
    """What the per-address limits count: an IPv4 address itself, an IPv6 address's network of
    CHAT_RATE_IPV6_PREFIX bits (a subscriber gets a whole /64 and may pick any address in it at will)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1 on a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), settings.CHAT_RATE_IPV6_PREFIX), strict=False))
    return str(ip)
