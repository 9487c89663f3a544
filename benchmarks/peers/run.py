"""This server and mem0 OSS side by side, on the same data, in one run, calls interleaved pair by pair.

    .venv/bin/python benchmarks/peers/run.py --smoke               # 10 users x 20 memories; prints only (< 2 min)
    .venv/bin/python benchmarks/peers/run.py --memories 10000      # 100 users x 100 memories; writes README
    .venv/bin/python benchmarks/peers/run.py --memories 100000     # 1,000 users x 100 memories

Both systems get their vectors and their model replies from one local OpenAI-compatible server
(`openai_server.py`, a child process): mem0 through its `openai` embedder and LLM, this server through its
`llm` extractor; this server embeds in-process with its default embedder, the same model and code the local
server runs, so the vectors are the same. mem0 (the `mem0ai` package, its Chroma store in a temporary
directory) runs in this process, the way an application calls it; this server runs as uvicorn in a child
process and is called over HTTP on loopback, the way an application calls it.

1. Seed: the same facts per user, mem0 through `add(..., infer=False)` (one call per user), this server through
   its real write path in a child process (`pipeline.apply_candidates`, as benchmarks/profile_latency.py
   seeds); the two run at the same time.
2. Reads, on random users, each pair in a random order: `POST /v1/profile` without `q` (what a chat app reads
   before a turn) against `get_all(filters={"user_id": u}, top_k=<facts per user>)`, and `POST /v1/profile`
   with `q` against `search(q, filters={"user_id": u}, top_k=10)`. The ratio of each pair is mem0's time
   over ours; the table gives the median of those ratios. Empty answers for users who have memories are counted.
3. Ingest: the same conversations (1-3 user messages each) to existing users, with every chat reply delayed
   (`--delay`, 300 ms): this server accepts them with `wait=false` and extracts with `workers.concurrency`
   workers; mem0 runs `add()` from a pool of the same number of threads, and, for reference, one call after
   the other on a smaller set (a sync library call per turn). Throughput is counted until every conversation
   is extracted.

Peak RSS is VmHWM of this server's process and ru_maxrss of this process (mem0, the driver and the HTTP
client; the driver's own share before mem0 was created is noted). A full run writes its table between the
markers `peers-<memories>` in benchmarks/README.md; --smoke only prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.profile_latency import (  # noqa: E402
    Client,
    Report,
    conversation,
    peak_rss_mb,
    question,
    start_server,
    user_facts,
)
from benchmarks.readme import Load, command, machine, write_block  # noqa: E402
from benchmarks.server import stop  # noqa: E402

HERE = Path(__file__).resolve().parent


# --- the data ---------------------------------------------------------------------------------------


@dataclass
class Data:
    """What both systems are given: facts per user, read picks, and conversations to ingest."""

    facts: dict[str, list[str]]
    picks: list[tuple[str, str]]
    conversations: list[tuple[str, list[str]]]
    sequential: list[tuple[str, list[str]]]


def make_data(args: argparse.Namespace) -> Data:
    """Deterministic from --seed; the seeding child rebuilds the same facts from it."""
    rng = random.Random(args.seed)
    facts = {f"user-{u:05d}": [c.content for c in user_facts(rng, args.facts_per_user)] for u in range(args.users)}
    users = list(facts)
    picks = [(rng.choice(users), question(rng)) for _ in range(args.queries + args.warmup)]
    conversations = [(rng.choice(users), conversation(rng)) for _ in range(args.conversations)]
    sequential = [(rng.choice(users), conversation(rng)) for _ in range(args.mem0_sequential)]
    return Data(facts, picks, conversations, sequential)


# --- children: the local OpenAI-compatible server, and seeding this server ----------------------------


def start_openai(delay: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, str(HERE / "openai_server.py"), "--delay", str(delay)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    api_base = proc.stdout.readline().strip()
    if not api_base.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"the local OpenAI-compatible server did not start (said {api_base!r})")
    return proc, api_base


def our_environment(api_base: str, concurrency: int) -> None:
    """This server's settings, for the seeding child and the uvicorn child alike (they inherit the environment):
    the llm extractor on the local server, `concurrency` extraction workers, and a rate limit the burst of
    accepts and status polls cannot reach (the default, 600 a minute per key, is a guard, not a cost)."""
    os.environ.update(
        {
            "NO_PROXY": "127.0.0.1,localhost",
            "MEMORY_SERVER_EXTRACTION__EXTRACTOR": "llm",
            "MEMORY_SERVER_LLM__MODEL": "openai/scripted",
            "MEMORY_SERVER_LLM__API_BASE": api_base,
            "MEMORY_SERVER_LLM__API_KEY": "sk-bench",
            "MEMORY_SERVER_WORKERS__CONCURRENCY": str(concurrency),
            "MEMORY_SERVER_LIMITS__REQUESTS_PER_MINUTE": "1000000",
        }
    )


def seed_ours_child(args: argparse.Namespace) -> None:
    """The seeding child: every user's facts through the real write path, one apply_candidates call per user."""
    from extractors.base import CandidateFact
    from memory_server.config import load_settings
    from memory_server.context import Scope
    from memory_server.pipeline import Origin, apply_candidates
    from memory_server.reconcile import Action, RulesReconciler
    from memory_server.service import MemoryService

    data = make_data(args)

    async def run() -> dict[str, Any]:
        settings = load_settings(data_dir=args.seed_ours)
        service = await MemoryService.open(settings)
        try:
            core, scope = service.core, Scope(settings.tenant, "benchmark")
            reconciler = RulesReconciler(settings.extraction.duplicate_threshold)
            added, started = 0, time.perf_counter()
            for user, contents in data.facts.items():
                facts = [CandidateFact(content=c, kind="static", confidence=0.9) for c in contents]
                origin = Origin(request_id=str(uuid.uuid4()), user_id=user, source="benchmark-seed")
                outcome = await apply_candidates(core, scope, facts, origin, settings.extraction, reconciler, "bench")
                added += sum(d.action is Action.ADD for d, _ in outcome)
            await core.vectors.flush()
            return {"seconds": time.perf_counter() - started, "added": added}
        finally:
            await service.close()

    print(json.dumps(asyncio.run(run())), flush=True)


def start_seeding_ours(data_dir: Path, args: argparse.Namespace) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--seed-ours",
        str(data_dir),
        *("--users", str(args.users), "--facts-per-user", str(args.facts_per_user), "--seed", str(args.seed)),
        *("--queries", str(args.queries), "--warmup", str(args.warmup)),
        *("--conversations", str(args.conversations), "--mem0-sequential", str(args.mem0_sequential)),
    ]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)


# --- mem0 -------------------------------------------------------------------------------------------


def open_mem0(directory: Path, api_base: str) -> Any:
    """mem0's Memory with its Chroma store in `directory`, embedder and LLM on the local server, no telemetry."""
    os.environ.update({"MEM0_TELEMETRY": "False", "MEM0_DIR": str(directory)})
    from mem0 import Memory

    openai = {"openai_base_url": api_base, "api_key": "sk-bench"}
    return Memory.from_config(
        {
            "vector_store": {"provider": "chroma", "config": {"collection_name": "bench", "path": str(directory)}},
            "embedder": {"provider": "openai", "config": {"model": "minilm", "embedding_dims": 384, **openai}},
            "llm": {"provider": "openai", "config": {"model": "scripted", **openai}},
            "history_db_path": str(directory / "history.db"),
        }
    )


def seed_mem0(memory: Any, data: Data) -> tuple[float, int]:
    """Through mem0's API: add(infer=False), one call per user (each message embedded and inserted alone)."""
    started, stored = time.perf_counter(), 0
    for user, contents in data.facts.items():
        result = memory.add([{"role": "user", "content": c} for c in contents], user_id=user, infer=False)
        stored += len(result["results"])
    return time.perf_counter() - started, stored


def seed_mem0_store(memory: Any, data: Data) -> tuple[float, int]:
    """Through mem0's own embedder and vector store objects, one batch per user: the rows add(infer=False) writes
    (the payload fields mem0 reads back; `text_lemmatized` is the text itself, as mem0 leaves it without spaCy),
    without its history rows. For sizes where add(infer=False), at one HTTP embedding and one Chroma insert per
    memory, takes hours on this machine."""
    started, stored = time.perf_counter(), 0
    for user, contents in data.facts.items():
        vectors = memory.embedding_model.embed_batch(contents, "add")
        now = datetime.now(UTC).isoformat()
        payloads = [
            {
                "user_id": user,
                "role": "user",
                "data": c,
                "hash": hashlib.md5(c.encode()).hexdigest(),
                "created_at": now,
                "updated_at": now,
                "text_lemmatized": c,
            }
            for c in contents
        ]
        memory.vector_store.insert(vectors=vectors, ids=[str(uuid.uuid4()) for _ in contents], payloads=payloads)
        stored += len(contents)
    return time.perf_counter() - started, stored


# --- timing -----------------------------------------------------------------------------------------


@dataclass
class Pairs:
    """Milliseconds of each system on the same calls, and the empty answers of each."""

    name: str
    ours: list[float] = field(default_factory=list)
    mem0: list[float] = field(default_factory=list)
    ours_empty: int = 0
    mem0_empty: int = 0
    mem0_short: int = 0

    def ratios(self) -> np.ndarray:
        return np.array(self.mem0) / np.array(self.ours)


def interleave(name: str, picks: list[tuple[str, str]], warmup: int, ours: Any, mem0: Any, rng: random.Random) -> Pairs:
    """Call ours(u, q) and mem0(u, q) once per pick, in a random order per pair; time all but the first `warmup`.
    Each call returns (empty, short): no result at all, fewer results than asked."""
    pairs = Pairs(name)
    for i, (user, q) in enumerate(picks):
        calls = [("ours", ours), ("mem0", mem0)]
        rng.shuffle(calls)
        for who, call in calls:
            started = time.perf_counter()
            empty, short = call(user, q)
            ms = (time.perf_counter() - started) * 1000
            if i < warmup:
                continue
            getattr(pairs, who).append(ms)
            if who == "ours":
                pairs.ours_empty += empty
            else:
                pairs.mem0_empty += empty
                pairs.mem0_short += short
    return pairs


def wait_all(http: httpx.Client, request_ids: list[str], timeout: float = 3600) -> list[dict[str, Any]]:
    """Every request's final job, polled in order, 20 times a second at most (the polls must not steal the CPU
    the workers need)."""
    deadline, jobs = time.monotonic() + timeout, []
    for rid in request_ids:
        while (job := http.get(f"/v1/requests/{rid}").json()).get("status") not in ("done", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"request {rid} still not done after {timeout} s")
            time.sleep(0.05)
        jobs.append(job)
    return jobs


def chat_calls(http: httpx.Client) -> int:
    return http.get("/calls").json()["chat"]


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Results:
    pairs: list[Pairs] = field(default_factory=list)
    ingest: list[tuple[str, int, float, str]] = field(default_factory=list)  # (who, conversations, seconds, note)
    notes: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.notes.append(line)
        print(f"  {line}", flush=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def read_phase(client: Client, memory: Any, data: Data, args: argparse.Namespace, results: Results) -> None:
    rng = random.Random(f"{args.seed}:order")
    http = client.http

    def ours_plain(user: str, _: str) -> tuple[bool, bool]:
        answer = http.post("/v1/profile", json={"user_id": user}).raise_for_status().json()
        return not (answer["profile"]["static"] or answer["profile"]["dynamic"]), False

    def mem0_plain(user: str, _: str) -> tuple[bool, bool]:
        found = memory.get_all(filters={"user_id": user}, top_k=args.facts_per_user)["results"]
        return not found, len(found) < len(data.facts[user])

    def ours_q(user: str, q: str) -> tuple[bool, bool]:
        answer = http.post("/v1/profile", json={"user_id": user, "q": q}).raise_for_status().json()
        return not answer["searchResults"]["results"], False

    def mem0_q(user: str, q: str) -> tuple[bool, bool]:
        found = memory.search(q, filters={"user_id": user}, top_k=10)["results"]
        return not found, len(found) < 10

    for name, ours, mem0 in (
        ("profile before a turn: POST /v1/profile vs get_all", ours_plain, mem0_plain),
        ("profile with q: POST /v1/profile q vs search", ours_q, mem0_q),
    ):
        pairs = interleave(name, data.picks, args.warmup, ours, mem0, rng)
        results.pairs.append(pairs)
        print(
            f"  {name}: ours p50 {np.median(pairs.ours):.2f} ms, mem0 p50 {np.median(pairs.mem0):.2f} ms, "
            f"median ratio {np.median(pairs.ratios()):.1f}x; empty: ours {pairs.ours_empty}, mem0 {pairs.mem0_empty}",
            flush=True,
        )
    with_q = results.pairs[-1]
    # mem0's threshold (0.1 on 1 / (1 + squared L2 distance), at least 0.2 for unit vectors) drops nothing, so
    # its empty answers are the index's misses; ours drop what scores below search.default_threshold (0.45).
    # The same queries at threshold 0, untimed, separate the two.
    timed = data.picks[args.warmup :]
    unfiltered = sum(
        not http.post("/v1/search", json={"user_id": u, "query": q, "threshold": 0, "types": ["facts"]})
        .raise_for_status()
        .json()["results"]
        for u, q in timed
    )
    results.note(
        f"empty answers with q: this server's {with_q.ours_empty} of {len(timed)} are profiles whose search part "
        f"found nothing at or above the default threshold 0.45 (the profile's facts were all there); the same "
        f"queries through POST /v1/search at threshold 0: {unfiltered} empty. mem0's threshold 0.1 filters "
        f"nothing (scores are 1 / (1 + squared L2) >= 0.2), so its {with_q.mem0_empty} empty and "
        f"{with_q.mem0_short} short of 10 (every user has >= 10 memories) come from Chroma's filtered query"
    )


def ingest_phase(
    client: Client, memory: Any, openai: httpx.Client, data: Data, args: argparse.Namespace, results: Results
) -> None:
    http = client.http
    n = len(data.conversations)
    # One conversation each first, untimed: this server imports litellm on its first model call (seconds), and
    # the first call of each client opens its connections.
    warm = {"user_id": data.picks[0][0], "messages": [{"role": "user", "content": "I'm warming up."}], "wait": True}
    http.post("/v1/interactions", json=warm).raise_for_status()
    memory.add(warm["messages"], user_id=warm["user_id"])

    calls = chat_calls(openai)
    started = time.perf_counter()
    ids = []
    for user, messages in data.conversations:
        body = {
            "user_id": user,
            "session_id": f"bench-{uuid.uuid4()}",
            "messages": [{"role": "user", "content": m} for m in messages],
        }
        ids.append(http.post("/v1/interactions", json=body).raise_for_status().json()["request_id"])
    accepted = time.perf_counter() - started
    jobs = wait_all(http, ids)
    seconds = time.perf_counter() - started
    failed = sum(j["status"] == "failed" for j in jobs)
    added = sum(len(j["changes"]["added"]) + len(j["changes"]["updated"]) for j in jobs if j["status"] == "done")
    ours_calls = chat_calls(openai) - calls
    results.ingest.append(
        (
            f"this server: POST /v1/interactions (wait=false), {args.concurrency} extraction workers",
            n,
            seconds,
            f"all accepted in {accepted:.1f} s; {added} facts added or updated, {failed} jobs failed, "
            f"{ours_calls} model calls",
        )
    )

    def add(item: tuple[str, list[str]]) -> int:
        user, messages = item
        return len(memory.add([{"role": "user", "content": m} for m in messages], user_id=user)["results"])

    calls = chat_calls(openai)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        added = sum(pool.map(add, data.conversations))
    seconds = time.perf_counter() - started
    results.ingest.append(
        (
            f"mem0: add() from {args.concurrency} threads",
            n,
            seconds,
            f"{added} memories added, {chat_calls(openai) - calls} model calls",
        )
    )

    if data.sequential:
        calls = chat_calls(openai)
        started = time.perf_counter()
        added = sum(add(item) for item in data.sequential)
        seconds = time.perf_counter() - started
        results.ingest.append(
            (
                "mem0: add(), one call after the other",
                len(data.sequential),
                seconds,
                f"{added} memories added, {chat_calls(openai) - calls} model calls",
            )
        )
    for who, count, secs, note in results.ingest:
        print(f"  {who}: {count} in {secs:.1f} s ({count / secs:.2f}/s); {note}", flush=True)


def run(args: argparse.Namespace, work: Path, results: Results) -> None:
    data = make_data(args)
    openai_proc, api_base = start_openai(args.delay)
    openai = httpx.Client(base_url=api_base.removesuffix("/v1"), timeout=60)
    server = None
    try:
        our_environment(api_base, args.concurrency)
        print(f"seeding {args.users} users x {args.facts_per_user} memories, both systems at once", flush=True)
        seeding = start_seeding_ours(work / "ours", args)
        before_mem0 = rss_mb()
        memory = open_mem0(work / "mem0", api_base)
        mem0_seconds, mem0_stored = (seed_mem0_store if args.mem0_seed == "store" else seed_mem0)(memory, data)
        out, _ = seeding.communicate()
        if seeding.returncode != 0:
            raise RuntimeError(f"seeding this server failed ({seeding.returncode})")
        ours_seed = json.loads(out.strip().splitlines()[-1])
        total = args.users * args.facts_per_user
        how = (
            "through its embedder and vector store objects, one batch per user, no history rows (--mem0-seed store)"
            if args.mem0_seed == "store"
            else "add(infer=False), one call per user, each message embedded and inserted one at a time"
        )
        results.note(
            f"seeding, both at once: mem0 stored {mem0_stored} of {total} memories in {mem0_seconds:.0f} s "
            f"({how}); this server "
            f"stored {ours_seed['added']} in {ours_seed['seconds']:.0f} s (apply_candidates, one call per user, "
            "embedded in batches; the rest reconciled as near-duplicates)"
        )

        report = Report()
        server = start_server(work / "ours", report)
        results.notes.extend(report.notes)
        client = Client(server.base)
        print("reads, interleaved pair by pair:", flush=True)
        read_phase(client, memory, data, args, results)
        results.note(
            f"RSS after the reads: this server's process peak {peak_rss_mb(server.proc.pid):.0f} MB "
            f"(now {current_rss_mb(server.proc.pid):.0f} MB, embedder loaded); this process (mem0 in-process, "
            f"the driver and its HTTP client) peak {rss_mb():.0f} MB, of which {before_mem0:.0f} MB before mem0 was "
            "created (the driver's own imports)"
        )
        print(f"ingest, every chat reply delayed {args.delay * 1000:.0f} ms:", flush=True)
        ingest_phase(client, memory, openai, data, args, results)
        results.note(
            f"peak RSS at the end (after ingest): this server {peak_rss_mb(server.proc.pid):.0f} MB, "
            f"this process {rss_mb():.0f} MB"
        )
        client.http.close()
    finally:
        if server is not None:
            server.stop()
        openai.close()
        stop(openai_proc)


# --- the report -------------------------------------------------------------------------------------

TARGETS = {
    "profile before a turn: POST /v1/profile vs get_all": 20.0,
    "profile with q: POST /v1/profile q vs search": 15.0,
}


def table(results: Results) -> str:
    lines = [
        "| pair (ours vs mem0) | n | ours p50 / p95 ms | mem0 p50 / p95 ms | median of per-pair ratios (mem0 / ours) "
        "| empty answers: ours / mem0 | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for p in results.pairs:
        ratio = float(np.median(p.ratios()))
        target = TARGETS.get(p.name)
        verdict = f">= {target:.0f}x {'met' if ratio >= target else 'MISSED'}" if target else ""
        lines.append(
            f"| {p.name} | {len(p.ours)} | {np.percentile(p.ours, 50):.2f} / {np.percentile(p.ours, 95):.2f} "
            f"| {np.percentile(p.mem0, 50):.2f} / {np.percentile(p.mem0, 95):.2f} | {ratio:.1f}x "
            f"| {p.ours_empty} / {p.mem0_empty} | {verdict} |"
        )
    lines += [
        "",
        "| ingest, chat replies delayed | conversations | seconds | per second | |",
        "|---|---:|---:|---:|---|",
    ]
    ours_rate = None
    for who, count, seconds, note in results.ingest:
        rate = count / seconds
        ours_rate = ours_rate or rate
        versus = "" if rate == ours_rate else f"this server {ours_rate / rate:.1f}x; "
        lines.append(f"| {who} | {count} | {seconds:.1f} | {rate:.2f} | {versus}{note} |")
    return "\n".join(lines)


def commit() -> str:
    """The checkout's commit, marked when it has uncommitted changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def write_readme(results: Results, args: argparse.Namespace) -> None:
    from importlib.metadata import version

    block = "\n".join(
        [
            f"### {args.users:,} users x {args.facts_per_user} memories ({args.memories:,})",
            "",
            f"Command: `{command()}` at {commit()}, on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}; "
            f"mem0ai {version('mem0ai')}, chromadb {version('chromadb')}.",
            "",
            table(results),
            "",
            *[f"- {line}" for line in results.notes],
        ]
    )
    write_block(f"peers-{args.memories}", block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--memories", type=int, default=10_000, help="in all, per system")
    parser.add_argument("--facts-per-user", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300, help="timed pairs per operation, after --warmup")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--conversations", type=int, default=1000, help="ingested by each system")
    parser.add_argument("--mem0-sequential", type=int, default=100, help="conversations for mem0's one-by-one add()")
    parser.add_argument("--concurrency", type=int, default=16, help="our extraction workers and mem0's threads")
    parser.add_argument("--delay", type=float, default=0.3, help="seconds before each chat reply")
    parser.add_argument(
        "--mem0-seed",
        choices=("api", "store"),
        default="api",
        help="api: add(infer=False); store: batches through mem0's embedder and vector store (see seed_mem0_store)",
    )
    parser.add_argument("--smoke", action="store_true", help="10 users x 20 memories, 30 pairs, 40 conversations")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    parser.add_argument("--seed", type=int, default=11, help="random seed")
    parser.add_argument("--users", type=int, help=argparse.SUPPRESS)  # derived from --memories
    parser.add_argument("--seed-ours", type=Path, help=argparse.SUPPRESS)  # set in the seeding child
    args = parser.parse_args()

    if args.seed_ours is not None:
        seed_ours_child(args)
        return
    if args.smoke:
        args.memories, args.facts_per_user, args.queries, args.warmup = 200, 20, 30, 5
        args.conversations, args.mem0_sequential, args.concurrency = 40, 10, 8
    args.users = max(1, args.memories // args.facts_per_user)
    print(machine(), flush=True)

    results = Results()
    load = Load()
    results.note(load.at_start)
    work = Path(tempfile.mkdtemp(prefix="peers-bench-"))
    try:
        run(args, work, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.note(load.at_end("children"))
    print(f"\n{table(results)}\n")
    print("\n".join(f"- {line}" for line in results.notes))
    if not (args.smoke or args.no_readme):
        write_readme(results, args)


if __name__ == "__main__":
    main()
