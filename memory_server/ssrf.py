"""Which URLs a webhook may name and which addresses a delivery may reach (against server-side request forgery).

A webhook makes the server send requests where a tenant says, so a URL could aim it at the machine itself, the
private network behind it or a cloud metadata address. Unless `webhooks.allow_private` is set, only public
addresses are reached: a URL naming an address is checked when the webhook is created, and a host name is
resolved at every delivery and refused if any address it resolves to is not public (a name may resolve
differently later). The delivery then connects to the address that was checked, never resolving twice.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

MAX_URL_LENGTH = 2_000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def check_url(value: str) -> str:
    """A webhook URL as stored: http(s), a host, no credentials, printable ASCII; ValueError says what is wrong."""
    value = value.strip()
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"at most {MAX_URL_LENGTH} characters")
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError("must be printable ASCII without spaces: percent-encode the path, punycode the host")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port out of range
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL) as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if not parts.hostname:
        raise ValueError("must name a host (https://host/path)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials (user:password@): authenticate with the signature instead")
    return value


def host_of(url: str) -> str:
    """The host a URL names (lower case, an IPv6 address without brackets)."""
    return urlsplit(url).hostname or ""


def literal_address(host: str) -> IPAddress | None:
    """The address a host is written as (also the short IPv4 forms resolvers accept: `2130706433`, `127.1`,
    `0x7f.1`), or None for a name."""
    host = host.split("%", 1)[0]  # an IPv6 zone
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def blocked(address: IPAddress) -> str | None:
    """Why an address is not public (loopback, private …), or None when a webhook may reach it."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return blocked(embedded)
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def refusal(host: str, address: IPAddress, reason: str) -> str:
    """The message for an address a webhook may not reach, with the way to allow it."""
    where = f"{host} resolves to {address}" if str(address) != host else str(address)
    return (
        f"{where}, a {reason} address: webhooks only reach public addresses "
        "(set webhooks.allow_private to deliver inside your network)"
    )


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order, looked up off the event loop."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found
