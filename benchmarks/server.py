"""The server under benchmark as a child process on a free loopback port, ready once /healthz answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(port: int, *options: str) -> list[str]:
    """`memory-server serve` on 127.0.0.1:port through `-m`, so that the checkout it runs in is the code served."""
    return [sys.executable, "-m", "memory_server", "serve", "--host", "127.0.0.1", "--port", str(port), *options]


def defaults_env(**settings: str) -> dict[str, str]:
    """This environment without the calling shell's MEMORY_SERVER_* settings, plus `settings`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MEMORY_SERVER_")} | settings


def stop(proc: subprocess.Popen[Any]) -> None:
    """Ask a child to shut down as Ctrl-C would; kill it if it has not within 30 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Server:
    """A started server: its process and base URL."""

    proc: subprocess.Popen[bytes]
    base: str
    startup: float  # seconds from spawning the process to the first 200 from /healthz

    def stop(self) -> None:
        stop(self.proc)


def launch(
    cmd: list[str],
    port: int,
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    timeout: float = 120,
    health: str = "/healthz",
) -> Server:
    """Run `cmd`, a server that listens on `port`, and return once its `health` path answers 200."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}{health}", timeout=1).status_code == 200:
                return Server(proc, base, time.perf_counter() - started)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"the server did not answer {health} within {timeout:.0f} s")
