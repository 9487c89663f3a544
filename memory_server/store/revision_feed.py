"""Writes to users' facts as they commit, told to this process by a PostgreSQL database it shares with others.

Migration m019 has every revision bump `pg_notify` the channel with the space and user; PostgreSQL sends a
transaction's notifications when it commits, in commit order, to every session listening. A feed listens on a
connection of its own and calls `revised(space, user_id)` for each, so that what a process keeps of a user (the
profile cache) is dropped when any process writes to the user, without a revision read per request.

A feed cannot tell which notifications it missed (before it listened, or while its connection was down), so what
it says is to be trusted only within one `epoch`: a number that changes each time it starts listening, None while it
does not. Nor does a notification arrive at the instant of its commit: this process's own write transactions
end with a mark on the channel (`PostgresDatabase.transaction` asks `mark` and tells `sent` once committed), and
the feed is `caught_up` once the mark of the last of them came back, so that a read right after this process's
write never relies on news still on its way (only transactions that revised a user are marked: the others, job
claims and log flushes, have no news to wait for). Another process's write is seen when its notification arrives.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from prometheus_client import Counter

from memory_server import tasks

log = logging.getLogger(__name__)

#: The channel migration m019's trigger function notifies.
CHANNEL = "memory_user_revised"
#: How long the listener waits for news before it checks that its connection still answers (and how long for that).
HEARTBEAT_SECONDS = 5.0
#: First and longest pause before listening again after the connection was lost.
RETRY_SECONDS = (0.1, 5.0)

#: How the feed's connection is named in `pg_stat_activity`.
APPLICATION = "memory-server revision feed"

LOSSES = Counter(
    "memory_server_revision_feed_losses",
    "Times a process's revision feed lost (or could not open) its connection; until it listens again, its cached "
    "profiles are checked against the database.",
)

Revised = Callable[[str, str], None]


class RevisionFeed:
    def __init__(self, url: str, revised: Revised) -> None:
        self.url = url
        self.revised = revised
        self.epoch: int | None = None
        self._epochs = itertools.count(1)
        self._me = f"mark:{uuid.uuid4().hex}:"
        self._marks = itertools.count(1)
        self._sent = self._seen = 0
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
        return self.epoch is not None and self._seen >= self._sent

    def mark(self) -> tuple[str, int]:
        """The payload a write transaction notifies last, and its number (for `sent` once it committed)."""
        number = next(self._marks)
        return f"{self._me}{number}", number

    def sent(self, number: int) -> None:
        self._sent = max(self._sent, number)

    def _received(self, payload: str) -> None:
        if payload.startswith(self._me):
            self._seen = max(self._seen, int(payload[len(self._me) :]))
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
                    self.url, autocommit=True, connect_timeout=HEARTBEAT_SECONDS, application_name=APPLICATION
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._seen = self._sent  # what committed before is in every read from now on
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
        """Tell what arrives; every `HEARTBEAT_SECONDS`, check the connection with a mark of its own, sent after
        every transaction already `sent` committed: once back, nothing of theirs is still on its way (a mark that
        was lost with a previous connection no longer holds `caught_up` back)."""
        while True:
            async for notice in conn.notifies(timeout=HEARTBEAT_SECONDS):
                self._received(notice.payload)
            async with asyncio.timeout(HEARTBEAT_SECONDS):
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self._me}{self._sent}"))
