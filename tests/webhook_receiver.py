"""A webhook receiver for tests: an HTTP server on 127.0.0.1 in a thread that records every POST and answers
each with the next status of a script (then `default`), or holds it until released."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def verified(self, secret: str) -> Any:
        """The payload, after checking the signature with the library a receiver would use."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver:
    def __init__(
        self, statuses: Iterable[int] = (), default: int = 204, hold: bool = False, tls: ssl.SSLContext | None = None
    ) -> None:
        self.script: deque[int] = deque(statuses)
        self.default = default
        self.received: list[Received] = []
        self.released = threading.Event()
        if not hold:
            self.released.set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.script.popleft() if receiver.script else receiver.default
                receiver.released.wait(60)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    async def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        """The requests received, once there are at least `count` (or the timeout passed)."""
        for _ in range(int(timeout / 0.02)):
            if len(self.received) >= count:
                break
            await asyncio.sleep(0.02)
        return list(self.received)
