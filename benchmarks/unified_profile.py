"""The unified profile over HTTP: all built-in sections, each section alone, and today's /v1/profile beside them.

    .venv/bin/python benchmarks/unified_profile.py            # 50 users x (100 facts + 500 messages), 300 calls each
    .venv/bin/python benchmarks/unified_profile.py --smoke    # 10 users x (20 facts + 50 messages), 30 calls each

Users are seeded the way benchmarks/profile_latency.py seeds them (its `seed` and `seed_episodes`: facts through
the real write path, messages through the store layer), then every message gets signals, every user aggregates,
attributes and two identity facts, so each section reads real rows. The server runs in a child process
(profile_latency's `start_server`); each call is one keep-alive GET or POST, timed after a warm-up, on random
users. A full run writes its table between the markers in benchmarks/README.md; --smoke only prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.profile_latency import Client, Report, Row, seed, seed_episodes, start_server, timed_sync  # noqa: E402
from benchmarks.readme import command, write_block  # noqa: E402
from extractors.base import Identity  # noqa: E402
from extractors.identities import identity_fact  # noqa: E402
from extractors.signals import MessageSignals  # noqa: E402
from memory_server import aggregates, timeutil  # noqa: E402
from memory_server.config import load_settings  # noqa: E402
from memory_server.context import Scope  # noqa: E402
from memory_server.pipeline import Origin, apply_candidates  # noqa: E402
from memory_server.reconcile import RulesReconciler  # noqa: E402
from memory_server.sections import BUILTIN  # noqa: E402
from memory_server.service import MemoryService  # noqa: E402
from memory_server.store import signals as signalsql  # noqa: E402
from memory_server.store import users as usersql  # noqa: E402
from memory_server.store.db import read  # noqa: E402

TOPICS = ["billing", "shipping", "product", "support", "pricing"]


async def enrich(service: MemoryService, scope: Scope, users: list[str], rng: random.Random) -> None:
    """Signals for every stored message, then each user's aggregates, attributes and two identities."""
    core = service.core
    config = core.settings.extraction
    for user in users:
        async with core.db.transaction() as conn:
            rows = await read(
                conn, "SELECT id, created_at FROM messages WHERE tenant_id = ? AND user_id = ?", (scope.space, user)
            )
            items = [
                (
                    r["id"],
                    timeutil.from_db(r["created_at"]),
                    "web",
                    MessageSignals(sentiment=rng.uniform(-1, 1), topics={rng.choice(TOPICS): rng.uniform(0.3, 1)}),
                )
                for r in rows
            ]
            await signalsql.put(conn, scope.space, user, items)
            window, analysed = await signalsql.window(conn, scope.space, user, config.signals.aggregates.window_size)
            computed = aggregates.compute(window, config.signals.aggregates, 0.05)
            await usersql.save_aggregates(conn, scope.space, user, computed, analysed, timeutil.now())
            await usersql.set_attributes(conn, scope.space, user, {"plan": rng.choice(["free", "pro"])}, timeutil.now())
        stated = [
            identity_fact(Identity(type="email", value=f"{user}@example.com")),
            identity_fact(Identity(type="phone", value=f"+3519{rng.randrange(10**7, 10**8)}")),
        ]
        origin = Origin(request_id=str(uuid.uuid4()), user_id=user, source="benchmark-seed")
        await apply_candidates(
            core, scope, stated, origin, config, RulesReconciler(config.duplicate_threshold), "benchmark"
        )


async def prepare(data_dir: Path, args: argparse.Namespace, rng: random.Random, report: Report) -> list[str]:
    settings = load_settings(data_dir=data_dir)
    service = await MemoryService.open(settings)
    try:
        scope = Scope(settings.tenant, "benchmark")
        await seed(service, scope, args.users, args.facts_per_user, rng, report)
        await seed_episodes(service, settings.tenant, args.users, args, rng, report)
        users = [f"user-{u:05d}" for u in range(args.users)]
        await enrich(service, scope, users, rng)
        return users
    finally:
        await service.close()


def measure(client: Client, users: list[str], n: int, rng: random.Random, report: Report) -> None:
    warm = max(5, n // 10)
    picks = [rng.choice(users) for _ in range(n + warm)]

    def get(user: str, sections: str | None) -> None:
        params = {} if sections is None else {"sections": sections}
        client.http.get(f"/v1/users/{user}/profile", params=params).raise_for_status()

    report.add(Row("GET /healthz (HTTP floor)", timed_sync([lambda: client.http.get("/healthz")] * (n + warm), warm)))
    today = client.timed("/v1/profile", [{"user_id": u} for u in picks], warm)[0]
    report.add(Row("today's POST /v1/profile, no q", today))
    report.add(
        Row("unified profile, all 8 built-in sections", timed_sync([lambda u=u: get(u, None) for u in picks], warm))
    )
    for name in BUILTIN:
        report.add(Row(f"  sections={name}", timed_sync([lambda u=u, s=name: get(u, s) for u in picks], warm)))
    client.report_errors("POST /v1/profile", report)


def write_readme(report: Report) -> None:
    lines = ["| call | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|"]
    lines += [f"| {r.name.strip()} | {r.pct(50):.2f} | {r.pct(95):.2f} | {r.pct(99):.2f} |" for r in report.rows]
    write_block("unified-profile", "\n".join([f"`{command()}`", "", *lines, "", *(f"- {n}" for n in report.notes)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--facts-per-user", type=int, default=100)
    parser.add_argument("--episodes-per-user", type=int, default=500)
    parser.add_argument("--episode-pool", type=int, default=4000)
    parser.add_argument("--episode-rounds", type=int, default=20)
    parser.add_argument("--queries", type=int, default=300, help="timed calls per row, after a warm-up")
    parser.add_argument("--smoke", action="store_true", help="10 users x (20 facts + 50 messages), 30 calls")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.smoke:
        args.users, args.facts_per_user, args.episodes_per_user, args.episode_pool, args.queries = 10, 20, 50, 400, 30
    rng, report = random.Random(args.seed), Report()
    data_dir = Path(tempfile.mkdtemp(prefix="memory-unified-"))
    try:
        users = asyncio.run(prepare(data_dir, args, rng, report))
        server = start_server(data_dir, report)
        client = Client(server.base)
        try:
            measure(client, users, args.queries, rng, report)
        finally:
            client.http.close()
            server.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if not args.smoke:
        write_readme(report)


if __name__ == "__main__":
    main()
