"""Which network addresses and ports the knowledge-base fetcher may connect to.

A sitemap or a redirect can name any host, so every address a host name resolves to is checked before the fetcher
connects, and it connects only to an address that passed (kb.safe_http). Only public unicast addresses pass:
loopback, private, shared (CGNAT), link-local (cloud metadata at 169.254.169.254), unique- and site-local,
multicast, reserved, documentation and unspecified addresses are refused, also when wrapped in IPv6
(IPv4-mapped ::ffff:a.b.c.d, 6to4 2002::/16, NAT64 64:ff9b::/96).

Two settings open it up, for a help centre on an intranet:
- KB_FETCH_ALLOW_PRIVATE_NETWORKS=true lets private ranges through (10/8, 172.16/12, 192.168/16, 100.64/10,
  fc00::/7) — never loopback, link-local, multicast or reserved ones;
- KB_FETCH_ALLOWED_NETWORKS lists networks allowed whatever they are, each optionally with one port:
  `10.20.0.0/16`, `192.168.1.5:8080`, `[fd00::/8]:443`, `127.0.0.1:8001`.

Ports: any, except the ones browsers refuse to speak HTTP to (the WHATWG Fetch "bad ports": SMTP, SSH, IRC…), so a
fetched page cannot aim a request at a mail or shell service; an allowed network entry with a port allows that port.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# https://fetch.spec.whatwg.org/#port-blocking
BAD_PORTS = frozenset(
    {0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109}
    | {110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530}
    | {531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045}
    | {4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080}
)

PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """The fetcher will not connect there; the message says why and which setting would allow it."""


@dataclass(frozen=True)
class Allowance:
    """One KB_FETCH_ALLOWED_NETWORKS entry: a network, and the one port it is allowed on (None: any port)."""

    network: IPNetwork
    port: int | None = None

    def covers(self, address: IPAddress, port: int) -> bool:
        return address.version == self.network.version and address in self.network and self.port in (None, port)


def allowance_parse(entry: str) -> Allowance:
    """`10.0.0.0/8`, `10.1.2.3`, `10.1.2.3:8080`, `fd00::/8`, `[fd00::1]:8443` → Allowance; ValueError if not."""
    text, port = entry.strip(), None
    if text.startswith("["):
        text, _, rest = text[1:].partition("]")
        port = _port(rest.removeprefix(":"), entry) if rest else None
    elif text.count(":") == 1:
        text, port_text = text.split(":")
        port = _port(port_text, entry)
    try:
        return Allowance(ipaddress.ip_network(text, strict=False), port)
    except ValueError as exc:
        raise ValueError(f"{entry!r} is not a network (CIDR or address, optionally with :port): {exc}") from exc


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: {text!r} is not a port")
    return int(text)


@functools.lru_cache(maxsize=8)
def _allowances(entries: tuple[str, ...]) -> tuple[Allowance, ...]:
    return tuple(allowance_parse(entry) for entry in entries)


def address_check(address: str, port: int) -> None:
    """Raise AddressRefused unless the fetcher may connect to `address` (an IP literal) on `port`."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scope id (fe80::1%eth0) changes nothing
    allowances = _allowances(tuple(settings.KB_FETCH_ALLOWED_NETWORKS))
    allowance = next((allowance for allowance in allowances if allowance.covers(ip, port)), None)
    if port in BAD_PORTS and (allowance is None or allowance.port != port):
        raise AddressRefused(f"port {port} is not one the fetcher speaks HTTP to (SMTP, SSH and the like)")
    if allowance is not None:
        return
    kind = _not_public(_unwrapped(ip))
    if kind is None:
        return
    if kind == "private" and settings.KB_FETCH_ALLOW_PRIVATE_NETWORKS:
        return
    hint = "KB_FETCH_ALLOW_PRIVATE_NETWORKS or " if kind == "private" else ""
    article = "an" if kind[0] in "aeiou" else "a"
    raise AddressRefused(
        f"{address} is {article} {kind} address, not a public one (allow it with {hint}KB_FETCH_ALLOWED_NETWORKS)"
    )


def _unwrapped(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), so it is judged by the IPv4 rules."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _not_public(ip: IPAddress) -> str | None:
    """What kind of non-public address this is, or None for a public unicast one."""
    checks = [
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("private", any(ip in net for net in PRIVATE_NETWORKS if net.version == ip.version)),
        ("reserved", ip.is_reserved),
        ("special-purpose", ip.is_private or not ip.is_global),
    ]
    return next((kind for kind, matches in checks if matches), None)
