"""The profile before a turn on PostgreSQL against SQLite, and reads per second with one and two PostgreSQL servers.

    .venv/bin/python benchmarks/postgres_profile.py --postgres postgresql://postgres@127.0.0.1:55432/postgres
    .venv/bin/python benchmarks/postgres_profile.py --postgres URL --smoke   # 20 users, short runs; prints only

Seeds one SQLite deployment through the real write path (benchmarks/profile_latency.py's `seed`), copies it into a
new PostgreSQL database with `memory-server migrate`'s copier, then serves both at once (uvicorn in child
processes, each on its own data directory) and calls `POST /v1/profile` without `q` on random users, alternating
SQLite and PostgreSQL call by call, so both see the same machine load; the ratio reported is the median of the
pairs'. Then reads per second: `--clients` concurrent keep-alive clients for `--seconds`, first against one
PostgreSQL server, then spread over two. The load generator shares the machine's cores with the servers and the
database, which caps what a second server can add on a small machine (the table says how many cores there were).
A full run writes its results between the markers in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.profile_latency import Report, seed  # noqa: E402
from benchmarks.readme import write_block  # noqa: E402
from benchmarks.server import Server, defaults_env, free_port, launch, serve_command  # noqa: E402
from memory_server.config import Settings  # noqa: E402
from memory_server.context import Scope  # noqa: E402
from memory_server.service import MemoryService  # noqa: E402
from memory_server.store.copy import copy_sqlite_to_postgres  # noqa: E402


def start_on(data_dir: Path, storage_url: str | None, index_url: str | None = None) -> Server:
    """`memory-server serve` in a child process on its own data directory, on its defaults but for the store (and
    the index: processes sharing a PostgreSQL database must share a Chroma server)."""
    port = free_port()
    env = defaults_env(MEMORY_SERVER_RETRIEVAL_LOG__ENABLED="false")  # reads only: no log writes competing
    if storage_url:
        env["MEMORY_SERVER_STORAGE__URL"] = storage_url
    if index_url:
        env["MEMORY_SERVER_INDEX__URL"] = index_url
    return launch(serve_command(port, "--data-dir", str(data_dir)), port, env=env, stdout=subprocess.DEVNULL)


def start_chroma(path: Path) -> Server:
    """`chroma run` (installed with chromadb) on `path`, once its heartbeat answers."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path), "--port", str(port)]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    return launch(
        command, port, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, health="/api/v2/heartbeat"
    )


def latency_pairs(
    sqlite: str, postgres: str, users: list[str], calls: int, rng: random.Random
) -> list[tuple[float, float]]:
    pairs = []
    with httpx.Client(base_url=sqlite, timeout=60) as a, httpx.Client(base_url=postgres, timeout=60) as b:
        for i in range(calls + calls // 10):
            user = rng.choice(users)
            times = []
            for client in (a, b) if i % 2 else (b, a):
                t = time.perf_counter()
                r = client.post("/v1/profile", json={"user_id": user})
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text[:200]
            if i >= calls // 10:  # the first tenth warms both up
                pairs.append((times[0], times[1]) if i % 2 else (times[1], times[0]))
    return pairs


async def reads_per_second(bases: list[str], users: list[str], clients: int, seconds: float) -> tuple[float, float]:
    """`POST /v1/profile` on keep-alive connections with no client library (asyncio streams, each user's request
    built once): httpx spends more CPU on a request than the server does, and on a small machine a load generator
    that heavy takes the cores a second server needs. Clients are spread over `bases` round robin."""
    requests = {}
    for base in bases:
        host = base.removeprefix("http://")
        for user in users:
            body = json.dumps({"user_id": user}).encode()
            head = f"POST /v1/profile HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            requests[base, user] = head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    done = 0
    stop_at = time.monotonic() + seconds

    async def client(n: int) -> None:
        nonlocal done
        rng, base = random.Random(n), bases[n % len(bases)]
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < stop_at:
                writer.write(requests[base, rng.choice(users)])
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200 "):
                    raise RuntimeError(f"{base} answered {head[:40]!r}")
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    cpu = time.process_time()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return done / seconds, (time.process_time() - cpu) / seconds


def load_loop(main: Coroutine[Any, Any, tuple[float, float]]) -> tuple[float, float]:
    """Run the load generator on uvloop when it is installed (it comes with uvicorn's `standard` extra, which the
    servers run on too): a lighter client leaves more of a small machine to the servers."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def p50(values: list[float]) -> float:
    return statistics.median(values)


async def seeded(data_dir: Path, users: int, facts: int, rng: random.Random, report: Report) -> None:
    service = await MemoryService.open(Settings(data_dir=data_dir))
    try:
        await seed(service, Scope("default", "benchmark"), users, facts, rng, report)
    finally:
        await service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="a server and a database to administer it from")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--facts", type=int, default=100)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.users, args.facts, args.calls, args.seconds = 20, 20, 40, 3
    rng = random.Random(7)
    report = Report()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(args.postgres, autocommit=True) as admin:
        root = Path(tmp)
        print(f"seeding {args.users} users x {args.facts} facts into SQLite", flush=True)
        asyncio.run(seeded(root / "sqlite", args.users, args.facts, rng, report))
        admin.execute(f"CREATE DATABASE {name}")
        url = args.postgres.rsplit("/", 1)[0] + "/" + name
        servers: list[Server] = []
        chroma: Server | None = None
        try:
            chroma = start_chroma(root / "chroma")
            copied = asyncio.run(copy_sqlite_to_postgres(root / "sqlite" / "memory.sqlite3", url))
            assert copied.ok, copied.mismatches
            for data_dir, storage_url in ((root / "sqlite", None), (root / "pg1", url), (root / "pg2", url)):
                # one by one: `finally` stops those that started
                servers.append(start_on(data_dir, storage_url, chroma.base if storage_url else None))
            sqlite, pg1, pg2 = (server.base for server in servers)
            users = [f"user-{u:05d}" for u in range(args.users)]
            print("profile latency, SQLite and PostgreSQL alternating", flush=True)
            pairs = latency_pairs(sqlite, pg1, users, args.calls, rng)
            (one, one_cpu) = load_loop(reads_per_second([pg1], users, args.clients, args.seconds))
            (two, two_cpu) = load_loop(reads_per_second([pg1, pg2], users, args.clients, args.seconds))
        finally:
            for server in servers:
                server.stop()
            if chroma is not None:
                chroma.stop()
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    lite, pg = [a for a, _ in pairs], [b for _, b in pairs]
    ratio = p50([b / a for a, b in pairs])
    rows = [
        "| measure | SQLite | PostgreSQL | ratio |",
        "| --- | --- | --- | --- |",
        f"| `POST /v1/profile` without q, p50 (ms) | {p50(lite):.2f} | {p50(pg):.2f} | {ratio:.2f}x (pairs' median) |",
        f"| same, p95 (ms) | {statistics.quantiles(lite, n=20)[18]:.2f} | {statistics.quantiles(pg, n=20)[18]:.2f} | |",
        f"| reads/s, {args.clients} clients, one PostgreSQL server | | {one:.0f} | load generator: {one_cpu:.2f} "
        "cores |",
        f"| reads/s, same clients over two PostgreSQL servers | | {two:.0f} | {two / one:.2f}x one server; load "
        f"generator {two_cpu:.2f} cores |",
    ]
    block = "\n".join(
        [
            f"{args.users} users x {args.facts} facts, {args.calls} pairs; {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f} at the end; PostgreSQL {admin_version(args.postgres)}.",
            "",
            *rows,
        ]
    )
    print(block)
    if not args.smoke:
        write_block("postgres_profile", block)


def admin_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])


if __name__ == "__main__":
    main()
