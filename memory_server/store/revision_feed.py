"""Writes to users' facts as they commit, told to this process by a PostgreSQL database it shares with others.

Migration m019 has every revision bump `pg_notify` the channel with the space and user; PostgreSQL sends a
transaction's notifications when it commits, in commit order, to every session listening. A feed listens on a
connection of its own and calls `revised(space, user_id)` for each, so that what a process keeps of a user (the
profile cache) is dropped when any process writes to the user, without a revision read per request.

A feed cannot tell which notifications it missed (before it listened, or while its connection was down), so what
it says is to be trusted only within one `epoch`: a number that changes each time it starts listening, None while it
does not. Nor does a notification arrive at the instant of its commit: this process's own write transactions
end with a mark on the channel (`PostgresDatabase.transaction` asks `mark` and tells `sent` once committed), and
the feed is `caught_up` once the marks of all of them came back (or marks made after they committed), so that a
read right after this process's write never relies on news still on its way (only transactions that revised a
user are marked: the others, job claims and log flushes, have no news to wait for). Another process's write is
seen when its notification arrives.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from prometheus_client import Counter

from memory_server import tasks

log = logging.getLogger(__name__)

#: The channel migration m019's trigger function notifies.
CHANNEL = "memory_user_revised"
#: How often the listener sends a mark of its own (`catch_up`): the longest a connection gone silent without closing
#: (a network partition) can hide other processes' writes from this one.
HEARTBEAT_SECONDS = 1.0
#: How long a mark may take to come back, or a connection to open, before the connection is given up.
ANSWER_SECONDS = 5.0
#: First and longest pause before listening again after the connection was lost.
RETRY_SECONDS = (0.1, 5.0)

#: Marks kept that came back before their transaction told `sent` (one not kept waits for the next heartbeat).
EARLY_KEPT = 64

#: How the feed's connection is named in `pg_stat_activity`.
APPLICATION = "memory-server revision feed"

LOSSES = Counter(
    "memory_server_revision_feed_losses",
    "Times a process's revision feed lost (or could not open) its connection; until it listens again, its cached "
    "profiles are checked against the database.",
)

Revised = Callable[[str, str], None]
#: Sends a payload on the channel from a connection of the process's pool.
Notify = Callable[[str], Awaitable[object]]


class RevisionFeed:
    def __init__(self, url: str, revised: Revised, notify: Notify) -> None:
        self.url = url
        self.revised = revised
        self._notify = notify
        self.epoch: int | None = None
        self._epochs = itertools.count(1)
        self._me = f"mark:{uuid.uuid4().hex}:"
        self._made = 0  # the number of the last mark made
        # Marks told `sent` while listening and not answered yet: number -> (the first number made after, when).
        self._waiting: dict[int, tuple[int, float]] = {}
        self._early: deque[int] = deque(maxlen=EARLY_KEPT)  # marks back before their transaction's `sent`
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        """Listen in the background; returns once listening (or after a first failure, which it retries)."""
        self._task = asyncio.create_task(self._listen(), name="revision feed")
        waiting = asyncio.ensure_future(self._listening.wait())
        await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            await tasks.stop([self._task])
        self._task, self.epoch = None, None

    def caught_up(self) -> bool:
        """Listening, and every write transaction this process committed has been told back."""
        return self.epoch is not None and not self._waiting

    def mark(self) -> tuple[str, int]:
        """The payload a write transaction notifies last, and its number (for `sent` once it committed)."""
        self._made += 1
        return f"{self._me}{self._made}", self._made

    def sent(self, number: int) -> None:
        """Wait for mark `number` (or any mark made from now on, whose transaction commits after this one)."""
        if self.epoch is None:  # it committed before the next connection listens, whose reads include it
            return
        if number in self._early:
            self._early.remove(number)
        else:
            self._waiting[number] = (self._made + 1, time.monotonic())

    async def catch_up(self) -> None:
        """Vouch for nothing until the news of every commit so far has arrived: a mark sent now is back."""
        payload, number = self.mark()
        self.sent(number)  # before it is sent: a mark that never arrives gives the connection up
        await self._notify(payload)

    def _received(self, payload: str) -> None:
        if payload.startswith(self._me):
            number = int(payload[len(self._me) :])
            # Notifications arrive in commit order, and marks are numbered in the order they are made, not committed:
            # a mark answers its own transaction, and every one told `sent` before the mark was made.
            answered = [n for n, (after, _) in self._waiting.items() if n == number or number >= after]
            for n in answered:
                del self._waiting[n]
            if not answered:
                self._early.append(number)
        elif payload.startswith("["):
            try:
                space, user_id = json.loads(payload)
            except ValueError:
                log.warning("revision feed: not a space and a user: %.200s", payload)
                return
            self.revised(space, user_id)

    async def _listen(self) -> None:
        pause = RETRY_SECONDS[0]
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=ANSWER_SECONDS, application_name=APPLICATION
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._waiting.clear()  # what committed before is in every read from now on
                    self._early.clear()
                    self.epoch = next(self._epochs)
                    self._listening.set()
                    pause = RETRY_SECONDS[0]
                    await self._follow(conn)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                LOSSES.inc()
                log.warning("revision feed: %s; profiles are checked against the database until it listens again", exc)
            finally:
                self.epoch = None
            self._listening.set()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_SECONDS[1])

    async def _follow(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Tell what arrives; every `HEARTBEAT_SECONDS`, `catch_up`: nothing is vouched for until its mark is back, so
        a connection that went silent is trusted at most until then, and is given up once a mark is `ANSWER_SECONDS`
        late (sent from the pool, so that waiting on a silent connection never blocks it). Once back, no earlier
        commit's news is still on its way, nor does a mark lost with a previous connection hold `caught_up` back."""
        beat: asyncio.Task[None] | None = None
        try:
            while True:
                async for notice in conn.notifies(timeout=HEARTBEAT_SECONDS):
                    self._received(notice.payload)
                if self._waiting and time.monotonic() - next(iter(self._waiting.values()))[1] > ANSWER_SECONDS:
                    raise TimeoutError(f"a mark sent {ANSWER_SECONDS:g} s ago has not come back")
                if beat is None or beat.done():
                    beat = asyncio.create_task(self._beat(), name="revision feed heartbeat")
        finally:
            if beat is not None:
                await tasks.stop([beat])

    async def _beat(self) -> None:
        try:
            await self.catch_up()
        except (psycopg.Error, OSError) as exc:  # its mark never comes back, and `_follow` gives the connection up
            log.warning("revision feed: heartbeat not sent: %s", exc)
