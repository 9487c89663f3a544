"""`memory-server serve` stopped by SIGTERM or Ctrl-C closes the service before it exits."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

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


def test_a_stopping_server_answers_waiting_publishes_at_once_and_starts_no_model_call(tmp_path, storage_url, llm):
    gate = threading.Event()
    llm.queue({"until": gate, "content": '{"facts": []}'})
    port = _free_port()
    env = child_env() | {
        "MEMORY_SERVER_DATA_DIR": str(tmp_path / "data"),
        "MEMORY_SERVER_EXTRACTION__EXTRACTOR": "llm",
        "MEMORY_SERVER_LLM__MODEL": "openai/fake-chat",
        "MEMORY_SERVER_LLM__API_BASE": llm.api_base,
        "MEMORY_SERVER_LLM__API_KEY": "sk-test",
        "MEMORY_SERVER_WORKERS__WAIT_TIMEOUT_SECONDS": "60",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "memory_server", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    answers: list[httpx.Response] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            wait_until_up(http)
            said = {"user_id": "ana", "messages": [{"role": "user", "content": "I am a nurse"}]}
            assert http.post("/v1/interactions", json=said).status_code == 202
            _until(lambda: len(llm.requests) == 1)  # its model call hangs
            later = {"user_id": "ana", "messages": [{"role": "user", "content": "I live in Lyon"}], "wait": True}
            waiting = threading.Thread(target=lambda: answers.append(http.post("/v1/interactions", json=later)))
            waiting.start()  # queued behind the first (one user's requests run in order), and waited on
            _until(lambda: len(http.get("/v1/users/ana/episodes").json()["items"]) == 2)
            proc.send_signal(signal.SIGTERM)
            waiting.join(timeout=30)
        _, stderr = proc.communicate(timeout=30)
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    [answer] = answers
    assert answer.status_code == 202 and answer.json()["status"] == "queued"  # as it stood: taken up at next start
    assert len(llm.requests) == 1 and llm.answered == 0  # no model call begun after the signal


def _until(done: Callable[[], bool]) -> None:
    for _ in range(500):
        if done():
            return
        time.sleep(0.02)
    raise AssertionError("never happened")


@pytest.mark.sqlite
def test_a_server_that_cannot_open_its_database_says_why_in_one_line_and_exits(tmp_path):
    """Every connection opened before the failure is closed: one left open is a thread that kept the process
    alive after its traceback."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "memory.sqlite3").write_bytes(b"not a database" * 1000)
    result = subprocess.run(
        [sys.executable, "-m", "memory_server", "serve", "--data-dir", str(data), "--port", str(_free_port())],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: the database sqlite:///{data / 'memory.sqlite3'} is not a SQLite database, or is damaged "
        "(file is not a database)"
    ]
