"""Ingest with `wait: true`, in-process, and where a request's time goes: storing it, embedding, extracting,
signals, reconciling and writing.

Issue 16 asks for at most 5 ms per message plus the extractor's own time. Each request is 1-3 user messages of
the peers benchmark's conversations, sent one after the other to existing users of a 100 users x 100 facts
directory (seeded first, ~20 s, through the peers benchmark's seeding child) with the rules extractor; the parts
are timed by wrapping the functions named in the table for the whole run.

Run: `.venv/bin/python benchmarks/ingest_latency.py` (or `--data-dir` of a directory to copy instead of seeding).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.cold_requests import seed, users_with_facts  # noqa: E402
from benchmarks.profile_latency import Stopwatch, conversation  # noqa: E402
from benchmarks.readme import Load, command, machine, write_block  # noqa: E402
from extractors.rules import RulesExtractor  # noqa: E402
from memory_server import extraction, pipeline, signals  # noqa: E402
from memory_server.config import load_settings  # noqa: E402
from memory_server.context import Scope  # noqa: E402
from memory_server.schemas import InteractionIn  # noqa: E402
from memory_server.service import MemoryService  # noqa: E402
from memory_server.store import episodes as episodesql  # noqa: E402

WARMUP = 20


def parts(service: MemoryService) -> list[tuple[object, str, str]]:
    """(owner, function, row label) of each timed part, in the order a job runs them."""
    core = service.core
    return [
        (extraction, "run_job", "the extraction job as a whole (extraction.run_job)"),
        (RulesExtractor, "extract", "&nbsp;&nbsp;the rules extractor's own time (RulesExtractor.extract)"),
        (core.vectors, "embed_messages", "&nbsp;&nbsp;messages and candidate facts embedded, vectors stored"),
        (episodesql, "put_vectors", "&nbsp;&nbsp;&nbsp;&nbsp;of which: storing the messages' vectors"),
        (signals, "analyse", "&nbsp;&nbsp;message signals (signals.analyse)"),
        (pipeline.Batch, "store", "&nbsp;&nbsp;reconciling and writing (pipeline.Batch.store)"),
        (pipeline, "live_facts", "&nbsp;&nbsp;&nbsp;&nbsp;of which: the user's live facts and vectors read"),
    ]


async def run(data_dir: Path, requests: int, report: list[str]) -> list[tuple[str, list[float]]]:
    settings = load_settings(data_dir=data_dir)
    service = await MemoryService.open(settings)
    rows: list[tuple[str, list[float]]] = []
    try:
        await service.start()
        scope = Scope(settings.tenant, "benchmark")
        users = users_with_facts(data_dir)
        rng = random.Random(5)
        clock = Stopwatch()
        per_request, per_message, messages, added = [], [], 0, 0
        with ExitStack() as stack:
            for owner, name, label in parts(service):
                stack.enter_context(clock.watch(owner, name, label))
            for i in range(requests + WARMUP):
                said = conversation(rng)
                body = InteractionIn(
                    user_id=rng.choice(users),
                    session_id=str(uuid.uuid4()),
                    messages=[{"role": "user", "content": m} for m in said],
                    wait=True,
                )
                started = time.perf_counter()
                job, _ = await service.ingest(scope, body)
                ms = (time.perf_counter() - started) * 1000
                if job.status != "done":
                    raise RuntimeError(f"request {job.request_id} ended {job.status}: {job.error}")
                if i >= WARMUP:
                    per_request.append(ms)
                    per_message.append(ms / len(said))
                    messages += len(said)
                    added += len(job.changes.added) + len(job.changes.updated)
        rows.append(("a request, publish to answer (service.ingest, wait=true)", per_request))
        rows.append(("the same, per message", per_message))
        for _, _, label in parts(service):
            timed = clock.ms[label]
            rows.append((label, timed[len(timed) * WARMUP // (requests + WARMUP) :]))
        report.append(
            f"{requests} requests ({messages} messages) after {WARMUP} untimed, to {len(users)} users; "
            f"{added} facts added or updated"
        )
    finally:
        await service.close()
    return rows


def table(rows: list[tuple[str, list[float]]]) -> str:
    lines = ["| part | n | p50 ms | p95 ms |", "|---|---:|---:|---:|"]
    for label, ms in rows:
        lines.append(f"| {label} | {len(ms)} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 95):.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, help="a seeded directory to copy (default: seed a temporary one)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = parser.parse_args()
    print(machine(), flush=True)
    load = Load()
    notes = [load.at_start]
    work = Path(tempfile.mkdtemp(prefix="ingest-latency-"))
    try:
        data_dir = work / "data"
        if args.data_dir is None:
            seed(data_dir)
        else:
            shutil.copytree(args.data_dir, data_dir)
        rows = asyncio.run(run(data_dir, args.requests, notes))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    notes.append(load.at_end("children"))
    text = table(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)
    print(f"\n{text}")
    if not args.no_readme:
        write_block("ingest_latency", f"Command: `{command()}`. Machine: {machine()}.\n\n{text}")


if __name__ == "__main__":
    main()
