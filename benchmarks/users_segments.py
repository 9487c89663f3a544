"""Users, signals and segments at scale: the user list over HTTP, segment evaluation and the signals step.

    .venv/bin/python benchmarks/users_segments.py           # 100,000 users, 50 segments, 200 calls per row
    .venv/bin/python benchmarks/users_segments.py --smoke   # 2,000 users, 50 segments, 30 calls; prints only
    .venv/bin/python benchmarks/users_segments.py --data-dir /tmp/bench-users             # seed and keep the dir
    .venv/bin/python benchmarks/users_segments.py --data-dir /tmp/bench-users --skip-seed # reuse it

Seeding goes through the store layer and the domain code, not through ingest (running every message through
the extraction jobs would take hours here): the 320 labelled customer messages of benchmarks/signals are
embedded and analysed once (the real SignalAnalyzer of the default taxonomy) and form the pool each user's
messages are drawn from, by a mood (steady, declining, improving, churning ...) so that churn risk and trends
vary. Per user, in transactions of 1,000 users: `usersql.set_attributes` (plan, country, seats, industry ...),
`messagesql.insert` (one request per user), `usersql.seen`, `signalsql.put` with the pool's signals, then
`signals.refresh` computes and stores the aggregates exactly as after a processed message. A random share of
users (`--vector-users`) also get their messages' episodes and vectors (`episodesql.add`, `put_vectors`); the
rest have messages and signals but no vectors, so `matches` conditions never hold for them. The 50 segments are
created through the service (`Segments.create`, which embeds their `matches` texts); memberships come from
`segments.reevaluate` run once for every user (what the backfill does, one user at a time in batches of 500),
then the backfill is marked done.

Measured in-process (timers around the calls, after a warm-up): `segments.reevaluate` of one user with the 50
segments inside a transaction, with its parts; the signals step of a request (`signals.analyse` for 1-3 new user
messages stored beforehand as ingest stores them: analysis from the stored vectors, storing, aggregates,
segments) per request and per message, with its parts. Over HTTP (uvicorn in a child process, as
profile_latency.py): `GET /v1/users` with a mix of filters, each with `total`. A full run writes its results
between the markers in benchmarks/README.md; --smoke only prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.profile_latency import (  # noqa: E402
    Client,
    Report,
    Row,
    Stopwatch,
    peak_rss_mb,
    start_server,
    table,
    timed,
    timed_sync,
)
from benchmarks.readme import Load, command, machine, write_block  # noqa: E402
from extractors.signals import MessageSignals, Taxonomy  # noqa: E402
from memory_server import aggregates, conditions, segments, signals, timeutil, webhooks, when  # noqa: E402
from memory_server.config import Settings, load_settings  # noqa: E402
from memory_server.context import Core, Scope  # noqa: E402
from memory_server.schemas import SegmentIn  # noqa: E402
from memory_server.service import MemoryService  # noqa: E402
from memory_server.store import episodes as episodesql  # noqa: E402
from memory_server.store import messages as messagesql  # noqa: E402
from memory_server.store import segments as segmentsql  # noqa: E402
from memory_server.store import signals as signalsql  # noqa: E402
from memory_server.store import users as usersql  # noqa: E402
from memory_server.users import attribute_value  # noqa: E402

FIXTURES = [HERE / "signals" / "messages.jsonl", HERE / "signals" / "fresh.jsonl"]
SEED_BATCH = 1_000  # users per seeding transaction
DAYS = 180  # users were last seen within the last six months

# --- synthetic but plausible users ----------------------------------------------------------------------

PLANS = [("free", 0.50), ("starter", 0.25), ("pro", 0.18), ("enterprise", 0.07)]
COUNTRIES = [
    ("US", 30), ("GB", 8), ("DE", 8), ("FR", 6), ("IN", 6), ("BR", 5), ("CA", 4), ("ES", 3), ("IT", 3), ("NL", 3),
    ("PL", 2), ("SE", 2), ("AU", 2), ("JP", 2), ("MX", 2), ("AT", 1), ("CH", 1), ("PT", 1), ("NG", 1), ("KE", 1),
    ("ZA", 1), ("KR", 1), ("NO", 1), ("DK", 1), ("IE", 1),
]  # fmt: skip
INDUSTRIES = "retail|saas|fintech|healthcare|education|logistics|media|gaming|manufacturing|agency|nonprofit|travel"
SOURCES = ["web", "ios", "android", "zendesk", "intercom"]
MOODS = [
    ("happy", 0.35),
    ("neutral", 0.25),
    ("declining", 0.15),
    ("improving", 0.10),
    ("churning", 0.10),
    ("mixed", 0.05),
]
CHURN = {"wants to cancel", "considering alternatives", "wants refund", "wants downgrade"}


def weighted(rng: random.Random, table_: list[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in table_], [w for _, w in table_])[0]


def attributes(rng: random.Random) -> dict[str, Any]:
    plan = weighted(rng, PLANS)
    seats = {"free": 1, "starter": rng.randint(1, 5), "pro": rng.randint(3, 50), "enterprise": rng.randint(50, 2000)}
    price = {"free": 0, "starter": 9, "pro": 29, "enterprise": 49}[plan]
    signup = datetime(2021, 1, 1) + timedelta(days=rng.randint(0, 1700))
    out: dict[str, Any] = {
        "plan": plan,
        "country": weighted(rng, COUNTRIES),
        "seats": seats[plan],
        "mrr": price * seats[plan],
        "industry": rng.choice(INDUSTRIES.split("|")),
        "signup_date": signup.date().isoformat(),
        "beta": rng.random() < 0.1,
    }
    if rng.random() < 0.3:
        out["company"] = f"Company {rng.randint(1, 20_000)}"
    return out


def message_count(rng: random.Random) -> int:
    """Most users wrote a few messages, some many: 1 + geometric, mean about 6, at most 60."""
    n = 1
    while rng.random() < 0.82 and n < 60:
        n += 1
    return n


@dataclass
class Pool:
    """Labelled customer messages, embedded and analysed once; indexes by polarity."""

    texts: list[str]
    vectors: np.ndarray
    found: list[MessageSignals]
    negative: list[int]
    neutral: list[int]
    positive: list[int]
    churn: list[int]

    def pick(self, rng: random.Random, mood: str, position: float) -> int:
        """A message for a user of `mood`, `position` (0..1) of the way through their messages."""
        p_neg, p_pos = {
            "happy": (0.05, 0.70),
            "neutral": (0.20, 0.20),
            "declining": (0.05 + 0.75 * position, 0.75 - 0.7 * position),
            "improving": (0.8 - 0.75 * position, 0.05 + 0.75 * position),
            "churning": (0.6, 0.05),
            "mixed": (0.4, 0.4),
        }[mood]
        if mood == "churning" and rng.random() < 0.35:
            return rng.choice(self.churn)
        r = rng.random()
        return rng.choice(self.negative if r < p_neg else self.positive if r < p_neg + p_pos else self.neutral)


async def build_pool(core: Core, taxonomy: Taxonomy) -> Pool:
    band = taxonomy.neutral_band
    texts = [json.loads(line)["text"] for f in FIXTURES for line in f.read_text().splitlines() if line.strip()]
    vectors = await core.embedder.embed(texts)
    analyzer = await signals.analyzer_for(core, taxonomy)
    found = analyzer.analyze_many(texts, vectors)
    idx = range(len(texts))
    return Pool(
        texts,
        vectors,
        found,
        [i for i in idx if found[i].sentiment < -band],
        [i for i in idx if -band <= found[i].sentiment <= band],
        [i for i in idx if found[i].sentiment > band],
        [i for i in idx if CHURN.intersection(found[i].intentions)] or [0],
    )


# --- segments -----------------------------------------------------------------------------------------------


def segment_specs() -> list[tuple[str, dict[str, Any]]]:
    """50 segments of mixed conditions: attributes, aggregates, topics, intentions, combinations and 12 with
    `matches` (semantic) parts."""
    specs: list[tuple[str, dict[str, Any]]] = [(f"plan {p}", {"attribute": "plan", "eq": p}) for p, _ in PLANS]
    specs += [
        ("large accounts", {"attribute": "seats", "gte": 50}),
        ("DACH", {"attribute": "country", "in": ["DE", "AT", "CH"]}),
        ("North America", {"attribute": "country", "in": ["US", "CA"]}),
        ("beta testers", {"attribute": "beta", "eq": True}),
        ("at risk", {"aggregate": "churn_risk_score", "gte": 0.7}),
        ("watch list", {"aggregate": "churn_risk_score", "gte": 0.5}),
        ("declining", {"aggregate": "sentiment_trend", "eq": "declining"}),
        ("improving", {"aggregate": "sentiment_trend", "eq": "improving"}),
        ("unhappy", {"aggregate": "avg_sentiment", "lt": -0.3}),
        ("promoters", {"aggregate": "avg_sentiment", "gte": 0.4}),
        ("engaged", {"aggregate": "message_count", "gte": 10}),
        ("new", {"aggregate": "analysed_count", "lt": 2}),
        ("price sensitive", {"aggregate": "price_sensitive_ratio", "gte": 0.3}),
        ("mostly negative", {"aggregate": "negative_ratio", "gte": 0.5}),
    ]
    specs += [
        (f"topic {t}", {"has_topic": t, "min_score": 0.2})
        for t in ("billing", "pricing", "support", "bugs", "performance", "features", "onboarding", "cancellation")
    ]
    specs += [
        (f"intends {i}", {"has_intention": i})
        for i in ("wants refund", "considering alternatives", "wants to cancel", "wants upgrade")
    ]
    paid = {"attribute": "plan", "in": ["pro", "enterprise"]}
    specs += [
        ("key accounts at risk", {"all": [paid, {"aggregate": "churn_risk_score", "gte": 0.6}]}),
        ("upsell", {"all": [{"attribute": "plan", "eq": "free"}, {"has_intention": "wants upgrade"}]}),
        ("billing trouble", {"any": [{"has_topic": "billing", "min_score": 0.3}, {"has_intention": "wants refund"}]}),
        (
            "paying and souring",
            {
                "all": [
                    {"not": {"attribute": "plan", "eq": "free"}},
                    {"aggregate": "sentiment_trend", "eq": "declining"},
                    {"aggregate": "message_count", "gte": 3},
                ]
            },
        ),
        (
            "EU price sensitive",
            {
                "all": [
                    {"attribute": "country", "in": ["DE", "FR", "ES", "IT", "NL", "PL", "SE", "AT", "PT", "IE", "DK"]},
                    {"aggregate": "price_sensitive_ratio", "gte": 0.3},
                ]
            },
        ),
        (
            "big teams hitting bugs",
            {"all": [{"attribute": "seats", "gte": 20}, {"has_topic": "bugs", "min_score": 0.2}]},
        ),
        (
            "healthy",
            {
                "not": {
                    "any": [{"aggregate": "churn_risk_score", "gte": 0.3}, {"aggregate": "negative_ratio", "gte": 0.3}]
                }
            },
        ),
        (
            "happy starters",
            {"all": [{"attribute": "plan", "eq": "starter"}, {"aggregate": "avg_sentiment", "gte": 0.3}]},
        ),
    ]
    matches = [
        "frustrated with billing and unexpected charges",
        "wants to cancel the subscription",
        "asking how to connect the API or an integration",
        "the app is slow or keeps crashing",
        "happy with the product and the support team",
        "comparing the product with a competitor",
        "asking for a discount or a cheaper plan",
        "needs help setting up the account",
    ]
    specs += [(f"says: {m}", {"matches": m, "threshold": 0.5}) for m in matches]
    specs += [
        ("paid and leaving", {"all": [paid, {"matches": "thinking of switching to another tool", "threshold": 0.45}]}),
        ("refund", {"any": [{"matches": "I want my money back", "threshold": 0.5}, {"has_intention": "wants refund"}]}),
        (
            "risky cancellers",
            {
                "all": [
                    {"aggregate": "churn_risk_score", "gte": 0.5},
                    {"matches": "cancel my account", "threshold": 0.45},
                ]
            },
        ),
        (
            "feature askers",
            {
                "all": [
                    {"not": {"attribute": "beta", "eq": True}},
                    {"matches": "please add this feature", "threshold": 0.5},
                ]
            },
        ),
    ]
    return specs


# --- seeding ------------------------------------------------------------------------------------------------


def user_id(u: int) -> str:
    return f"user-{u:06d}"


async def seed(
    service: MemoryService, scope: Scope, args: argparse.Namespace, rng: random.Random, report: Report
) -> None:
    core = service.core
    tenant = scope.tenant_id
    _, config = await core.configs.active(tenant)
    started = time.perf_counter()
    pool = await build_pool(core, config.signals.taxonomy)
    model = core.embedder.model_id
    pooled = time.perf_counter()
    print(f"  pool of {len(pool.texts)} messages embedded and analysed in {pooled - started:.1f} s", flush=True)
    now = timeutil.now()
    with_vectors = set(rng.sample(range(args.users), min(args.vector_users, args.users)))
    messages = embedded = silent = 0
    clock = Stopwatch()
    with clock.watch(signals, "refresh", "refresh"):
        for first in range(0, args.users, SEED_BATCH):
            async with core.db.transaction() as conn:
                for u in range(first, min(args.users, first + SEED_BATCH)):
                    user = user_id(u)
                    await usersql.set_attributes(conn, tenant, user, attributes(rng), now)
                    if rng.random() < 0.05:  # known from the CRM, never wrote
                        silent += 1
                        continue
                    n, mood = message_count(rng), weighted(rng, MOODS)
                    last = now - timedelta(seconds=rng.uniform(0, DAYS * 86_400))
                    gaps = [rng.expovariate(1 / 3) for _ in range(n)]  # days between messages, mean 3
                    times = [last - timedelta(days=sum(gaps[k + 1 :])) for k in range(n)]
                    picks = [pool.pick(rng, mood, k / max(1, n - 1)) for k in range(n)]
                    rows = [(k, "user", pool.texts[j], at) for k, (j, at) in enumerate(zip(picks, times, strict=True))]
                    ids = await messagesql.insert(conn, tenant, user, str(uuid.uuid4()), f"chat-{user}", rows)
                    source = rng.choice(SOURCES)
                    await usersql.seen(conn, tenant, user, source=source, attributes={}, times=times, now=now)
                    await signalsql.put(
                        conn,
                        tenant,
                        user,
                        [(i, at, source, pool.found[j]) for i, j, at in zip(ids, picks, times, strict=True)],
                    )
                    if u in with_vectors:
                        await episodesql.add(
                            conn,
                            tenant,
                            user,
                            [
                                (i, pool.texts[j], when.message_tokens(pool.texts[j], at))
                                for i, j, at in zip(ids, picks, times, strict=True)
                            ],
                        )
                        await episodesql.put_vectors(
                            conn, [(i, model, pool.vectors[j]) for i, j in zip(ids, picks, strict=True)]
                        )
                        embedded += n
                    await signals.refresh(core, conn, tenant, user, config)
                    messages += n
            done = min(args.users, first + SEED_BATCH)
            if done % max(SEED_BATCH, args.users // 10) == 0 or done == args.users:
                rate = done / (time.perf_counter() - pooled)
                print(f"  seeded {done}/{args.users} users ({rate:.0f} users/s so far)", flush=True)
    users_s = time.perf_counter() - pooled
    await core.vectors.flush()  # the vector users' episodes into Chroma
    flushed = time.perf_counter()

    # Segments through the service (it validates them and embeds their `matches` texts), then memberships.
    ids = [
        (await service.segments.create(scope, SegmentIn(name=name, condition=cond))).id
        for name, cond in segment_specs()[: args.segments]
    ]
    created = time.perf_counter()
    after, evaluated, entered = None, 0, 0
    with clock.watch(segments, "reevaluate", "reevaluate"):
        while True:
            rows = await usersql.batch_after(core.db, tenant, after, segments.BACKFILL_BATCH)
            if not rows:
                break
            async with core.db.transaction() as conn:
                for row in rows:
                    joined, _ = await segments.reevaluate(core, conn, tenant, row["user_id"], now, row)
                    entered += len(joined)
            evaluated += len(rows)
            after = rows[-1]["user_id"]
            if evaluated % max(segments.BACKFILL_BATCH, args.users // 10 // 500 * 500) == 0:
                print(f"  segment memberships of {evaluated}/{args.users} users", flush=True)
    async with core.db.transaction() as conn:
        for segment_id in ids:
            await segmentsql.advance(conn, segment_id, None, None, evaluated)
    elapsed = time.perf_counter() - started
    reevaluated = clock.ms["reevaluate"]
    report.note(
        f"seeding: {args.users} users ({silent} with attributes only), {messages} user messages with their signals "
        f"({embedded} of them with episodes and vectors, for {len(with_vectors)} users), 1 request per user, message "
        f"times over the last {DAYS} days; {len(ids)} segments, {entered} memberships; {elapsed:.0f} s in all: "
        f"pool {pooled - started:.0f} s, users {users_s:.0f} s ({clock.seconds('refresh'):.0f} s of it in "
        f"signals.refresh), Chroma flush {flushed - pooled - users_s:.0f} s, segments created "
        f"{created - flushed:.0f} s, memberships {time.perf_counter() - created:.0f} s "
        f"(segments.reevaluate of every user: median {np.median(reevaluated):.2f} ms, p99 "
        f"{np.percentile(reevaluated, 99):.2f} ms)"
    )


#: What a change of membership costs: the member row and the event (a webhooks query when nobody subscribed).
CHANGES = [
    ("enter / leave a segment + event", segmentsql, "enter"),
    ("enter / leave a segment + event", segmentsql, "leave"),
    ("enter / leave a segment + event", webhooks, "emit"),
]

AFTER_A_MESSAGE = "segments after the message (segments.reevaluate)"

# --- in-process -------------------------------------------------------------------------------------------


async def measure_segments(
    core: Core, tenant: str, users: list[str], n: int, rng: random.Random, report: Report
) -> None:
    """segments.reevaluate for one user inside a transaction (users with vectors, as every user has in use)."""
    warm = max(5, n // 10)
    picks = [rng.choice(users) for _ in range(n + warm)]
    async with core.db.transaction() as conn:
        compiled = await segments.compiled(core, conn, tenant)
    matching = sum(bool(conditions.texts(s.node)) for s in compiled)

    async def once(user: str) -> float:
        async with core.db.transaction() as conn:
            begun = time.perf_counter()
            await segments.reevaluate(core, conn, tenant, user, timeutil.now())
            return (time.perf_counter() - begun) * 1000

    ms = [await once(u) for u in picks][warm:]
    report.add(Row(f"segments.reevaluate, {len(compiled)} segments (in-process, in a transaction)", ms, "p50 <= 2 ms"))

    clock = Stopwatch()
    parts = [
        ("compiled segments (stamp query, cache)", segments, "compiled"),
        ("read the user's row (usersql.row_of)", usersql, "row_of"),
        ("read the window's vectors (signalsql.window_vectors)", signalsql, "window_vectors"),
        ("build the subject (parse aggregates, attributes)", segments, "_subject"),
        ("read memberships (segmentsql.memberships)", segmentsql, "memberships"),
        *CHANGES,
    ]
    per: dict[str, list[float]] = {label: [] for label, *_ in parts}
    totals = []
    with contextlib.ExitStack() as stack:
        for label, owner, name in parts:
            stack.enter_context(clock.watch(owner, name, label))
        for u in picks:
            clock.ms.clear()
            totals.append(await once(u))
            for label in per:
                per[label].append(sum(clock.ms[label]))
    for label in per:
        report.add(Row(f"  part: {label}", per[label][warm:]))

    # The conditions themselves, pure Python over a subject built beforehand.
    subjects = []
    for u in picks:
        async with core.db.transaction() as conn:
            row = await usersql.row_of(conn, tenant, u)
            window = await signalsql.window_vectors(conn, tenant, u, segments.MATCH_WINDOW)
        texts = {t: v for s in compiled for t, v in s.texts.items()}
        subjects.append((row, window, texts))

    def evaluate_all(row: Any, window: list[bytes], texts: dict[str, np.ndarray]) -> None:
        subject = segments._subject(row, window, texts)
        for s in compiled:
            conditions.evaluate(s.node, subject)

    report.add(
        Row(
            f"  part: evaluate the {len(compiled)} conditions ({matching} with `matches`), subject included",
            timed_sync([lambda a=a: evaluate_all(*a) for a in subjects], warm),
        )
    )
    windows = [len(w) for _, w, _ in subjects[warm:]]
    report.note(
        f"segments.reevaluate: {len(compiled)} segments, {matching} of them with `matches` parts "
        f"({sum(len(s.texts) for s in compiled)} texts); sampled users (with vectors) have median "
        f"{int(np.median(windows))} vectors in their window (at most {segments.MATCH_WINDOW}); the parts come from "
        "a second pass with timers around those functions"
    )


async def measure_signals(
    core: Core, tenant: str, users: list[str], n: int, rng: random.Random, report: Report
) -> None:
    """The signals step of a request of 1-3 new user messages, stored first as ingest stores them."""
    _, config = await core.configs.active(tenant)
    pool = await build_pool(core, config.signals.taxonomy)
    model = core.embedder.model_id
    warm = max(5, n // 10)
    analyzer = await signals.analyzer_for(core, config.signals.taxonomy)  # the instance analyse will use
    clock = Stopwatch()
    parts = [
        ("analyzer (cached per taxonomy)", signals, "analyzer_for"),
        ("the messages' stored vectors (episodesql.vectors_by_id)", signals, "_vectors"),
        ("analysis (SignalAnalyzer.analyze_many)", analyzer, "analyze_many"),
        ("store the signals (signalsql.put)", signalsql, "put"),
        ("read the window (signalsql.window)", signalsql, "window"),
        ("compute the aggregates (aggregates.compute)", aggregates, "compute"),
        ("store the aggregates (usersql.save_aggregates)", usersql, "save_aggregates"),
        (AFTER_A_MESSAGE, segments, "reevaluate"),
        *[("  of which: " + label, owner, name) for label, owner, name in CHANGES],
    ]
    totals, per_message, sizes = [], [], []
    per: dict[str, list[float]] = {label: [] for label, *_ in parts}
    with contextlib.ExitStack() as stack:
        for label, owner, name in parts:
            stack.enter_context(clock.watch(owner, name, label))
        for _ in range(n + warm):
            user = rng.choice(users)
            picks = [rng.randrange(len(pool.texts)) for _ in range(rng.randint(1, 3))]
            now = timeutil.now()
            rows = [(k, "user", pool.texts[j], now + timedelta(seconds=k)) for k, j in enumerate(picks)]
            request_id = str(uuid.uuid4())
            async with core.db.transaction() as conn:  # what ingest.store and the embedding flush write
                ids = await messagesql.insert(conn, tenant, user, request_id, f"bench-{request_id}", rows)
                await episodesql.add(
                    conn,
                    tenant,
                    user,
                    [(i, t, when.message_tokens(t, at)) for i, (_, _, t, at) in zip(ids, rows, strict=True)],
                )
                await episodesql.put_vectors(
                    conn, [(i, model, pool.vectors[j]) for i, j in zip(ids, picks, strict=True)]
                )
                await usersql.seen(conn, tenant, user, source="web", attributes={}, times=[r[3] for r in rows], now=now)
            stored = await messagesql.of_request(core.db, tenant, request_id)
            clock.ms.clear()
            begun = time.perf_counter()
            await signals.analyse(core, tenant, user, config, stored, "web")
            ms = (time.perf_counter() - begun) * 1000
            totals.append(ms)
            per_message.append(ms / len(stored))
            sizes.append(len(stored))
            for label in per:
                per[label].append(sum(clock.ms[label]))
    report.add(Row("signals.analyse, whole step (in-process, per request of 1-3 messages)", totals[warm:]))
    report.add(Row("signals.analyse, whole step (in-process, per message)", per_message[warm:], "p50 <= 5 ms"))
    for label in per:
        name = f"    {label.strip()}" if label.startswith(" ") else f"  part: {label}"
        report.add(Row(name, per[label][warm:], "p50 <= 2 ms" if label == AFTER_A_MESSAGE else ""))
    outer = [label for label in per if not label.startswith(" ")]
    rest = [t - sum(per[label][i] for label in outer) for i, t in enumerate(totals)]
    report.add(Row("  part: the rest (transaction BEGIN/COMMIT, glue)", rest[warm:]))
    await core.vectors.flush()
    report.note(
        f"signals step: {n} requests ({sum(sizes[warm:])} messages) to random users with vectors, each stored "
        "first (untimed) as ingest stores it, with the pooled vector; timers around the parts in the same calls"
    )


async def in_process_phase(
    settings: Settings, args: argparse.Namespace, rng: random.Random, report: Report
) -> dict[str, Any]:
    service = await MemoryService.open(settings)
    try:
        scope = Scope(settings.tenant, "benchmark")
        core = service.core
        kept = settings.data_dir / "benchmark-seeding.txt"
        if not args.skip_seed:
            before = len(report.notes)
            await seed(service, scope, args, rng, report)
            kept.write_text("\n".join(report.notes[before:]) + "\n")
        elif kept.exists():
            for line in kept.read_text().splitlines():
                report.note(f"{line} (when this data directory was seeded)")
        users = [
            r["user_id"]
            for r in await core.db.fetchall("SELECT user_id FROM users WHERE tenant_id = ?", (scope.tenant_id,))
        ]
        if not users:
            raise SystemExit(f"no users in {settings.data_dir}: run without --skip-seed first")
        with_vectors = [
            r["user_id"]
            for r in await core.db.fetchall(
                "SELECT DISTINCT m.user_id FROM message_vectors v JOIN messages m ON m.id = v.message_id "
                "WHERE m.tenant_id = ?",
                (scope.tenant_id,),
            )
        ]
        counts = await core.db.fetchone(
            "SELECT (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM message_signals) AS signals, "
            "(SELECT count(*) FROM segment_members) AS members, (SELECT count(*) FROM segments) AS segments"
        )
        report.note(
            f"data: {len(users)} users ({len(with_vectors)} with vectors), {counts['messages']} messages, "
            f"{counts['signals']} analysed, {counts['segments']} segments, {counts['members']} memberships "
            f"({counts['members'] / len(users):.1f} per user)"
        )
        await measure_segments(core, scope.tenant_id, with_vectors, args.queries, rng, report)
        await measure_signals(core, scope.tenant_id, with_vectors, args.queries, rng, report)
        sizes = await core.db.fetchall(
            "SELECT s.id, s.name, count(m.user_id) AS n FROM segments s LEFT JOIN segment_members m "
            "ON m.segment_id = s.id GROUP BY s.id ORDER BY n DESC"
        )
        found = {"users": len(users), "segments": [(r["id"], r["name"], r["n"]) for r in sizes]}
        if args.legacy_queries:
            await compare_list_sql(core, scope.tenant_id, found, args.legacy_queries, rng, report)
        return found
    finally:
        await service.close()


async def legacy_page(db: Any, tenant_id: str, kw: dict[str, Any]) -> tuple[list[Any], int]:
    """`store.users.page` as it was before this benchmark (fe8e642): for the comparison in the same run."""
    where, params = ["tenant_id = ?"], [tenant_id]
    for sql, value in (
        ("churn_risk_score >= ?", kw["churn_risk_gte"]),
        ("churn_risk_score <= ?", kw["churn_risk_lte"]),
        ("sentiment_trend = ?", kw["sentiment_trend"]),
        ("analysed_count >= ?", kw["min_messages"]),
    ):
        if value is not None:
            where.append(sql)
            params.append(value)
    if kw["segment"] is not None:
        where.append("user_id IN (SELECT user_id FROM segment_members WHERE segment_id = ? AND tenant_id = ?)")
        params.extend((kw["segment"], tenant_id))
    for name, value in kw["attributes"].items():
        where.append("json_extract(attributes, ?) IS ?")
        params.extend((f'$."{name}"', value))
    condition = " AND ".join(where)
    total = await db.fetchone(f"SELECT count(*) AS n FROM users WHERE {condition}", params)
    rows = await db.fetchall(
        f"SELECT * FROM users WHERE {condition} ORDER BY last_seen DESC, user_id LIMIT ? OFFSET ?",
        (*params, kw["limit"], kw["offset"]),
    )
    return [usersql._record(r) for r in rows], int(total["n"]) if total else 0


def page_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The query string of GET /v1/users as store.users.page takes it."""
    kw: dict[str, Any] = {"churn_risk_gte": None, "churn_risk_lte": None, "sentiment_trend": None}
    kw.update(min_messages=None, segment=None, attributes={}, limit=20, offset=0)
    for key, value in params.items():
        if key.startswith("attr."):
            kw["attributes"][key.removeprefix("attr.")] = attribute_value(str(value))
        else:
            kw[key] = value
    return kw


async def compare_list_sql(
    core: Core, tenant: str, found: dict[str, Any], n: int, rng: random.Random, report: Report
) -> None:
    """store.users.page now and the SQL it replaced, in-process on the same data, one filter mix after the other."""
    ratios = []
    for name, params in filter_mixes(found):
        kw = page_arguments(params)
        pages = [{**kw, "offset": kw["offset"] + rng.randrange(0, 100)} for _ in range(n + 2)]
        now = await timed([lambda p=p: usersql.page(core.db, tenant, **p) for p in pages], 2)
        before = await timed([lambda p=p: legacy_page(core.db, tenant, p) for p in pages], 2)
        for p in pages[:3]:  # the same page and total
            mine, theirs = await usersql.page(core.db, tenant, **p), await legacy_page(core.db, tenant, p)
            if [u.user_id for u in mine[0]] != [u.user_id for u in theirs[0]] or mine[1] != theirs[1]:
                report.note(f"users.page and the SQL before DISAGREE on {name} (offset {p['offset']})")
        report.add(Row(f"users.page, {name} (in-process)", now))
        report.add(Row(f"  before (fe8e642 SQL, same data): {name}", before))
        ratios.append(f"{name.split(' (')[0]}: {np.median(before) / np.median(now):.0f}x")
    report.note(
        f"users.page against the SQL it replaced, in-process in the same run ({n} pages each, alternating by "
        "filter; the old SQL runs on the new schema, so its figures are if anything better than before): "
        "p50 before / now: " + "; ".join(ratios)
    )


# --- over HTTP -------------------------------------------------------------------------------------------


def filter_mixes(found: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    by_size = found["segments"]
    big = next(s for s in by_size if s[2] < found["users"] * 0.6)  # a big segment, not a plan of half the users
    small = next(s for s in reversed(by_size) if s[2] >= 20)
    deep = max(0, found["users"] // 2)
    return [
        ("no filter", {}),
        ("churn_risk_gte=0.7", {"churn_risk_gte": 0.7}),
        ("churn_risk_lte=0.1", {"churn_risk_lte": 0.1}),
        ("sentiment_trend=declining&min_messages=3", {"sentiment_trend": "declining", "min_messages": 3}),
        ("attr.plan=pro", {"attr.plan": "pro"}),
        ("attr.country=DE&attr.plan=enterprise", {"attr.country": "DE", "attr.plan": "enterprise"}),
        (f"segment (big: {big[1]!r}, {big[2]} members)", {"segment": big[0]}),
        (f"segment (small: {small[1]!r}, {small[2]} members)", {"segment": small[0]}),
        (
            "combined: churn_risk_gte=0.5&sentiment_trend=declining&min_messages=3&attr.plan=pro",
            {"churn_risk_gte": 0.5, "sentiment_trend": "declining", "min_messages": 3, "attr.plan": "pro"},
        ),
        ("combined: segment (big) & attr.plan=pro", {"segment": big[0], "attr.plan": "pro"}),
        (f"deep offset: no filter, offset={deep}", {"offset": deep}),
        ("deep offset: attr.plan=free, offset=20000", {"attr.plan": "free", "offset": min(20_000, deep)}),
    ]


def get_users(client: Client, params: dict[str, Any]) -> dict[str, Any] | None:
    """GET /v1/users; a failure is counted in the client's errors instead of raised."""
    response = client.http.get("/v1/users", params=params)
    if response.is_error:
        client.errors.append(f"{response.status_code} {response.text[:200]}")
        return None
    return response.json()


def http_phase(
    data_dir: Path, found: dict[str, Any], args: argparse.Namespace, rng: random.Random, report: Report
) -> None:
    server = start_server(data_dir, report)
    client = Client(server.base)
    n, warm = args.queries, max(5, args.queries // 10)
    try:
        floor = timed_sync([lambda: client.http.get("/healthz").raise_for_status()] * (n + warm), warm)
        report.add(Row("GET /healthz (HTTP floor)", floor))
        everything: list[float] = []
        totals = []
        for name, params in filter_mixes(found):
            answers: list[Any] = []
            pages = [
                {"limit": 20, **params, "offset": params.get("offset", 0) + rng.randrange(0, 100)}
                for _ in range(n + warm)
            ]
            ms = timed_sync([lambda p=p, a=answers: a.append(get_users(client, p)) for p in pages], warm)
            everything.extend(ms)
            report.add(Row(f"GET /v1/users {name}", ms, "p50 <= 20 ms"))
            if answers[-1] is not None:
                totals.append(f"{name.split(' (')[0]}: {answers[-1]['total']}")
        report.add(Row("GET /v1/users, all of the above", everything, "p50 <= 20 ms"))
        report.note("total per filter: " + "; ".join(totals))
        report.note(
            f"each row: {n} pages of 20 at a random offset (0-99 after the one named) after {warm} warm-up calls"
        )
        client.report_errors("GET /v1/users", report)
        report.note(f"peak RSS of the server process: {peak_rss_mb(server.proc.pid):.0f} MB")
    finally:
        client.http.close()
        server.stop()


# --- the report -------------------------------------------------------------------------------------------


def write_readme(report: Report, args: argparse.Namespace) -> None:
    block = "\n".join(
        [
            "## Users, signals and segments (`users_segments.py`)",
            "",
            f"Machine: {machine()}.",
            "",
            f"Command: `{command()}`",
            "",
            f"Targets (issue 11): the signals step p50 <= 5 ms per message offline; `GET /v1/users` with filters over "
            f"100,000 users p50 <= 20 ms over HTTP; segment evaluation after a message p50 <= 2 ms with 50 segments. "
            f"Here: {args.users:,} users, {args.segments} segments.",
            "",
            table(report),
            "",
            *[f"- {line}" for line in report.notes],
        ]
    )
    write_block("users_segments", block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--vector-users", type=int, default=3_000, help="users whose messages get episodes and vectors")
    parser.add_argument("--segments", type=int, default=50, help=f"at most {len(segment_specs())}")
    parser.add_argument("--queries", type=int, default=200, help="timed calls per row, after a warm-up")
    parser.add_argument(
        "--legacy-queries", type=int, default=20, help="pages per filter with the SQL before (0: no comparison)"
    )
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory, removed afterwards")
    parser.add_argument("--skip-seed", action="store_true", help="reuse the users already in --data-dir")
    parser.add_argument("--smoke", action="store_true", help="2,000 users (300 with vectors), 30 calls; prints only")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    parser.add_argument("--seed", type=int, default=11, help="random seed")
    args = parser.parse_args()
    if args.smoke:
        args.users, args.vector_users, args.queries, args.legacy_queries = 2_000, 300, 30, 5
    if args.skip_seed and args.data_dir is None:
        parser.error("--skip-seed needs --data-dir")
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="memory-bench-users-")) if temporary else args.data_dir.resolve()
    print(f"{machine()}\ndata dir: {data_dir}")

    rng = random.Random(args.seed)
    report = Report()
    load = Load()
    report.note(load.at_start)
    try:
        settings = load_settings(data_dir=data_dir)
        print("in-process:")
        found = asyncio.run(in_process_phase(settings, args, rng, report))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report.note(f"peak RSS of the benchmark process (seeding and in-process runs): {peak:.0f} MB")
        print("over HTTP:")
        http_phase(data_dir, found, args, rng, report)
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    report.note(load.at_end("server"))
    print(f"\n{table(report)}\n")
    print("\n".join(f"- {line}" for line in report.notes))
    if not (args.smoke or args.no_readme):
        write_readme(report, args)


if __name__ == "__main__":
    main()
