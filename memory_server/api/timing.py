"""Request latency per route template, for `/metrics`.

Labelled by the template the router matched (`/v1/users/{user_id}/facts`), never the raw path, so ids cannot
multiply the series; a request no route matched is labelled `unmatched`. Costs one histogram observation per
request (a few microseconds).
"""

from __future__ import annotations

import re
import time
from functools import lru_cache

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memory_server.metrics import REQUEST_SECONDS

UNMATCHED = "unmatched"
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


@lru_cache(maxsize=1024)
def _plain(path: str) -> str:
    """`/v1/users/{user_id:anytext}/facts` as `/v1/users/{user_id}/facts`."""
    return _CONVERTOR.sub(r"{\1}", path)


def route_template(scope: Scope) -> str:
    """The matched route's path template (a mounted app's prefix for routes inside it)."""
    route: BaseRoute | None = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return _plain(path)
    return scope.get("root_path") or UNMATCHED


class RequestTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            labels = (scope["method"], route_template(scope), str(status))
            REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)
