"""`memory-server serve` stopped by SIGTERM or Ctrl-C closes the service before it exits."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import pytest

from memory_server.config import Settings
from memory_server.service import MemoryService
from tests.servers import child_env, wait_until_up


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as under `make run`: Python then answers SIGINT itself


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stopped_server_writes_what_it_buffered_and_exits_cleanly(tmp_path, storage_url, signum):
    port = _free_port()
    env = child_env()
    env["MEMORY_SERVER_DATA_DIR"] = str(tmp_path / "data")
    env["MEMORY_SERVER_RETRIEVAL_LOG__FLUSH_SECONDS"] = "60"  # written at close, not before
    proc = subprocess.Popen(
        [sys.executable, "-m", "memory_server", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_as_from_a_terminal,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_until_up(http)
            assert http.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"}).status_code == 201
            assert http.post("/v1/profile", json={"user_id": "ana"}).status_code == 200
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr.decode()[-2000:]

    service = await MemoryService.open(Settings(data_dir=tmp_path / "data"))
    try:
        logged = await service.core.db.fetchone("SELECT count(*) AS n FROM retrieval_log WHERE user_id = 'ana'")
        assert logged["n"] == 1
    finally:
        await service.close()
