"""A real server for tests that need one: uvicorn on 127.0.0.1, on a port the OS picks, in a thread."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from memory_server.api.app import create_app
from memory_server.config import Settings, WorkerSettings


def child_env() -> dict[str, str]:
    """The environment of a server process a test starts: no MEMORY_SERVER_* variables but the test's database
    (`storage_url` in conftest names it there when the suite runs on PostgreSQL)."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("MEMORY_SERVER_") or k == "MEMORY_SERVER_STORAGE__URL"
    }


@contextmanager
def server_settings(data_dir: Path) -> Iterator[Settings]:
    """Settings for a server a test starts: its own data directory, fast workers, no MEMORY_SERVER_* variables."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("MEMORY_SERVER_"):
                mp.delenv(name)
        yield Settings(
            data_dir=data_dir,
            workers=WorkerSettings(
                poll_seconds=0.05, retry_backoff_seconds=0.01, max_attempts=2, wait_timeout_seconds=20
            ),
        )


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """Serve the app until the block ends; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def wait_until_up(http: httpx.Client, seconds: float = 60) -> None:
    """Poll /healthz until the server process a test started answers, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            http.get("/healthz")
            return
        except httpx.TransportError:
            time.sleep(0.1)
