"""Against DNS rebinding: every route answers only to the Host names it is meant to be reached by, and
takes state-changing requests only from pages of those hosts (or of origins allowed in the settings).

A page on an attacker's site whose name resolves to 127.0.0.1 sends `Host: evil.example`; a page of any
other site makes the browser send its own `Origin`. Both are refused before a route runs, for `/v1`,
`/mcp` and everything else alike.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from memory_server.api.errors import answer
from memory_server.config import ServerSettings

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def allowed_hosts(server: ServerSettings) -> frozenset[str] | None:
    """The host names this server answers to, or None for any (see ServerSettings.allowed_hosts)."""
    if server.allowed_hosts is not None:
        names = {h.strip().lower().strip("[]") for h in server.allowed_hosts}
        return None if "*" in names else frozenset(names)
    if server.on_loopback:
        return frozenset({*LOOPBACK_NAMES, server.host.lower()})
    return None


def _hostname(value: str) -> str | None:
    """'Example.com:8080' -> 'example.com', '[::1]:80' -> '::1'; None when unreadable."""
    try:
        return urlsplit(f"//{value}").hostname
    except ValueError:
        return None


class HostCheck:
    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None, origins: list[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.hosts is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if _hostname(host) not in self.hosts:
            response = answer(
                scope.get("path", ""),
                421,
                "invalid_host",
                f"this server does not answer to Host {host!r}: reach it by an allowed name, or add the name to "
                "server.allowed_hosts",
            )
            await response(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and scope.get("method", "GET") not in _SAFE_METHODS and not self._origin_ok(origin):
            response = answer(
                scope.get("path", ""),
                403,
                "invalid_origin",
                f"requests from pages of {origin} are not allowed: add the origin to server.allowed_origins",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _origin_ok(self, origin: str) -> bool:
        if origin.rstrip("/").lower() in self.origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.hostname in self.hosts
