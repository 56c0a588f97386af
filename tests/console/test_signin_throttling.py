"""Failed sign-ins are throttled on the console and on /admin/ alike, per username and client address (behind a
trusted proxy: the address it forwarded), plus a looser limit per address; nobody can lock a username out for
everyone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.console.conftest import PASSWORD

PROXY, CLIENT_A, CLIENT_B = "10.0.0.9", "203.0.113.5", "198.51.100.7"
CONSOLE, ADMIN = reverse("console:login"), "/admin/login/"
THROTTLED = "Too many failed sign-in attempts"


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = [PROXY]


def _sign_in(client, password: str, *, peer: str, forwarded: str = "", url: str = CONSOLE, username: str = "sam"):
    headers = {"REMOTE_ADDR": peer, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})}
    return client.post(url, {"username": username, "password": password}, **headers)


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", [pytest.param(CONSOLE, id="console"), pytest.param(ADMIN, id="admin")])
def test_behind_a_trusted_proxy_failures_lock_out_that_client_only(client, agent, behind_proxy, url):
    # given: five wrong passwords for sam from client A, through the proxy
    for _ in range(5):
        assert _sign_in(client, "wrong", peer=PROXY, forwarded=CLIENT_A, url=url).status_code == 200
    # when: A tries the right password
    refused = _sign_in(client, PASSWORD, peer=PROXY, forwarded=CLIENT_A, url=url)
    # then: refused with a clear message and 429, not signed in
    assert refused.status_code == 429
    assert THROTTLED in refused.content.decode()
    assert not _signed_in(client)
    # when: client B, through the same proxy, signs in as sam
    accepted = _sign_in(client, PASSWORD, peer=PROXY, forwarded=CLIENT_B, url=url)
    # then
    assert accepted.status_code == 302 and _signed_in(client)


def test_the_console_and_the_admin_count_the_same_failures(client, agent, behind_proxy):
    # given: failures spread over both sign-in forms
    for url in (CONSOLE, ADMIN, CONSOLE, ADMIN, CONSOLE):
        _sign_in(client, "wrong", peer=PROXY, forwarded=CLIENT_A, url=url)
    # when / then: the sixth is refused on either
    assert _sign_in(client, PASSWORD, peer=PROXY, forwarded=CLIENT_A, url=ADMIN).status_code == 429
    assert _sign_in(client, PASSWORD, peer=PROXY, forwarded=CLIENT_A, url=CONSOLE).status_code == 429


def test_an_untrusted_peers_forwarded_for_is_ignored(client, agent, behind_proxy):
    # given: a client that is not the proxy, writing a new X-Forwarded-For on every try
    for n in range(5):
        _sign_in(client, "wrong", peer=CLIENT_A, forwarded=f"192.0.2.{n}")
    # when
    refused = _sign_in(client, PASSWORD, peer=CLIENT_A, forwarded="192.0.2.200")
    # then: all its tries counted against its own address
    assert refused.status_code == 429 and not _signed_in(client)


def test_a_client_cannot_escape_by_prepending_to_the_forwarded_header(client, agent, behind_proxy):
    # given: client A behind the proxy, each time claiming another address at the left of the header
    for n in range(5):
        _sign_in(client, "wrong", peer=PROXY, forwarded=f"192.0.2.{n}, {CLIENT_A}")
    # when / then: the proxy's right-most entry is A, whatever A wrote before it
    assert _sign_in(client, PASSWORD, peer=PROXY, forwarded=f"192.0.2.99, {CLIENT_A}").status_code == 429


def test_one_address_spraying_many_usernames_is_refused_for_all_of_them(client, agent, behind_proxy, settings):
    # given: a looser per-address limit, reached with a different username each time
    settings.SIGNIN_FAILURES_PER_ADDRESS = 4
    for name in ("ann", "bob", "cid", "dot"):
        _sign_in(client, "wrong", peer=PROXY, forwarded=CLIENT_A, username=name)
    # when: that address tries sam, whose own count is zero
    refused = _sign_in(client, PASSWORD, peer=PROXY, forwarded=CLIENT_A)
    # then: refused; another client is not
    assert refused.status_code == 429
    assert _sign_in(client, PASSWORD, peer=PROXY, forwarded=CLIENT_B).status_code == 302


def test_ipv6_neighbours_in_one_64_share_the_address_count(client, agent, behind_proxy):
    # given: failures from five addresses of one /64
    for n in range(1, 6):
        _sign_in(client, "wrong", peer=PROXY, forwarded=f"2001:db8:1:2::{n}")
    # when / then: a sixth address of the same /64 is refused, another /64 is not
    assert _sign_in(client, PASSWORD, peer=PROXY, forwarded="2001:db8:1:2::99").status_code == 429
    assert _sign_in(client, PASSWORD, peer=PROXY, forwarded="2001:db8:1:3::1").status_code == 302


def test_a_refused_attempt_does_not_check_the_password(client, agent, behind_proxy):
    # given: A is refused
    for _ in range(5):
        _sign_in(client, "wrong", peer=PROXY, forwarded=CLIENT_A)
    # when: A keeps trying, right or wrong
    answers = {_sign_in(client, pw, peer=PROXY, forwarded=CLIENT_A).status_code for pw in ("wrong", PASSWORD)}
    # then: the same refusal either way, so the refusal tells nothing about the password
    assert answers == {429}


def test_a_successful_sign_in_clears_that_clients_failures(client, agent, behind_proxy):
    for _ in range(4):
        _sign_in(client, "wrong", peer=PROXY, forwarded=CLIENT_A)
    assert _sign_in(client, PASSWORD, peer=PROXY, forwarded=CLIENT_A).status_code == 302
    client.logout()
    for _ in range(4):
        _sign_in(client, "wrong", peer=PROXY, forwarded=CLIENT_A)
    assert _sign_in(client, PASSWORD, peer=PROXY, forwarded=CLIENT_A).status_code == 302


def test_the_admin_sign_in_page_still_opens(client, db):
    response = client.get(ADMIN)
    assert response.status_code == 200 and 'name="password"' in response.content.decode()
