"""Throughput and single-query latency of the bundled embedder, through the async API the server uses.

    .venv/bin/python benchmarks/embedder_throughput.py [--threads 2] [--threads-per-call 2] [--per-call 32]

Target on a 2-core machine: >= 300 sentences/s; DESIGN.md records a p50 of 3.4 ms per query.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    from memory_server.index.minilm import OnnxMiniLMEmbedder
except ModuleNotFoundError:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from memory_server.index.minilm import OnnxMiniLMEmbedder

SUBJECTS = ["User", "I", "My sister", "The team", "Our manager", "She", "He", "We"]
VERBS = ["likes", "lives in", "works at", "prefers", "visited", "is learning", "hates", "moved to"]
OBJECTS = [
    "Paris",
    "green tea in the morning",
    "a small startup in Berlin",
    "Python and Rust",
    "hiking on weekends",
    "the new office near the station",
    "vegetarian food",
    "jazz concerts",
    "Tokyo last spring",
    "remote work on Fridays",
]


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} (note {i})." for i in range(n)]


async def run(args: argparse.Namespace) -> None:
    threads, batch_size, n_sentences, n_queries = args.threads, args.batch_size, args.sentences, args.queries
    started = time.perf_counter()
    embedder = OnnxMiniLMEmbedder(threads=threads, threads_per_call=args.threads_per_call, batch_size=batch_size)
    print(
        f"load + verify: {(time.perf_counter() - started) * 1000:.0f} ms "
        f"(threads={threads}, threads_per_call={args.threads_per_call})"
    )
    await embedder.embed(sentences(64, seed=1))  # warm-up

    texts = sentences(n_sentences)
    started = time.perf_counter()
    for i in range(0, len(texts), args.per_call):
        await embedder.embed(texts[i : i + args.per_call])
    elapsed = time.perf_counter() - started
    print(
        f"bulk: {n_sentences} sentences, {args.per_call} per call in chunks of {batch_size}: "
        f"{n_sentences / elapsed:.0f} sentences/s"
    )

    latencies = []
    for query in sentences(n_queries, seed=2):
        started = time.perf_counter()
        await embedder.embed([query])
        latencies.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(latencies, [50, 95])
    print(
        f"single query over {n_queries}: p50 {p50:.2f} ms, p95 {p95:.2f} ms, mean {statistics.fmean(latencies):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--threads-per-call", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-call", type=int, default=32, help="texts given to each embed() call")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
