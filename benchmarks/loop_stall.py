"""Does one heavy publish freeze everyone? /healthz and another user's profile, timed while it runs.

Starts the server (`python -m memory_server serve` on 127.0.0.1, rules extractor, a fresh data directory),
stores one fact for user "bob", times probes on an idle server, then publishes worst-case interactions
(200 messages x 9,000 characters the rules extractor must read clause by clause) at once with wait=false,
probing from the moment they are sent, one request at a time, until every one of them has finished.

    .venv/bin/python benchmarks/loop_stall.py [--publishes 3] [--root DIR]

`--root` runs the server from another checkout (e.g. a worktree of an older commit) to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.server import free_port, launch, serve_command  # noqa: E402

SENTENCE = "I live in Lisbon and I work as a nurse, but my sister is a teacher. Can you suggest a good book? "
MESSAGES = 200
CHARS = 9_000


def summary(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"| {name} | {len(ms)} | {statistics.median(ms):.2f} | {p99:.2f} | {ms[-1]:.2f} |"


async def probe(client: httpx.AsyncClient, healthz: list[float], profile: list[float]) -> None:
    started = time.perf_counter()
    (await client.get("/healthz")).raise_for_status()
    healthz.append(time.perf_counter() - started)
    started = time.perf_counter()
    r = await client.post("/v1/profile", json={"user_id": "bob"})
    r.raise_for_status()
    profile.append(time.perf_counter() - started)
    await asyncio.sleep(0.02)


async def run(base: str, publishes: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        bob = {"user_id": "bob", "messages": [{"role": "user", "content": "I live in Porto."}], "wait": True}
        (await client.post("/v1/interactions", json=bob)).raise_for_status()
        idle_h: list[float] = []
        idle_p: list[float] = []
        for _ in range(100):
            await probe(client, idle_h, idle_p)
        text = (SENTENCE * (CHARS // len(SENTENCE) + 1))[:CHARS]
        started = time.perf_counter()

        async def publish(i: int) -> str:
            body = {"user_id": f"heavy-{i}", "messages": [{"role": "user", "content": text}] * MESSAGES, "wait": False}
            r = await client.post("/v1/interactions", json=body)
            r.raise_for_status()
            return r.json()["request_id"]

        publishing = asyncio.gather(*(publish(i) for i in range(publishes)))
        busy_h: list[float] = []
        busy_p: list[float] = []
        statuses: list[str] = []
        while True:
            await probe(client, busy_h, busy_p)
            if publishing.done() and len(busy_h) % 10 == 0:
                statuses = [(await client.get(f"/v1/requests/{i}")).json()["status"] for i in publishing.result()]
                if all(s in ("done", "failed") for s in statuses):
                    break
        total = time.perf_counter() - started
    print(f"{publishes} publishes of {MESSAGES} x {CHARS} chars sent at once, all finished after {total:.1f} s:")
    print(f"{statuses}; load average now {os.getloadavg()[0]:.2f}")
    print("| probe | n | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|")
    print(summary("GET /healthz, idle", idle_h))
    print(summary("profile of another user, idle", idle_p))
    print(summary("GET /healthz, during the publishes", busy_h))
    print(summary("profile of another user, during the publishes", busy_p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishes", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "MEMORY_SERVER_LOG_LEVEL": "warning"}
        server = launch(serve_command(port, "--data-dir", data_dir), port, cwd=args.root, env=env)
        try:
            asyncio.run(run(server.base, args.publishes))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
