"""Where a server's resident memory goes: the service opened on a seeded data directory, then step by step.

    .venv/bin/python benchmarks/memory_breakdown.py --data-dir /tmp/bench  # a directory profile_latency.py seeded

Prints the process's resident set (VmRSS) and its peak (VmHWM) after: imports, the embedder built and warmed up,
the service opened (SQLite migrated and open, vector outbox replayed), 200 profiles and 50 searches, 100
conversations ingested (this writes to the data directory), and a query on each vector index (which loads that
Chroma collection, as a user too large to score exactly would).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from memory_server.config import load_settings  # noqa: E402
from memory_server.context import Scope  # noqa: E402
from memory_server.index.embedders import create_embedder  # noqa: E402
from memory_server.schemas import InteractionIn, ProfileIn, SearchIn  # noqa: E402
from memory_server.service import MemoryService  # noqa: E402


def show(step: str) -> None:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    rss, peak = (int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))
    print(f"| {step} | {rss:.0f} | {peak:.0f} |", flush=True)


async def measure(data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir)
    print("| after | RSS MB | peak MB |\n|---|---:|---:|")
    show("imports (service, FastAPI models, numpy)")
    embedder = create_embedder(settings.embedder)
    await embedder.embed(["warm-up"])
    show("the embedder built and warmed up")
    service = await MemoryService.open(settings)  # a second embedder of the same files shares the sessions
    try:
        show("the service opened")
        scope = Scope(settings.tenant, "benchmark")
        users = [f"user-{u:05d}" for u in range(200)]
        for user in users:
            await service.profile(scope, ProfileIn(user_id=user))
        show("200 profiles without q")
        for user in users[:50]:
            await service.search(scope, SearchIn(user_id=user, query="where does the user live"))
        show("50 searches")
        await service.start()
        jobs = []
        for i, user in enumerate(users[:100]):
            text = f"I moved to Town{i} last week and I drink tea number {i} every morning"
            job, _ = await service.ingest(
                scope, InteractionIn(user_id=user, messages=[{"role": "user", "content": text}])
            )
            jobs.append(job.request_id)
        for request_id in jobs:
            await service.wait(scope, request_id)
        await service.core.vectors.flush()
        show("100 conversations ingested (facts, episodes and vectors written)")
        vector = np.full(embedder.dim, 1 / np.sqrt(embedder.dim), dtype=np.float32)
        await service.core.index.query(vector, settings.tenant, users[0], 5)
        show("a query on the facts' Chroma collection")
        await service.core.episodes.query(vector, settings.tenant, users[0], 5)
        show("a query on the episodes' Chroma collection")
    finally:
        await service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    asyncio.run(measure(parser.parse_args().data_dir.resolve()))


if __name__ == "__main__":
    main()
