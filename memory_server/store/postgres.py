"""PostgreSQL (psycopg 3): a pool of connections that several server and worker processes share.

The store's SQL is written once, with SQLite's `?` and `:name` parameters; `translate` turns it into psycopg's
(`%s`, `%(name)s`) once per statement text. Writes keep SQLite's guarantee that one transaction runs at a time
(`transaction` takes a transaction-level advisory lock), now across every process on the database: the
services' read-then-write steps (duplicate checks, supersede chains, per-user job order) stay exactly as safe
as on SQLite, and ids commit in the order they were taken, which the change log's, the webhook events' and the
vector outbox's readers rely on. A user's writes are serialised across processes for longer than a transaction,
from the read that reconciliation decides on (and the model call) to the write, by a session advisory lock per
user (`exclusive`). Reads run in autocommit on any pooled connection and see the last commit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from memory_server import tasks
from memory_server.store import revision_feed
from memory_server.store.db import ConstraintError, KeyedLocks
from memory_server.store.migrations import migrate
from memory_server.store.pg_session import Session, connect, reason, unreachable
from memory_server.store.revision_feed import Revised, RevisionFeed

log = logging.getLogger(__name__)

#: The advisory lock every write transaction holds (one writer at a time, as with SQLite).
WRITE_LOCK = 0x6D656D6F  # "memo"
#: The advisory lock held while migrating, so processes starting together migrate once.
MIGRATION_LOCK = 0x6D696772  # "migr"
#: How long a call waits for a pooled connection before it is a 503 (the database away, or overloaded).
POOL_WAIT_SECONDS = 10
#: How the pool's connections are named in `pg_stat_activity`.
APPLICATION = "memory-server"
#: First and longest pause between tries while another process holds a key `exclusive` waits for.
EXCLUSIVE_POLL_SECONDS = (0.005, 0.1)

#: A write transaction's mark for the revision feed, sent only when it revised a user (migration m019 sets the flag).
_MARK_IF_REVISED = "SELECT pg_notify(%s, %s) WHERE current_setting('memory.revised', true) = 'on'"

_TOKEN = re.compile(r"""'(?:[^']|'')*'|"[^"]*"|::|\?|:[A-Za-z_]\w*|%|(?<=[\s(,=])\+(?=[A-Za-z_])""")


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """SQLite parameters to psycopg's; every `%` doubled (in string literals too: psycopg reads the whole text);
    SQLite's planner hint `+column` dropped."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token == "+":
            return ""
        if token.startswith(":") and token != "::":
            return f"%({token[1:]})s"
        return token.replace("%", "%%")

    return _TOKEN.sub(swap, sql)


class PgRow:
    """A row read by column name or position, like `sqlite3.Row`."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: str | int) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)


def _rows(cursor: psycopg.AsyncCursor[Any]) -> Any:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return functools.partial(PgRow, index)


class _Number(Loader):
    """`numeric` (what sum() of integers gives) as int or float, as SQLite gives it, never Decimal."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


class PgConnection:
    """A connection in a transaction, with the calls the store makes of aiosqlite's."""

    dialect = "postgres"

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, parameters: Any = ()) -> psycopg.AsyncCursor[Any]:
        try:
            return await self._conn.execute(translate(sql), parameters if parameters is not None else ())
        except psycopg.IntegrityError as exc:
            raise ConstraintError(str(exc)) from exc

    async def execute_fetchall(self, sql: str, parameters: Any = ()) -> list[Any]:
        cursor = await self.execute(sql, parameters)
        return await cursor.fetchall() if cursor.description else []

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> psycopg.AsyncCursor[Any]:
        cursor = self._conn.cursor()
        try:
            await cursor.executemany(translate(sql), list(parameters))
        except psycopg.IntegrityError as exc:
            raise ConstraintError(str(exc)) from exc
        return cursor


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_loader("numeric", _Number)
    conn.row_factory = _rows
    await conn.set_autocommit(True)


def _unreachable(exc: Exception) -> bool:
    """A lost or refused connection (or no pooled one in time), not an error of the statement itself: SQLSTATE
    class 08 (connection exception), 57 (operator intervention: the server shut down), or none (the client's)."""
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, PoolTimeout) or state is None or state.startswith(("08", "57"))


class PostgresDatabase:
    dialect = "postgres"
    shared = True

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._pool_size = pool_size
        self._pool: AsyncConnectionPool | None = None
        self._session = Session(url, repr(self))
        self._keys = KeyedLocks()
        self._feed: RevisionFeed | None = None

    def __repr__(self) -> str:
        return re.sub(r"//[^@/]*@", "//…@", self.url)

    async def open(self) -> None:
        """Connect (the session connection first, so an unreachable server is one line within
        `pg_session.CONNECT_SECONDS`, not the pool's retries for 30 s), then migrate under the migration lock."""
        await self._session.open()
        pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self._pool_size,
            configure=_configure,
            open=False,
            timeout=POOL_WAIT_SECONDS,
            kwargs={"application_name": APPLICATION},
        )
        try:
            await pool.open(wait=True)
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
                try:
                    await migrate(PgConnection(conn))
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        except BaseException:
            await pool.close()
            await self._session.close()
            raise
        self._pool = pool

    async def recorded_migrations(self) -> set[str] | None:
        """The migrations the database records, None when it has no schema yet; asked on a connection of its own
        (`open` would migrate), so that a command can refuse a database it must not create or upgrade."""
        async with await connect(self.url, repr(self)) as conn:
            cursor = await conn.execute("SELECT to_regclass('_migrations') IS NOT NULL")
            row = await cursor.fetchone()
            if not (row and row[0]):
                return None
            cursor = await conn.execute("SELECT name FROM _migrations")
            return {r[0] for r in await cursor.fetchall()}

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.stop()
            self._feed = None
        await self._session.close()
        if self._pool is not None:
            await self._pool.close()
        self._pool = None

    def _opened(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        feed, mark = self._feed, None
        async with self._reachable(), self._opened().connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield PgConnection(conn)
            if feed is not None:  # last, so it comes back after the transaction's other notifications
                payload, number = feed.mark()
                cursor = await conn.execute(_MARK_IF_REVISED, (revision_feed.CHANNEL, payload))
                mark = number if await cursor.fetchone() is not None else None
        if mark is not None:  # set only with a feed, once the transaction revised someone
            feed.sent(mark)

    @asynccontextmanager
    async def _reachable(self) -> AsyncIterator[None]:
        """A lost or refused connection (or none pooled in time) as a 503, once the pool's dead idle connections
        were replaced so that the next calls get live ones; an error of the statement itself stays what it is."""
        try:
            yield
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if not _unreachable(exc):
                raise
            await self._check_pool()
            raise unreachable(repr(self), exc) from None

    async def catch_up(self) -> None:
        """Have the feed vouch for nothing until the news of every commit so far has arrived: for a read that has
        just revealed another process's write (a job seen done) which the feed may not have told yet."""
        if self._feed is not None:
            await self._feed.catch_up()

    async def follow(self, revised: Revised) -> RevisionFeed:
        """Tell `revised` of every write to a user's facts, from any process, as it commits (`store.revision_feed`);
        this process's own write transactions mark the feed from now on."""
        feed = RevisionFeed(self.url, revised, self._notify)
        await feed.start()
        self._feed = feed
        return feed

    async def _notify(self, payload: str) -> None:
        await self.fetchall("SELECT pg_notify(?, ?)", (revision_feed.CHANNEL, payload))

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """One statement in autocommit; tried once more when its connection was found closed, after the pool's
        other idle connections were checked too (a database restarted leaves all of them dead). A pool timeout is
        not tried again: it waited long enough."""
        args = params if isinstance(params, Mapping) else tuple(params)
        async with self._reachable():
            try:
                return await self._fetchall(sql, args)
            except psycopg.OperationalError as exc:
                if not _unreachable(exc):
                    raise
                await self._check_pool()
            return await self._fetchall(sql, args)

    async def _check_pool(self) -> None:
        """Replace the pool's idle connections that are dead, so that the next calls get live ones."""
        try:
            await self._opened().check()
        except psycopg.Error as exc:  # the database is still away: the next call will say so
            log.warning("database pool check failed: %s", reason(exc))

    async def _fetchall(self, sql: str, args: Any) -> list[Any]:
        async with self._opened().connection() as conn:
            cursor = await conn.execute(translate(sql), args)
            return await cursor.fetchall() if cursor.description else []

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def lookup(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return await self.fetchone(sql, params)

    async def hold(self, key: str, shared: bool = False) -> bool:
        """A session-level advisory lock on this process's own connection (`store.pg_session`): PostgreSQL drops
        it when the process dies, which is how others tell its claimed jobs are orphaned (`store.jobs.recover`).
        Never waits: a claim taken over from a stale holder is held by both."""
        return await self._session.try_lock(key, shared)

    async def release(self, key: str) -> None:
        await self._session.unlock(key)

    def holds(self, key: str) -> bool:
        return self._session.holds(key)

    @asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[None]:
        """Hold `key` against every process on the database for the body (a user's read-decide-write, which may
        wait on a model for seconds). Waited for by polling a try-lock on the session connection: a holder keeps
        no pooled connection, so holders whose bodies need the pool cannot run it dry. The in-process lock keeps
        this process's own tasks apart, since the session would grant its lock to each of them."""
        async with self._keys(key):
            pause = EXCLUSIVE_POLL_SECONDS[0]
            while not await self._try_hold(key):
                await asyncio.sleep(pause)
                pause = min(pause * 2, EXCLUSIVE_POLL_SECONDS[1])
            try:
                yield
            finally:
                await tasks.finish(self.release(key))  # a lock left behind would block the key until we exit

    async def _try_hold(self, key: str) -> bool:
        """`hold`, carried to its end when the caller is cancelled meanwhile, and undone if it got the lock then."""
        attempt = asyncio.ensure_future(self.hold(key))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            if await attempt:
                await tasks.finish(self.release(key))
            raise
