"""Which webhook URLs and addresses are refused: checked without any network."""

from __future__ import annotations

import ipaddress
import re

import pytest

from memory_server import ssrf


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_blocked_names_why_an_address_is_not_public(address, reason):
    assert ssrf.blocked(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    ("host", "address"),
    [("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"), ("fe80::1%eth0", "fe80::1")],
)
def test_short_forms_of_addresses_are_read_as_the_address_they_reach(host, address):
    assert ssrf.literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["hooks.example.com", "localhost", "a1", "xn--bcher-kva.example"])
def test_names_are_not_addresses(host):
    assert ssrf.literal_address(host) is None


async def test_resolution_returns_every_address_once():
    found = await ssrf.resolve("localhost", 80)
    assert found and all(a.is_loopback for a in found) and len(found) == len(set(found))
    assert await ssrf.resolve("10.0.0.1", 80) == [ipaddress.ip_address("10.0.0.1")]


def test_refusal_says_what_resolved_where_and_how_to_allow_it():
    message = ssrf.refusal("hooks.example.com", ipaddress.ip_address("10.0.0.1"), "private")
    assert message.startswith("hooks.example.com resolves to 10.0.0.1, a private address")
    assert "webhooks.allow_private" in message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),
        ("ftp://example.com/", "must start with http:// or https://"),
        ("https://example.com/a b", "must be printable ASCII without spaces"),
        ("https://exämple.com/", "punycode the host"),
        ("http://", "must name a host"),
        ("https://u:p@example.com/", "must not contain credentials"),
        ("http://[::1", "not a valid URL"),
    ],
)
def test_a_bad_webhook_url_is_refused_for_what_is_wrong_with_it(url, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        ssrf.check_url(url)


def test_a_good_webhook_url_is_kept_without_surrounding_spaces():
    assert ssrf.check_url("  HTTPS://hooks.example.com:8443/in?x=1 ") == "HTTPS://hooks.example.com:8443/in?x=1"
