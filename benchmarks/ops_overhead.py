"""What operations cost per request: the latency middleware behind `/metrics`, and the retrieval log.

    .venv/bin/python benchmarks/ops_overhead.py            # 3,000 rounds
    .venv/bin/python benchmarks/ops_overhead.py --rounds 300

One service (one user with 100 facts, seeded through `add_fact`) serves two apps built by `create_app`: the app as
shipped, and the same app with the `RequestTiming` middleware taken out of its middleware list before it first
runs. Requests are plain ASGI calls in this process (no client or socket in the timing), and every round sends
each variant once, in a shuffled order, so drift and noise fall on all of them alike:

- middleware on / off: `GET /healthz` and `POST /v1/profile` (without `q`);
- retrieval log on / off (the shipped app; the log's `enabled` flipped between the calls): `POST /v1/profile`
  without and with `q`.

The workers and the retrieval log's writer run as in a server, so batches are written during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi import FastAPI  # noqa: E402

from memory_server.api.app import create_app  # noqa: E402
from memory_server.api.timing import RequestTiming  # noqa: E402
from memory_server.config import RetrievalLogSettings, Settings  # noqa: E402
from memory_server.context import Scope  # noqa: E402
from memory_server.schemas import FactIn  # noqa: E402
from memory_server.service import MemoryService  # noqa: E402

FACTS = 100
TOPICS = ["cooking", "running", "chess", "gardening", "jazz", "hiking", "sailing", "pottery", "cycling", "poetry"]


async def call(app: FastAPI, method: str, path: str, body: dict | None = None) -> float:
    """One request through the ASGI app; its time in milliseconds."""
    payload = json.dumps(body).encode() if body is not None else b""
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(payload)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8765),
        "app": app,
    }
    sent = False
    status = 0

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter()
    await app(scope, receive, send)
    elapsed = (time.perf_counter() - started) * 1000
    assert status == 200, (path, status)
    return elapsed


def bare(app: FastAPI) -> FastAPI:
    """The app without the latency middleware (its stack is built on the first call, after this)."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestTiming]
    return app


async def seed(service: MemoryService) -> None:
    scope = Scope(service.core.settings.tenant, "bench")
    for i in range(FACTS):
        topic = TOPICS[i % len(TOPICS)]
        content = f"User has practised {topic} for {i + 1} years and keeps notebook number {1000 + i}"
        await service.add_fact(scope, FactIn(user_id="ana", content=content))


async def run(rounds: int) -> tuple[dict[str, tuple[float, float]], int]:
    """p50 and p90 of each variant, and the retrieval-log rows written during the run."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        async with MemoryService.running(settings, listening=False) as service:
            await seed(service)
            shipped, without = create_app(settings, service), bare(create_app(settings, service))
            for app in (shipped, without):
                app.state.service = service
            profile = {"user_id": "ana"}
            with_q = {"user_id": "ana", "q": "how long has the user played chess"}
            log = service.retrievals

            def profiles(app: FastAPI, body: dict, logged: bool = True) -> Callable[[], Awaitable[float]]:
                async def timed() -> float:
                    log.settings = RetrievalLogSettings(enabled=logged)
                    return await call(app, "POST", "/v1/profile", body)

                return timed

            variants: dict[str, Callable[[], Awaitable[float]]] = {
                "healthz, middleware on": lambda: call(shipped, "GET", "/healthz"),
                "healthz, middleware off": lambda: call(without, "GET", "/healthz"),
                "profile, middleware on": profiles(shipped, profile),
                "profile, middleware off": profiles(without, profile),
                "profile, log on": profiles(shipped, profile),
                "profile, log off": profiles(shipped, profile, logged=False),
                "profile q, log on": profiles(shipped, with_q),
                "profile q, log off": profiles(shipped, with_q, logged=False),
            }
            names = list(variants)
            for name in names * 20:  # warm-up
                await variants[name]()
            times: dict[str, list[float]] = defaultdict(list)
            for _ in range(rounds):
                random.shuffle(names)
                for name in names:
                    times[name].append(await variants[name]())
            await log.flush()
            written = (await service.core.db.fetchone("SELECT count(*) FROM retrieval_log"))[0]
    return {
        name: (statistics.median(times[name]), statistics.quantiles(times[name], n=10)[-1]) for name in variants
    }, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3_000)
    args = parser.parse_args()
    summary, written = asyncio.run(run(args.rounds))
    print(f"{args.rounds} interleaved rounds, {FACTS} facts, in-process ASGI calls (ms)")
    print("| variant | p50 | p90 |\n| --- | --- | --- |")
    for name, (p50, p90) in summary.items():
        print(f"| {name} | {p50:.3f} | {p90:.3f} |")
    print(f"retrieval-log rows written during the run: {written}")


if __name__ == "__main__":
    main()
