"""Where a profile's HTTP time goes: the client, the server, and how long both sat idle before the call.

A chat app asks for a profile once a turn, seconds apart, so its call meets a cold client and a cold server (caches
and branch predictors refilled by other work, a halted vCPU to wake). The peers benchmark interleaves our calls
with mem0's in-process ones, so each of ours also follows a few idle milliseconds. For idle gaps of 0 to 100 ms
before each call this script times, round robin on one keep-alive connection each:

- a bare asyncio echo server in another process (what the operating system costs a round trip);
- GET /healthz and a cached POST /v1/profile (a user's ~100 facts, ~20 KB of JSON) sent over a raw socket, so
  that the time is the server's and the kernel's alone;
- the same two through httpx, as the peers benchmark and Python SDKs send them (the difference is the client's).

Run: `.venv/bin/python benchmarks/cold_requests.py` (seeds 100 users x 100 facts first, ~20 s) or with
`--data-dir` of a directory the peers benchmark's seeding wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing, suppress
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.peers.run import start_seeding_ours  # noqa: E402
from benchmarks.profile_latency import Report, start_server  # noqa: E402
from benchmarks.readme import Load, command, machine, write_block  # noqa: E402
from benchmarks.server import free_port, stop  # noqa: E402
from memory_server.config import load_settings  # noqa: E402

GAPS_MS = (0, 1, 5, 20, 100)
JSON = {"Content-Type": "application/json"}


class RawHTTP:
    """HTTP/1.1 on one keep-alive socket, with no client library: send a request, read one whole response."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = f"127.0.0.1:{port}"

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._recv()
        header, rest = data.split(b"\r\n\r\n", 1)
        status = int(header.split(b" ", 2)[1])
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}")
        length = next(
            int(line.split(b":", 1)[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            rest += self._recv()
        return rest

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def echo_server(port: int) -> None:
    """The child process: echo whatever arrives, on asyncio like the server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    with suppress(KeyboardInterrupt):  # stopped as Ctrl-C would (benchmarks.server.stop)
        asyncio.run(main())


def start_echo() -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--echo-port", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the echo server did not start")
    return proc, port


def seed(data_dir: Path) -> None:
    """100 users x 100 facts through the peers benchmark's seeding child (the real write path)."""
    args = argparse.Namespace(
        users=100, facts_per_user=100, seed=11, queries=300, warmup=20, conversations=0, mem0_sequential=0
    )
    child = start_seeding_ours(data_dir, args)
    child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"seeding failed ({child.returncode})")


def users_with_facts(data_dir: Path, limit: int = 100) -> list[str]:
    path = load_settings(data_dir=data_dir).db_path
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT user_id FROM facts WHERE status = 'active' GROUP BY user_id ORDER BY user_id LIMIT ?", (limit,)
        ).fetchall()
    if not rows:
        raise SystemExit(f"no facts in {data_dir}")
    return [r[0] for r in rows]


def measure(base: str, echo_port: int, users: list[str], calls: int, report: Report) -> dict[str, dict[int, float]]:
    """p50 ms of each target at each gap; targets take turns call by call, in a shuffled order each round."""
    port = int(base.rsplit(":", 1)[1])
    raw, http = RawHTTP(port), httpx.Client(base_url=base, headers=JSON, timeout=30)
    echo = socket.create_connection(("127.0.0.1", echo_port))
    echo.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rng = random.Random(5)

    def echo_once() -> None:
        echo.sendall(b"x" * 64)
        got = 0
        while got < 64:
            got += len(echo.recv(64 - got))

    def body() -> bytes:
        return json.dumps({"user_id": rng.choice(users)}).encode()

    targets: dict[str, Callable[[], object]] = {
        "echo round trip (asyncio, raw socket)": echo_once,
        "GET /healthz, raw socket": lambda: raw.request("GET", "/healthz"),
        "POST /v1/profile (cached), raw socket": lambda: raw.request("POST", "/v1/profile", body()),
        "GET /healthz, httpx": lambda: http.get("/healthz").raise_for_status(),
        "POST /v1/profile (cached), httpx": lambda: http.post("/v1/profile", content=body()).raise_for_status(),
    }
    size = len(raw.request("POST", "/v1/profile", body()))
    for user in users:  # every profile in the cache first: the gaps, not builds, are measured
        raw.request("POST", "/v1/profile", json.dumps({"user_id": user}).encode())
    report.note(f"a profile answer is ~{size / 1000:.0f} KB of JSON")
    out: dict[str, dict[int, float]] = {name: {} for name in targets}
    try:
        for gap in GAPS_MS:
            times: dict[str, list[float]] = {name: [] for name in targets}
            order = list(targets)
            for i in range(calls + 10):
                rng.shuffle(order)
                for name in order:
                    if gap:
                        time.sleep(gap / 1000)
                    started = time.perf_counter()
                    targets[name]()
                    if i >= 10:
                        times[name].append((time.perf_counter() - started) * 1000)
            for name, ms in times.items():
                out[name][gap] = float(np.median(ms))
            print(f"  gap {gap} ms: " + ", ".join(f"{n} {out[n][gap]:.3f}" for n in targets), flush=True)
    finally:
        raw.close()
        http.close()
        echo.close()
    return out


def table(results: dict[str, dict[int, float]]) -> str:
    head = "| call (p50 ms) | " + " | ".join(f"{g} ms idle before" for g in GAPS_MS) + " |"
    rule = "|---|" + "---:|" * len(GAPS_MS)
    rows = [f"| {name} | " + " | ".join(f"{by_gap[g]:.3f}" for g in GAPS_MS) + " |" for name, by_gap in results.items()]
    return "\n".join([head, rule, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, help="a seeded data directory (default: seed a temporary one)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per target and gap")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    parser.add_argument("--echo-port", type=int, help=argparse.SUPPRESS)  # set in the echo child
    args = parser.parse_args()
    if args.echo_port is not None:
        echo_server(args.echo_port)
        return

    print(machine(), flush=True)
    report, load = Report(), Load()
    report.note(load.at_start)
    work = Path(tempfile.mkdtemp(prefix="cold-requests-"))
    data_dir = args.data_dir
    echo = server = None
    try:
        if data_dir is None:
            data_dir = work / "data"
            seed(data_dir)
        server = start_server(data_dir, report)
        echo, echo_port = start_echo()
        users = users_with_facts(data_dir)
        results = measure(server.base, echo_port, users, args.calls, report)
    finally:
        if server is not None:
            server.stop()
        if echo is not None:
            stop(echo)
        shutil.rmtree(work, ignore_errors=True)
    report.note(load.at_end("server"))
    text = table(results)
    print(f"\n{text}\n" + "\n".join(f"- {n}" for n in report.notes))
    if not args.no_readme:
        notes = "\n".join(f"- {n}" for n in report.notes)
        write_block("cold_requests", f"Command: `{command()}`. Machine: {machine()}.\n\n{text}\n\n{notes}")


if __name__ == "__main__":
    main()
