"""Which addresses and ports the fetcher may connect to, and the settings that open it up.

These check the decision itself, on IP literals: no connection is made, so private and metadata addresses can be
named without any traffic reaching them.
"""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from django.core.exceptions import ImproperlyConfigured

from kb.address_policy import AddressRefused, Allowance, address_check, allowance_parse
from kb.fetching import FetchError, fetch
from supportbot.env import env_list_checked


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        pytest.param("127.0.0.1", "loopback", id="loopback"),
        pytest.param("127.8.9.10", "loopback", id="loopback-range"),
        pytest.param("::1", "loopback", id="ipv6-loopback"),
        pytest.param("10.0.0.7", "private", id="private-10"),
        pytest.param("172.16.5.4", "private", id="private-172-16"),
        pytest.param("192.168.1.1", "private", id="private-192-168"),
        pytest.param("100.64.0.1", "private", id="carrier-grade-nat"),
        pytest.param("fd12:3456::1", "private", id="unique-local"),
        pytest.param("169.254.169.254", "link-local", id="cloud-metadata"),
        pytest.param("fe80::1", "link-local", id="ipv6-link-local"),
        pytest.param("fe80::1%eth0", "link-local", id="ipv6-link-local-with-scope"),
        pytest.param("fec0::1", "site-local", id="ipv6-site-local"),
        pytest.param("224.0.0.251", "multicast", id="multicast"),
        pytest.param("ff02::1", "multicast", id="ipv6-multicast"),
        pytest.param("0.0.0.0", "unspecified", id="unspecified"),
        pytest.param("::", "unspecified", id="ipv6-unspecified"),
        pytest.param("240.0.0.1", "reserved", id="reserved"),
        pytest.param("255.255.255.255", "reserved", id="broadcast"),
        pytest.param("192.0.2.10", "special-purpose", id="documentation"),
        pytest.param("::ffff:127.0.0.1", "loopback", id="ipv4-mapped-loopback"),
        pytest.param("::ffff:169.254.169.254", "link-local", id="ipv4-mapped-metadata"),
        pytest.param("::ffff:10.0.0.1", "private", id="ipv4-mapped-private"),
        pytest.param("2002:7f00:1::1", "loopback", id="6to4-loopback"),
        pytest.param("64:ff9b::a00:1", "private", id="nat64-private"),
    ],
)
def test_non_public_addresses_are_refused(address, kind):
    # when
    with pytest.raises(AddressRefused) as refused:
        address_check(address, 80)

    # then
    assert f"{kind} address, not a public one" in str(refused.value)


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "2606:4700::6810:84e5", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_are_allowed(address):
    # when / then: no AddressRefused
    address_check(address, 443)


@pytest.mark.parametrize("port", [22, 25, 6667])
def test_ports_browsers_refuse_are_refused_even_on_public_addresses(port):
    # when
    with pytest.raises(AddressRefused) as refused:
        address_check("93.184.215.14", port)

    # then
    assert f"port {port}" in str(refused.value)


def test_allowing_private_networks_opens_private_ranges_but_never_loopback_or_metadata(settings):
    # given
    settings.KB_FETCH_ALLOW_PRIVATE_NETWORKS = True

    # when / then
    for private in ("10.0.0.7", "172.16.5.4", "192.168.1.1", "fd12::1", "::ffff:10.0.0.1"):
        address_check(private, 8080)
    for never in ("127.0.0.1", "::1", "169.254.169.254", "0.0.0.0", "224.0.0.1"):
        with pytest.raises(AddressRefused):
            address_check(never, 80)


def test_an_allowed_network_with_a_port_allows_that_port_only(settings):
    # given
    settings.KB_FETCH_ALLOWED_NETWORKS = ["127.0.0.1:8001", "10.20.0.0/16", "[fd00::/8]:443"]

    # when / then
    address_check("127.0.0.1", 8001)
    address_check("10.20.3.4", 8443)
    address_check("fd00::5", 443)
    for address, port in (("127.0.0.1", 8002), ("10.21.0.1", 80), ("fd00::5", 80), ("::1", 8001)):
        with pytest.raises(AddressRefused):
            address_check(address, port)


def test_a_bad_port_needs_an_allowance_naming_it(settings):
    # given
    settings.KB_FETCH_ALLOWED_NETWORKS = ["10.20.0.0/16", "10.30.0.1:25"]

    # when / then
    with pytest.raises(AddressRefused):
        address_check("10.20.0.1", 25)
    address_check("10.30.0.1", 25)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param("10.0.0.0/8", Allowance(ip_network("10.0.0.0/8")), id="cidr"),
        pytest.param("10.1.2.3:8080", Allowance(ip_network("10.1.2.3/32"), 8080), id="port"),
        pytest.param("[::1]:8001", Allowance(ip_network("::1/128"), 8001), id="ipv6-port"),
        pytest.param("fd00::/8", Allowance(ip_network("fd00::/8")), id="ipv6-cidr"),
    ],
)
def test_allowed_network_entries_parse(entry, expected):
    assert allowance_parse(entry) == expected


@pytest.mark.parametrize("entry", ["intranet.example", "10.0.0.0/33", "10.1.2.3:http", "[::1]:0", "10.1.2.3:70000"])
def test_a_bad_allowed_network_entry_fails_at_start_up_naming_the_setting(entry, monkeypatch):
    # when
    monkeypatch.setenv("KB_FETCH_ALLOWED_NETWORKS", f"10.0.0.0/8,{entry}")
    with pytest.raises(ImproperlyConfigured) as failed:
        env_list_checked("KB_FETCH_ALLOWED_NETWORKS", check="kb.address_policy.allowance_parse")

    # then
    assert "KB_FETCH_ALLOWED_NETWORKS" in str(failed.value)
    assert entry in str(failed.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local", id="metadata"),
        pytest.param("http://10.0.0.7/", "10.0.0.7 is a private", id="private"),
        pytest.param("http://[::ffff:192.168.0.1]/", "is a private", id="ipv4-mapped-private"),
        pytest.param("http://2130706433/", "2130706433 resolves to 127.0.0.1", id="decimal-loopback"),
        pytest.param("http://0x7f.1/", "resolves to 127.0.0.1", id="hex-loopback"),
        pytest.param("http://localhost/", "localhost resolves to", id="localhost"),
        pytest.param("http://93.184.215.14:25/", "port 25", id="smtp-port"),
        pytest.param("file:///etc/passwd", "the file: scheme", id="file-url"),
        pytest.param("gopher://93.184.215.14/", "the gopher: scheme", id="gopher"),
        pytest.param("/etc/passwd", "a local path", id="path"),
    ],
)
def test_fetch_refuses_before_connecting(url, expected):
    # when
    with pytest.raises(FetchError) as refused:
        fetch(url)

    # then
    assert expected in str(refused.value)
    assert str(refused.value).startswith("refused")
