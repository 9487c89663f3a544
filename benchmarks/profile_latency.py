"""Per-turn latency at scale: profile, search and ingest, in-process and over HTTP.

    .venv/bin/python benchmarks/profile_latency.py          # 1,000 users x (100 facts + 500 episodes), 300 queries
    .venv/bin/python benchmarks/profile_latency.py --smoke  # 20 users x (20 facts + 50 episodes), 30 queries
    .venv/bin/python benchmarks/profile_latency.py --data-dir /tmp/bench            # seed and keep the dir
    .venv/bin/python benchmarks/profile_latency.py --data-dir /tmp/bench --skip-seed  # reuse it

Facts are seeded through the real write path (MemoryService.open, then pipeline.apply_candidates with
one call per user, so each user's facts are embedded in batches and reconciled). Episodes (stored user
messages) are not: running 500,000 messages through ingest and the embedder would take hours here, so
a pool of distinct chat messages is embedded once and each user's messages are written through the store
layer with the pooled vectors (see `seed_episodes`); the outbox flush then only fills Chroma. Every operation is timed
with perf_counter after a warm-up, on random users. The HTTP half runs uvicorn in a child process on the
same data directory (one process owns a data directory, so the in-process service is closed first).
A full run writes its results between the markers in benchmarks/README.md; --smoke only prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.readme import Load, command, machine, write_block  # noqa: E402
from benchmarks.server import Server, free_port, launch  # noqa: E402
from extractors.base import CandidateFact  # noqa: E402
from memory_server import episodes, retrieval, search, terms, timeutil, when  # noqa: E402
from memory_server.config import Settings, load_settings  # noqa: E402
from memory_server.context import Scope  # noqa: E402
from memory_server.pipeline import Origin, apply_candidates  # noqa: E402
from memory_server.reconcile import Action, RulesReconciler  # noqa: E402
from memory_server.schemas import ProfileIn, SearchIn  # noqa: E402
from memory_server.service import MemoryService  # noqa: E402
from memory_server.store import episodes as episodesql  # noqa: E402
from memory_server.store import facts as factsql  # noqa: E402
from memory_server.store import fts  # noqa: E402
from memory_server.store import messages as messagesql  # noqa: E402

DAY = 86_400
EPISODE_DAYS = 270  # seeded messages are spread over about nine months

# --- synthetic but varied data ----------------------------------------------------------------------


def choices(text: str) -> list[str]:
    """Alternatives separated by "|"."""
    return text.split("|")


WORDS: dict[str, list[str]] = {
    "job": choices("nurse|teacher|plumber|data engineer|pharmacist|architect|baker|translator|UX designer|pilot"),
    "company": choices("Northwind|Globex|Initech|Umbrella Health|Stark Logistics|Acme Robotics|Hooli|Pied Piper"),
    "city": choices("Oslo|Lisbon|Nairobi|Osaka|Montreal|Krakow|Tbilisi|Porto|Adelaide|Bergen|Lyon|Kyoto|Dakar|Hanoi"),
    "hobby": choices("bouldering|sourdough baking|birdwatching|trail running|pottery|chess|salsa dancing|kayaking"),
    "relative": choices("sister|brother|daughter|son|mother|father|cousin|grandmother"),
    "name": choices("Maya|Tomas|Ingrid|Kofi|Aiko|Lucas|Priya|Mateo|Elif|Sven|Noor|Zofia"),
    "pet": choices("cat|dog|parrot|rabbit|tortoise|hamster"),
    "food": choices("ramen|paella|pierogi|jollof rice|pho|shakshuka|dal makhani|tacos al pastor|bibimbap|ceviche"),
    "allergen": choices("peanuts|shellfish|gluten|lactose|sesame|kiwi"),
    "tool": choices("Neovim|VS Code|Excel|Figma|Blender|Obsidian|Jupyter|Docker|Notion|Grafana"),
    "task": choices("note taking|budgeting|prototyping|data analysis|video editing|writing|deployments"),
    "lang": choices("Norwegian|Portuguese|Swahili|Japanese|French|Polish|Spanish|Georgian|Korean"),
    "car": choices("Volvo V60|Toyota Prius|Skoda Octavia|Tesla Model 3|Fiat Panda|Honda Civic"),
    "instrument": choices("cello|trumpet|bass guitar|drums|piano|violin"),
    "team": choices("Rosenborg|Benfica|Gor Mahia|Cerezo Osaka|CF Montreal|Wisla Krakow"),
    "month": choices("January|February|March|April|May|June|July|August|September|October|November|December"),
    "subject": choices("marine biology|economics|mechanical engineering|linguistics|nursing|history"),
    "project": choices("Falcon|Nimbus|Orchid|Basalt|Kestrel|Tundra|Lumen|Quartz|Heron|Juniper"),
    "book": choices("Middlemarch|The Dispossessed|Piranesi|Project Hail Mary|The Overstory|Klara and the Sun"),
    "exam": choices("CFA level 2|driving|IELTS|AWS solutions architect|bar|nursing licence"),
    "appointment": choices("dentist|physiotherapy|eye test|visa|bank|tax advisor"),
    "injury": choices("sprained ankle|broken wrist|pulled hamstring|knee strain"),
    "sport": choices("football|tennis|climbing|swimming|running"),
    "bug": choices("memory leak|race condition|timezone bug|deadlock"),
    "diet": choices("low-sugar|vegan|high-protein|low-FODMAP"),
}

STATIC = [
    "User works as a {job} at {company}.",
    "User lives in {city}.",
    "User grew up in {city} and moved away at age {age}.",
    "User has worked at {company} since {year}.",
    "User enjoys {hobby} on weekends.",
    "User has been doing {hobby} for {n} years.",
    "User's {relative} {name} lives in {city}.",
    "User's {relative} {name} is {age} years old.",
    "User has a {pet} named {name}.",
    "User's favourite food is {food}.",
    "User is allergic to {allergen}.",
    "User uses {tool} for {task}.",
    "User speaks {lang} and is learning {lang2}.",
    "User drives a {year} {car}.",
    "User plays the {instrument} in a band that rehearses {n} times a month.",
    "User has supported {team} since {year}.",
    "User's birthday is on {month} {day}.",
    "User studied {subject} in {city} and graduated in {year}.",
    "User runs {n}0 km every month.",
    "User maintains the open-source project {project} with {n}00 stars.",
    "User's team at {company} has {n} engineers.",
    "User has {n} children.",
    "User cooks {food} for friends about {n} times a year.",
    "User's {relative} {name} works as a {job}.",
]
DYNAMIC = [
    "User is travelling to {city} on {month} {day} for a conference.",
    "User is currently reading {book}.",
    "User is preparing for the {exam} exam in {n} weeks.",
    "User has a {appointment} appointment on {month} {day} at {hour}:00.",
    "User is leading project {project}, due on {month} {day}.",
    "User is recovering from a {injury} and skips {sport} for {n} weeks.",
    "User is looking for an apartment in {city} under {n}00 euros a month.",
    "User is debugging a {bug} in project {project} this week.",
    "User is on a {diet} diet for the next {n} weeks.",
    "User's {relative} {name} is visiting until {month} {day}.",
]
QUESTIONS = [
    "Where does the user live?",
    "What does the user do for work?",
    "Does the user have any pets?",
    "What food does the user like?",
    "Is the user allergic to anything?",
    "Which tool does the user use for {task}?",
    "What is the user doing on weekends?",
    "Tell me about the user's {relative}",
    "How is project {project} going?",
    "When is the user travelling to {city}?",
    "Any upcoming appointments this month?",
    "What languages does the user speak?",
    "What car does the user drive?",
    "Which book is the user reading?",
    "What exam is the user studying for?",
]
# Recall of something said in a conversation (what episodes are for), asked in the user's words.
RECALLS = [
    "What did I say about {food}?",
    "When did I mention my {relative} {name}?",
    "the trip to {city}",
    "that {bug} in {project}",
    "Did I tell you about my {appointment} appointment?",
    "what was wrong with my {pet}",
    "gift ideas for my {relative}",
    "What did I think of {book}?",
    "my {injury}",
    "which {food} place in {city}",
]
SAYINGS = [
    "I'm a {job} and I live in {city}.",
    "I work at {company} as a {job}.",
    "I just moved to {city}.",
    "My {relative} {name} is {age} years old.",
    "I have a {pet} called {name}.",
    "I love {food}.",
    "I'm allergic to {allergen}.",
    "I've been doing {hobby} for {n} years.",
    "I'm flying to {city} next week.",
    "I use {tool} for {task} every day.",
    "My favourite food is {food}.",
    "I speak {lang}.",
    "Honestly the weather has been awful lately.",
    "Can you help me plan a trip?",
]
# What people say to an assistant beyond facts about themselves: episodes are every message, not only these.
CHATTER = [
    "We went to {city} last weekend and the {food} there was amazing.",
    "Ugh, the {bug} in {project} kept me up until {hour} last night.",
    "Can you remind me what I told you about my {relative} {name}?",
    "My {relative} {name} wants to get into {hobby}, any tips for a beginner?",
    "I have a {appointment} appointment on {month} {day}, please remind me the day before.",
    "Just finished {book}. The ending surprised me, I did not see it coming.",
    "Studying for the {exam} exam is going slowly, I only managed {n} pages today.",
    "Thinking about selling my {car}, it needs new brakes again.",
    "Can you suggest a recipe for {food} that is {diet}?",
    "My {pet} {name} was sick yesterday, we had to see the vet.",
    "I'm trying to switch from {tool} to something else for {task}. Thoughts?",
    "{team} lost again on Sunday, I can't believe it.",
    "Work at {company} is intense this month, project {project} is due on {month} {day}.",
    "I started {hobby} again after {n} years, my hands hurt.",
    "Could you translate this into {lang} for me? Thanks for dinner last night!",
    "I need a gift idea for my {relative} who turns {age} in {month}.",
    "The rent in {city} went up again, maybe I should look at other neighbourhoods.",
    "Remind me to practise the {instrument} for {n} minutes every evening.",
    "I'm still recovering from the {injury}, no {sport} for a while.",
    "What was the name of that {food} place in {city} I mentioned?",
    "Okay, let's plan the trip to {city} in {month}: flights first, then a hotel.",
    "Thanks, that worked! The {bug} was in the retry logic after all.",
]


def fill(template: str, rng: random.Random) -> str:
    """Fill every {slot} from WORDS or with a plausible number."""
    values: dict[str, Any] = {k: rng.choice(v) for k, v in WORDS.items()}
    values["lang2"] = rng.choice(WORDS["lang"])
    values.update(
        age=rng.randint(3, 90),
        year=rng.randint(1995, 2025),
        n=rng.randint(2, 40),
        day=rng.randint(1, 28),
        hour=rng.randint(8, 18),
    )
    return template.format(**values)


def user_facts(rng: random.Random, count: int) -> list[CandidateFact]:
    """`count` distinct facts, about a quarter of them dynamic with an expiry days to weeks ahead."""
    dynamic = round(count * 0.25)
    seen: set[str] = set()
    out: list[CandidateFact] = []
    while len(out) < count:
        is_dynamic = len(out) < dynamic
        content = fill(rng.choice(DYNAMIC if is_dynamic else STATIC), rng)
        if content in seen:
            continue
        seen.add(content)
        out.append(
            CandidateFact(
                content=content,
                kind="dynamic" if is_dynamic else "static",
                ttl_seconds=rng.randint(3, 60) * DAY if is_dynamic else None,
                confidence=round(rng.uniform(0.6, 1.0), 2),
            )
        )
    rng.shuffle(out)
    return out


def conversation(rng: random.Random) -> list[str]:
    return [fill(rng.choice(SAYINGS), rng) for _ in range(rng.randint(1, 3))]


def question(rng: random.Random) -> str:
    """A search or profile query: half about facts, half recalling something said in a conversation."""
    return fill(rng.choice(QUESTIONS if rng.random() < 0.5 else RECALLS), rng)


def chat_message(rng: random.Random) -> str:
    """One message of a chat: a self-statement or chatter, sometimes two or three sentences long."""
    parts = [
        fill(rng.choice(SAYINGS if rng.random() < 0.35 else CHATTER), rng) for _ in range(rng.choice((1, 1, 2, 3)))
    ]
    return " ".join(parts)


def message_pool(rng: random.Random, size: int) -> list[str]:
    """`size` distinct chat messages."""
    seen: dict[str, None] = {}
    while len(seen) < size:
        seen.setdefault(chat_message(rng), None)
    return list(seen)


# --- timing -----------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table: latencies in milliseconds."""

    name: str
    ms: list[float]
    target: str = ""  # "p50 <= N ms"

    def pct(self, q: float) -> float:
        return float(np.percentile(self.ms, q))

    def verdict(self) -> str:
        if not self.target:
            return ""
        limit = float(self.target.split()[-2])
        return f"{self.target} {'met' if self.pct(50) <= limit else 'MISSED'}"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  {row.name}: p50 {row.pct(50):.2f} ms, p95 {row.pct(95):.2f}, p99 {row.pct(99):.2f} (n={len(row.ms)})")
        return row

    def note(self, line: str) -> None:
        self.notes.append(line)
        print(f"  {line}")

    def p50(self, name: str) -> float:
        return next(r for r in self.rows if r.name.strip() == name).pct(50)


async def timed(calls: Sequence[Callable[[], Awaitable[Any]]], warmup: int, gap: float = 0.0) -> list[float]:
    """Run every call once, in order; time all but the first `warmup`, with `gap` seconds idle before each."""
    out = []
    for i, call in enumerate(calls):
        if gap:
            await asyncio.sleep(gap)
        started = time.perf_counter()
        await call()
        if i >= warmup:
            out.append((time.perf_counter() - started) * 1000)
    return out


def timed_sync(calls: Sequence[Callable[[], Any]], warmup: int) -> list[float]:
    out = []
    for i, call in enumerate(calls):
        started = time.perf_counter()
        call()
        if i >= warmup:
            out.append((time.perf_counter() - started) * 1000)
    return out


class Stopwatch:
    """Collects the durations of calls to some functions or methods, while `watch` is active."""

    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def watch(self, owner: Any, name: str, label: str) -> Iterator[None]:
        """Time every call of `owner.name` (a module's function or an object's sync or async method)."""
        original = getattr(owner, name)
        shadows = name not in vars(owner)  # an instance attribute over the class's method

        def record(started: float) -> None:
            self.ms[label].append((time.perf_counter() - started) * 1000)

        if inspect.iscoroutinefunction(original):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    record(started)
        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    record(started)

        setattr(owner, name, wrapper)
        try:
            yield
        finally:
            if shadows:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    def seconds(self, label: str) -> float:
        return sum(self.ms[label]) / 1000


# --- seeding ----------------------------------------------------------------------------------------


async def seed(
    service: MemoryService, scope: Scope, users: int, per_user: int, rng: random.Random, report: Report
) -> None:
    """Store every user's facts with one apply_candidates call each (embed in batches, reconcile, write)."""
    core = service.core
    config = core.settings.extraction
    reconciler = RulesReconciler(config.duplicate_threshold)
    added = 0
    clock = Stopwatch()
    started = time.perf_counter()
    with clock.watch(core.embedder, "embed", "embed"), clock.watch(core.index, "upsert", "chroma"):
        for u in range(users):
            origin = Origin(request_id=str(uuid.uuid4()), user_id=f"user-{u:05d}", source="benchmark-seed")
            facts = user_facts(rng, per_user)
            outcome = await apply_candidates(core, scope, facts, origin, config, reconciler, "benchmark")
            added += sum(d.action is Action.ADD for d, _ in outcome)
            if (u + 1) % max(1, users // 10) == 0:
                rate = (u + 1) * per_user / (time.perf_counter() - started)
                print(f"  seeded {u + 1}/{users} users ({rate:.0f} facts/s so far)", flush=True)
    elapsed = time.perf_counter() - started
    embed, chroma = clock.seconds("embed"), clock.seconds("chroma")
    upserts = clock.ms["chroma"]
    tenth = max(1, len(upserts) // 10)
    report.note(
        f"seeding: {users} users x {per_user} candidates in {elapsed:.1f} s "
        f"({users * per_user / elapsed:.0f} facts/s), {added} added, the rest reconciled as near-duplicates; "
        f"time in embedding {embed:.0f} s, in Chroma upserts {chroma:.0f} s (median per user's batch "
        f"{np.median(upserts[:tenth]):.0f} ms for the first tenth of users, "
        f"{np.median(upserts[-tenth:]):.0f} ms for the last), reconciling and SQLite {elapsed - embed - chroma:.0f} s"
    )


async def seed_episodes(
    service: MemoryService, tenant: str, users: int, args: argparse.Namespace, rng: random.Random, report: Report
) -> None:
    """Give every user `args.episodes_per_user` user messages (conversations of 1-3) spread over the last
    EPISODE_DAYS days, through the store layer rather than ingest: a pool of distinct chat messages is
    embedded once, and each message is written with messages.insert, episodes.add (keyword rows and the
    outbox) and episodes.put_vectors (the pooled vector, current model) in one transaction. The flush
    then finds every vector stored and only upserts into Chroma.

    Users are written round-robin in `args.episode_rounds` rounds, one transaction per user per round,
    so a user's messages lie scattered over the tables, as they do when many users chat at once."""
    core = service.core
    per_user, rounds = args.episodes_per_user, max(1, args.episode_rounds)
    started = time.perf_counter()
    pool = message_pool(rng, args.episode_pool)
    generated = time.perf_counter()
    vectors_ = await core.embedder.embed(pool)
    embedded = time.perf_counter()
    model = core.embedder.model_id
    print(f"  embedded a pool of {len(pool)} messages in {embedded - generated:.1f} s", flush=True)

    # Each user's conversations (lists of pool indexes, no message twice per user), cut into `rounds` slices.
    plans: list[list[list[list[int]]]] = []
    for _ in range(users):
        picks = rng.sample(range(len(pool)), min(per_user, len(pool)))
        conversations, i = [], 0
        while i < len(picks):
            size = rng.randint(1, 3)
            conversations.append(picks[i : i + size])
            i += size
        cuts = [round(len(conversations) * k / rounds) for k in range(rounds + 1)]
        plans.append([conversations[a:b] for a, b in itertools.pairwise(cuts)])

    now = timeutil.now()
    first = now - timedelta(days=EPISODE_DAYS)
    window = timedelta(days=EPISODE_DAYS) / rounds
    clock, written, sqlite_s = Stopwatch(), 0, 0.0
    with clock.watch(core.embedder, "embed", "embed"), clock.watch(core.episodes, "upsert", "chroma"):
        for r in range(rounds):
            began = time.perf_counter()
            for u in range(users):
                user = f"user-{u:05d}"
                conversations = plans[u][r]
                if not conversations:
                    continue
                times = sorted(first + window * (r + rng.random()) for _ in conversations)
                async with core.db.transaction() as conn:
                    items, vectors_of = [], []
                    for conversation_, at in zip(conversations, times, strict=True):
                        rows = [
                            (p, "user", pool[j], at + timedelta(seconds=40 * p)) for p, j in enumerate(conversation_)
                        ]
                        ids = await messagesql.insert(conn, tenant, user, str(uuid.uuid4()), f"chat-{user}-{r}", rows)
                        items.extend(
                            (i, text, when.message_tokens(text, sent))
                            for i, (_, _, text, sent) in zip(ids, rows, strict=True)
                        )
                        vectors_of.extend((i, model, vectors_[j]) for i, j in zip(ids, conversation_, strict=True))
                    await episodesql.add(conn, tenant, user, items)
                    await episodesql.put_vectors(conn, vectors_of)
                written += len(items)
            sqlite_s += time.perf_counter() - began
            if (r + 1) % max(1, rounds // 10) == 0 or r + 1 == rounds:
                await core.vectors.flush()  # upserts into Chroma only: every queued message has its vector
                rate = written / (time.perf_counter() - embedded)
                print(
                    f"  seeded {r + 1}/{rounds} rounds, {written} messages ({rate:.0f} messages/s so far)", flush=True
                )
    elapsed = time.perf_counter() - started
    chroma = clock.seconds("chroma")
    flushing = elapsed - (embedded - started) - sqlite_s
    report.counts.update(episodes_seeded=written)
    report.note(
        f"seeding episodes: {written} user messages ({users} users x {per_user}, in conversations of 1-3, "
        f"created_at spread over the last {EPISODE_DAYS} days) in {elapsed:.1f} s: not through ingest but the store "
        f"layer (messages.insert, episodes.add, episodes.put_vectors), drawn without repeats per user from a pool of "
        f"{len(pool)} distinct chat messages embedded once ({embedded - generated:.1f} s); written round-robin, "
        f"{rounds} transactions per user, so a user's messages are scattered over the tables "
        f"(SQLite {sqlite_s:.0f} s, {written / max(sqlite_s, 1e-9):.0f} messages/s); the outbox flushes took "
        f"{flushing:.0f} s, {chroma:.0f} s of it Chroma upserts; the flushes re-embedded "
        f"{len(clock.ms['embed'])} batches (0 expected: the stored vectors carry the current model id)"
    )


# --- in-process -------------------------------------------------------------------------------------


async def measure_in_process(
    service: MemoryService, scope: Scope, users: list[str], n: int, rng: random.Random, report: Report
) -> None:
    core = service.core
    warm = max(5, n // 10)

    def picks() -> list[tuple[str, str]]:
        return [(rng.choice(users), question(rng)) for _ in range(n + warm)]

    def profile(u: str, q: str | None = None, max_tokens: int | None = None) -> Callable[[], Awaitable[Any]]:
        return lambda: service.profile(scope, ProfileIn(user_id=u, q=q, max_tokens=max_tokens))

    def find(u: str, q: str) -> Callable[[], Awaitable[Any]]:
        return lambda: service.search(scope, SearchIn(user_id=u, query=q))

    # The profile cache (memory_server.profile_cache): each sampled user asked twice in a row, the first a build
    # (the cache holds nothing of them yet: users are drawn without repeats), the second served from the cache.
    built, kept = [], []
    for i, u in enumerate(rng.sample(users, min(len(users), n + warm))):
        for out in (built, kept):
            started = time.perf_counter()
            await service.profile(scope, ProfileIn(user_id=u))
            if i >= warm:
                out.append((time.perf_counter() - started) * 1000)
    report.add(Row("profile, no q, first ask: built (in-process)", built, "p50 <= 2 ms"))
    report.add(Row("profile, no q, asked again: from the cache (in-process)", kept))
    cache = service.profile_cache.settings
    size, cache.users = cache.users, 0
    plain = await timed([profile(u) for u, _ in picks()], warm)
    report.add(Row("profile, no q, cache off (in-process)", plain, "p50 <= 2 ms"))
    cache.users = size
    answers: list[Any] = []

    def asked(u: str, q: str) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            answers.append(await service.profile(scope, ProfileIn(user_id=u, q=q)))

        return call

    with_q = await timed([asked(u, q) for u, q in picks()], warm)
    report.add(Row("profile with q (in-process)", with_q, "p50 <= 15 ms"))
    empty = sum(not a.searchResults.results for a in answers)
    report.note(f"profile with q (in-process): {empty} of {len(answers)} answers had no search result")
    idle = await timed([profile(u, q) for u, q in picks()], warm, gap=0.05)
    report.add(Row("profile with q, 50 ms idle before each (in-process)", idle, "p50 <= 15 ms"))
    report.add(Row("search (in-process)", await timed([find(u, q) for u, q in picks()], warm)))
    trimmed = await timed([profile(u, None, 500) for u, _ in picks()], warm)
    report.add(Row("profile, no q, max_tokens=500 (in-process)", trimmed))

    # Where the time goes: the parts of a profile with q, one at a time.
    def read(u: str, vectors: bool) -> Callable[[], Awaitable[Any]]:
        return lambda: retrieval.live_facts(core, scope.tenant_id, u, with_vectors=vectors)

    report.add(Row("  part: read live facts", await timed([read(u, False) for u, _ in picks()], warm)))
    clock, rows_to_facts, timestamps = Stopwatch(), [], []
    with clock.watch(factsql, "to_fact", "to_fact"), clock.watch(timeutil, "from_db", "from_db"):
        for u, _ in picks():
            clock.ms.clear()
            await read(u, False)()
            rows_to_facts.append(sum(clock.ms["to_fact"]))
            timestamps.append(sum(clock.ms["from_db"]))
    report.add(Row("    of which: rows to Fact objects (facts.to_fact)", rows_to_facts[warm:]))
    report.add(Row("    of which: parsing timestamps (timeutil.from_db)", timestamps[warm:]))
    report.note("the 'of which' rows come from a second pass, with timers wrapped around those two functions")
    report.add(Row("  part: read live facts + vectors", await timed([read(u, True) for u, _ in picks()], warm)))
    embeds = [lambda q=q: core.embedder.embed([q]) for _, q in picks()]
    report.add(Row("  part: embed the query", await timed(embeds, warm)))
    prepared = []
    for u, q in picks():
        live = await retrieval.live_facts(core, scope.tenant_id, u, with_vectors=True)
        prepared.append((u, q, (await core.embedder.embed([q]))[0], live))
    weight = core.settings.search.keyword_weight
    scorings = [
        lambda q=q, v=v, live=live: search.hybrid_scores(q, v, [f.content for f in live.facts], live.matrix, weight)
        for _, q, v, live in prepared
    ]
    report.add(Row("  part: exact hybrid scoring of the user's facts", timed_sync(scorings, warm)))
    sizes = [len(live.facts) for *_, live in prepared]
    report.note(f"live facts per sampled user: median {int(np.median(sizes))}, min {min(sizes)}, max {max(sizes)}")

    # The episode half of a search, what episodes.score does, one step at a time (default roles).
    _, config = await core.configs.active(scope.tenant_id)
    roles = list(config.episodes.search_roles)
    tenant = scope.tenant_id
    wanted = core.settings.search.exact_max_facts

    def vectors_of(u: str) -> Callable[[], Awaitable[Any]]:
        return lambda: episodesql.vectors_of_user(core.db, tenant, u, roles)

    def keyword(u: str, q: str) -> Callable[[], Awaitable[Any]]:
        words = terms.query_words(q)
        return lambda: fts.keyword(core.db, tenant, u, words, {}, roles, episodes.KEYWORD_CANDIDATES)

    def weights(q: str) -> Callable[[], Awaitable[Any]]:
        return lambda: fts.term_documents(core.db, list(terms.query_words(q)))

    report.add(
        Row(
            "  part: more episodes than exact_max_facts? (store.episodes.more_than)",
            await timed([lambda u=u: episodesql.more_than(core.db, tenant, u, wanted) for u, _ in picks()], warm),
        )
    )
    report.add(
        Row(
            "  part: read the user's episode vectors (store.episodes.vectors_of_user)",
            await timed([vectors_of(u) for u, _ in picks()], warm),
        )
    )
    report.add(
        Row(
            "  part: FTS5 keyword query (store.fts.keyword)",
            await timed([keyword(u, q) for u, q in picks()], warm),
        )
    )
    report.add(
        Row(
            "  part: keyword weights, documents per term (store.fts.term_documents)",
            await timed([weights(q) for _, q in picks()], warm),
        )
    )
    scored: list[dict[int, float]] = []

    def score_episodes(u: str, q: str, v: np.ndarray) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            scored.append(await episodes.score(core, scope, u, q, asyncio.sleep(0, v[None, :]), roles))

        return call

    report.add(
        Row(
            "  part: episodes.score as a whole (the four above, then exact fusion)",
            await timed([score_episodes(u, q, v) for u, q, v, _ in prepared], warm),
        )
    )
    wide = 2 * core.settings.search.default_top_k
    tops = [sorted(found, key=lambda i, f=found: -f[i])[:wide] for found in scored]
    report.add(
        Row(
            "  part: read the best episodes' rows (episodes.details)",
            await timed([lambda ids=ids: episodes.details(core, scope, ids) for ids in tops], warm),
        )
    )
    counts = [len(found) for found in scored[warm:]]
    hits = [len(await keyword(u, q)()) for u, q, *_ in prepared[warm:]]
    report.note(
        f"episodes scored per sampled user: median {int(np.median(counts))}, min {min(counts)}, max {max(counts)}; "
        f"keyword matches per query (at most {episodes.KEYWORD_CANDIDATES}): median {int(np.median(hits))}, "
        f"max {max(hits)}"
    )

    # For comparison only: the filtered approximate query the per-user path does not make.
    missed, short, chroma_ms = 0, 0, []
    for u, _, vector, live in prepared[warm:]:
        started = time.perf_counter()
        hits = await core.index.query(vector, scope.tenant_id, u, 10)
        chroma_ms.append((time.perf_counter() - started) * 1000)
        exact = {live.facts[int(i)].id for i in np.argsort(-(live.matrix @ vector))[:10]}
        missed += len(exact - {h for h, _ in hits})
        short += len(hits) < len(exact)
    report.add(Row("  comparison: Chroma top-10 filtered to the user", chroma_ms))
    report.counts.update(chroma_missed=missed, chroma_expected=10 * len(chroma_ms))
    report.note(
        f"Chroma's filtered top-10 against the exact cosine top-10 of the same user: {missed} of "
        f"{10 * len(chroma_ms)} exact neighbours missing, {short} of {len(chroma_ms)} queries returned fewer than 10"
    )


# --- over HTTP --------------------------------------------------------------------------------------


def serve(data_dir: Path, port: int) -> None:
    """The child process: the real app on 127.0.0.1:port."""
    import uvicorn

    from memory_server.api.app import create_app

    settings = load_settings(data_dir=data_dir)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_server(data_dir: Path, report: Report) -> Server:
    """This script as the server's process (`serve`, above) on `data_dir`; notes how long it took to start."""
    port = free_port()
    server = launch(
        [sys.executable, str(Path(__file__).resolve()), "--serve-port", str(port), "--data-dir", str(data_dir)], port
    )
    report.note(f"server start-up, process spawn to /healthz OK: {server.startup:.1f} s")
    return server


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Client:
    """One keep-alive connection; POSTs are timed, and failed ones counted instead of raised."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=120)
        self.errors: list[str] = []

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        response = self.http.post(path, json=body)
        if response.is_error:
            self.errors.append(f"{response.status_code} {response.text[:200]}")
            return None
        return response.json()

    def timed(self, path: str, bodies: Sequence[dict[str, Any]], warmup: int) -> tuple[list[float], list[Any]]:
        answers: list[Any] = []
        ms = timed_sync([lambda b=b: answers.append(self.post(path, b)) for b in bodies], warmup)
        return ms, answers[warmup:]

    def wait_done(self, request_ids: Sequence[str], timeout: float = 600) -> int:
        """Poll until every request is done or failed; return how many failed."""
        deadline, failed = time.monotonic() + timeout, 0
        for rid in request_ids:
            while (status := self.http.get(f"/v1/requests/{rid}").json().get("status")) not in ("done", "failed"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"request {rid} still not done after {timeout} s")
                time.sleep(0.005)
            failed += status == "failed"
        return failed

    def report_errors(self, what: str, report: Report) -> None:
        if self.errors:
            report.note(f"{what}: {len(self.errors)} requests FAILED, first: {self.errors[0]}")
            self.errors.clear()


def measure_http(client: Client, users: list[str], n: int, rng: random.Random, report: Report) -> None:
    warm = max(5, n // 10)
    picks = [(rng.choice(users), question(rng)) for _ in range(n + warm)]
    floor = timed_sync([lambda: client.http.get("/healthz").raise_for_status()] * (n + warm), warm)
    report.add(Row("GET /healthz (HTTP floor)", floor))
    # Each sampled user (no repeats) asked twice in a row on a server that has served no profile yet: the first
    # answer is built, the second comes from the profile cache.
    built, kept = [], []
    for i, u in enumerate(rng.sample(users, min(len(users), n + warm))):
        for out in (built, kept):
            ms = timed_sync([lambda u=u: client.post("/v1/profile", {"user_id": u})], 0)
            if i >= warm:
                out.extend(ms)
    report.add(Row("profile, no q, first ask: built (HTTP)", built, "p50 <= 5 ms"))
    report.add(Row("profile, no q, asked again: from the cache (HTTP)", kept, "p50 <= 1.6 ms"))
    for name, path, bodies, target in (
        ("profile, no q, random users (HTTP)", "/v1/profile", [{"user_id": u} for u, _ in picks], "p50 <= 5 ms"),
        ("profile with q (HTTP)", "/v1/profile", [{"user_id": u, "q": q} for u, q in picks], "p50 <= 7.6 ms"),
        ("search (HTTP)", "/v1/search", [{"user_id": u, "query": q} for u, q in picks], "p50 <= 12 ms"),
    ):
        ms, answers = client.timed(path, bodies, warm)
        report.add(Row(name, ms, target))
        if "q" in bodies[0] or "query" in bodies[0]:
            found = [a.get("searchResults", a) for a in answers if a is not None]
            empty = sum(not f["results"] for f in found)
            report.note(f"{name}: {empty} of {len(found)} answers had no search result")
    client.report_errors("profile and search over HTTP", report)


def measure_ingest(client: Client, users: list[str], n: int, rng: random.Random, report: Report) -> None:
    """POST /v1/interactions with the rules extractor: wait=true end to end, then accept-only."""

    def bodies(count: int, wait: bool) -> list[dict[str, Any]]:
        return [
            {
                "user_id": rng.choice(users),
                "session_id": f"bench-{uuid.uuid4()}",  # no two payloads alike, so none is a duplicate
                "messages": [{"role": "user", "content": c} for c in conversation(rng)],
                "wait": wait,
            }
            for _ in range(count)
        ]

    def messages(sent: list[dict[str, Any]]) -> int:
        return sum(len(b["messages"]) for b in sent)

    warm = 10
    sent = bodies(n + warm, True)
    ms, jobs = client.timed("/v1/interactions", sent, warm)
    done = [j for j in jobs if j is not None and j["status"] == "done"]
    facts = sum(len(j["changes"]["added"]) + len(j["changes"]["updated"]) for j in done)
    total = messages(sent[warm:])
    report.add(Row("ingest, wait=true, rules extractor (HTTP, per request)", ms))
    per_message = [t / len(b["messages"]) for t, b in zip(ms, sent[warm:], strict=True)]
    report.add(Row("ingest, wait=true, rules extractor (HTTP, per message)", per_message, "p50 <= 15 ms"))
    report.note(
        f"ingest wait=true: {n} conversations of 1-3 user messages ({total} messages) to existing users, "
        f"{facts} facts added or updated, {n - len(done)} not done; {sum(ms) / total:.1f} ms per message on average"
    )
    client.report_errors("ingest wait=true", report)

    # Accept-only on an idle server: each job is drained (untimed) before the next POST.
    idle, failed = [], 0
    for body in bodies(n + warm, False):
        started = time.perf_counter()
        job = client.post("/v1/interactions", body)
        idle.append((time.perf_counter() - started) * 1000)
        if job is not None:
            failed += client.wait_done([job["request_id"]])
    report.add(Row("ingest accept-only, wait=false (HTTP, idle server)", idle[warm:]))
    if failed:
        report.note(f"ingest accept-only, idle: {failed} extraction jobs FAILED")
    client.report_errors("ingest accept-only, idle", report)

    # Accept-only in a burst: the workers extract the earlier ones in the same process meanwhile.
    sent = bodies(n, False)
    started = time.perf_counter()
    ms, jobs = client.timed("/v1/interactions", sent, 0)
    failed = client.wait_done([j["request_id"] for j in jobs if j is not None])
    drained = time.perf_counter() - started
    report.add(Row("ingest accept-only, wait=false (HTTP, back-to-back burst)", ms))
    report.note(
        f"burst: {n} conversations ({messages(sent)} messages) accepted and extracted in {drained:.1f} s, "
        f"{failed} extraction jobs failed"
    )
    client.report_errors("ingest accept-only, burst", report)


# --- the report -------------------------------------------------------------------------------------


def table(report: Report) -> str:
    lines = ["| operation | n | p50 ms | p95 ms | p99 ms | target |", "|---|---:|---:|---:|---:|---|"]
    for r in report.rows:
        indent = len(r.name) - len(r.name.lstrip())
        name = "&nbsp;" * indent + r.name.strip()
        lines.append(f"| {name} | {len(r.ms)} | {r.pct(50):.2f} | {r.pct(95):.2f} | {r.pct(99):.2f} | {r.verdict()} |")
    return "\n".join(lines)


def explanation(report: Report) -> str:
    p = report.p50
    scoring = p("part: exact hybrid scoring of the user's facts")
    count = p("part: more episodes than exact_max_facts? (store.episodes.more_than)")
    vectors_read = p("part: read the user's episode vectors (store.episodes.vectors_of_user)")
    details = p("part: read the best episodes' rows (episodes.details)")
    missed, expected = report.counts["chroma_missed"], report.counts["chroma_expected"]
    chroma = f"missed {missed} of the {expected} exact top-10 neighbours" if missed else "found the same neighbours"
    return (
        "The per-user path never asks the vector index: `retrieval.live_facts` reads the user's live facts (and, with "
        "`q`, their vectors) from SQLite in one range scan of the `facts_by_user` index, and `search.hybrid_scores` "
        "scores all of them exactly with numpy (see the docstring of `memory_server/retrieval.py`). "
        f"Without `q`, that read takes p50 {p('part: read live facts'):.2f} ms of the "
        f"{p('profile, no q, cache off (in-process)'):.2f} ms in-process profile built without the cache "
        f"({p('profile, no q, first ask: built (HTTP)'):.2f} ms over HTTP, "
        f"where an empty GET /healthz takes {p('GET /healthz (HTTP floor)'):.2f} ms); of the read, turning the rows "
        f"into Fact objects takes {p('of which: rows to Fact objects (facts.to_fact)'):.2f} ms, "
        f"{p('of which: parsing timestamps (timeutil.from_db)'):.2f} ms of it parsing timestamps. "
        "The profile cache (`memory_server/profile_cache.py`) answers a user asked again, with nothing of theirs "
        f"written in between, in {p('profile, no q, asked again: from the cache (in-process)'):.2f} ms in-process "
        f"and {p('profile, no q, asked again: from the cache (HTTP)'):.2f} ms over HTTP: one primary-key read of the "
        "user's revision and the JSON encoded when the answer was built. "
        f"With `q`, embedding the query costs p50 {p('part: embed the query'):.2f} ms, the read with vectors "
        f"{p('part: read live facts + vectors'):.2f} ms and exact scoring of the user's facts "
        f"{scoring:.2f} ms, for {p('profile with q (in-process)'):.2f} ms "
        f"in-process and {p('profile with q (HTTP)'):.2f} ms over HTTP. "
        f"The same top-10 asked of Chroma with a filter on the user took p50 "
        f"{p('comparison: Chroma top-10 filtered to the user'):.1f} ms and {chroma}; exact scoring cannot miss one. "
        "Episodes are searched beside the facts on the same score (`episodes.score`, default `types` both, "
        f"default role user): it checks the user has at most `search.exact_max_facts` episodes ({count:.2f} ms), "
        "runs the FTS5 keyword query "
        f"scoped to the user ({p('part: FTS5 keyword query (store.fts.keyword)'):.2f} ms), reads how many "
        "messages hold each query term for the keyword weights "
        f"({p('part: keyword weights, documents per term (store.fts.term_documents)'):.2f} ms when read; "
        "searches keep these counts for a minute, `terms.DocumentCounts`), reads the "
        f"user's episode vectors from SQLite ({vectors_read:.2f} ms) and fuses exactly: "
        f"{p('part: episodes.score as a whole (the four above, then exact fusion)'):.2f} ms in all, then "
        f"{details:.2f} ms to read the best episodes' rows. "
        f"Search takes {p('search (in-process)'):.2f} ms in-process and {p('search (HTTP)'):.2f} ms over HTTP."
    )


def write_readme(report: Report) -> None:
    block = "\n".join(
        [
            "## Profile, search and ingest latency (`profile_latency.py`)",
            "",
            f"Machine: {machine()}.",
            "",
            f"Command: `{command()}`",
            "",
            "Targets: profile without `q` p50 <= 2 ms in-process and <= 5 ms over HTTP when built, <= 1.6 ms over "
            "HTTP from the cache (20x mem0's get_all, issue 16); profile with `q` p50 <= 7.6 ms over HTTP (15x mem0's "
            "search); "
            "search p50 <= 12 ms over HTTP; ingest (wait=true) p50 <= 15 ms per message; "
            "at 1,000 users x (100 facts + 500 episodes).",
            "",
            table(report),
            "",
            *[f"- {line}" for line in report.notes],
            "",
            explanation(report),
        ]
    )
    write_block("profile_latency", block)


# --- main -------------------------------------------------------------------------------------------


async def in_process_phase(
    settings: Settings, args: argparse.Namespace, rng: random.Random, report: Report
) -> list[str]:
    service = await MemoryService.open(settings)
    try:
        scope = Scope(settings.tenant, "benchmark")
        kept = settings.data_dir / "benchmark-seeding.txt"  # the seeding notes, for later --skip-seed runs
        if not args.skip_seed:
            before = len(report.notes)
            await seed(service, scope, args.users, args.facts_per_user, rng, report)
            if args.episodes_per_user:
                await seed_episodes(service, settings.tenant, args.users, args, rng, report)
            kept.write_text("\n".join(report.notes[before:]) + "\n")
        elif kept.exists():
            for line in kept.read_text().splitlines():
                report.note(f"{line} (when this data directory was seeded)")
        rows = await service.core.db.fetchall(
            "SELECT user_id, COUNT(*) FROM facts WHERE tenant_id = ? AND status = 'active' GROUP BY user_id",
            (settings.tenant,),
        )
        if not rows:
            raise SystemExit(f"no facts in {settings.data_dir}: run without --skip-seed first")
        users = [r[0] for r in rows]
        messages = await service.core.db.fetchone(
            "SELECT count(*) AS n, count(v.message_id) AS embedded FROM messages m "
            "LEFT JOIN message_vectors v ON v.message_id = m.id WHERE m.tenant_id = ?",
            (settings.tenant,),
        )
        report.note(
            f"data: {len(users)} users, {sum(r[1] for r in rows)} active facts, {messages['n']} stored messages "
            f"({messages['embedded']} embedded)"
        )
        await measure_in_process(service, scope, users, args.queries, rng, report)
    finally:
        await service.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report.note(f"peak RSS of the benchmark process (seeding and in-process runs): {peak:.0f} MB")
    return users


def http_phase(data_dir: Path, users: list[str], args: argparse.Namespace, rng: random.Random, report: Report) -> None:
    server = start_server(data_dir, report)
    client = Client(server.base)
    try:
        measure_http(client, users, args.queries, rng, report)
        report.note(
            f"peak RSS of the server process after profiles and searches, before any ingest: "
            f"{peak_rss_mb(server.proc.pid):.0f} MB"
        )
        # Seeded by what the data directory holds too: a run on a kept directory sends new conversations, not
        # the ones the previous run sent (those would only be reconciled as duplicates, which is cheaper).
        stored = sqlite3.connect(f"file:{load_settings(data_dir=data_dir).db_path}?mode=ro", uri=True)
        try:
            messages = stored.execute("SELECT max(id) FROM messages").fetchone()[0] or 0
        finally:
            stored.close()
        measure_ingest(client, users, args.conversations, random.Random(f"{args.seed}:{messages}"), report)
        report.note(f"peak RSS of the server process: {peak_rss_mb(server.proc.pid):.0f} MB")
    finally:
        client.http.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--facts-per-user", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300, help="timed calls per operation, after a warm-up")
    parser.add_argument("--conversations", type=int, default=200, help="timed ingest requests per mode")
    parser.add_argument("--episodes-per-user", type=int, default=500, help="stored messages (episodes) per user")
    parser.add_argument("--episode-pool", type=int, default=4000, help="distinct messages embedded for seeding")
    parser.add_argument("--episode-rounds", type=int, default=100, help="transactions per user when seeding them")
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory, removed afterwards")
    parser.add_argument("--skip-seed", action="store_true", help="reuse the facts already in --data-dir")
    parser.add_argument(
        "--smoke", action="store_true", help="20 users x (20 facts + 50 episodes), 30 queries; prints only"
    )
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)  # set in the child server process
    args = parser.parse_args()

    if args.serve_port is not None:
        serve(args.data_dir, args.serve_port)
        return
    if args.smoke:
        args.users, args.facts_per_user, args.queries, args.conversations = 20, 20, 30, 20
        args.episodes_per_user, args.episode_pool, args.episode_rounds = 50, 400, 10
    if args.skip_seed and args.data_dir is None:
        parser.error("--skip-seed needs --data-dir")
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="memory-bench-")) if temporary else args.data_dir.resolve()
    print(f"{machine()}\ndata dir: {data_dir}")

    rng = random.Random(args.seed)
    report = Report()
    load = Load()
    report.note(load.at_start)
    try:
        settings = load_settings(data_dir=data_dir)
        print("in-process:")
        users = asyncio.run(in_process_phase(settings, args, rng, report))
        print("over HTTP:")
        http_phase(data_dir, users, args, rng, report)
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    report.note(load.at_end("server"))

    print(f"\n{table(report)}\n")
    print("\n".join(f"- {line}" for line in report.notes))
    if not (args.smoke or args.no_readme):
        write_readme(report)


if __name__ == "__main__":
    main()
