"""SQLite: one writer connection behind a lock, one reader, WAL; and a third connection for `lookup`.

All writes go through `SqliteDatabase.transaction()`, so a fact, its change-log row and its pending vector
operation always commit together or not at all. Reads use a second connection and never wait for the
writer (WAL lets a reader see the last committed state while a write is in progress). One process owns the
file (`datalock`), so the writer's lock serialises every write, of one user or another. The writer and the
reader each run on a thread of their own (aiosqlite); the key lookups every request makes run on the event
loop's own read-only connection instead, where they cost less than the hop to a thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from memory_server import timeutil, when
from memory_server.errors import Unavailable
from memory_server.store import fts
from memory_server.store.db import ConstraintError, KeyedLocks, Row
from memory_server.store.migrations import migrate

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
#: What an error of the file or the disk, not of the statement, says the database is (by primary result code).
_OUTAGES = {
    sqlite3.SQLITE_BUSY: "is locked by another process",
    sqlite3.SQLITE_LOCKED: "is locked by another process",
    sqlite3.SQLITE_FULL: "cannot be written: the disk is full",
    sqlite3.SQLITE_IOERR: "cannot be read or written (a disk I/O error)",
    sqlite3.SQLITE_READONLY: "cannot be written: it is read-only",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened (check the directory and its permissions)",
}
_INLINE_BUSY_MS = 20  # how long `lookup` may hold the event loop on a busy file before handing the read over


def _primary(exc: BaseException) -> int:
    """The primary result code of an error (SQLITE_BUSY of SQLITE_BUSY_RECOVERY), 0 when it has none."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def _outage(exc: BaseException, name: str = "") -> Unavailable | None:
    """A locked file, a full disk or an I/O error as the 503 that says so (the store may answer again in a moment);
    None for an error of the statement itself, which stays what it is. `name` (the file) only where an operator
    reads it, at start-up: an API client is not told where the server keeps its data."""
    what = _OUTAGES.get(_primary(exc)) if isinstance(exc, sqlite3.OperationalError) else None
    return None if what is None else Unavailable(f"the database {name + ' ' if name else ''}{what}; try again")


def _unusable(exc: BaseException, name: str) -> Unavailable | None:
    """Why the file could not be opened, in one line for the start-up to print: an outage, a file that is no
    database, a directory that cannot be made; None for any other error."""
    if outage := _outage(exc, name):
        return outage
    if isinstance(exc, sqlite3.DatabaseError) and _primary(exc) in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return Unavailable(f"the database {name} is not a SQLite database, or is damaged ({exc})")
    if isinstance(exc, OSError):
        return Unavailable(f"the database {name} cannot be created: {exc.strerror or exc}")
    return None


def _bound(params: Iterable[Any]) -> Mapping[str, Any] | tuple[Any, ...]:
    """Parameters as sqlite3 takes them: named ones (a mapping) as they are, positional ones as a tuple."""
    return params if isinstance(params, Mapping) else tuple(params)


def _episode_dates(content: str, created_at: str) -> str:
    """For the migration that indexes stored messages: the days each speaks of (`memory_server.when`)."""
    return when.message_tokens(content, timeutil.from_db(created_at))


class SqliteDatabase:
    dialect = "sqlite"
    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._keys = KeyedLocks()

    def __repr__(self) -> str:
        return f"sqlite:///{self.path}"

    async def open(self) -> None:
        """Connect and migrate; on failure every connection opened is closed again (each one left open is a thread
        that keeps the process alive), and a file or disk that cannot be used is an `Unavailable` in one line."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = await self._connect()
            await migrate(self._writer)
            self._reader = await self._connect()
            await self._reader.execute("PRAGMA query_only=ON")
            self._inline = sqlite3.connect(self.path, isolation_level=None)
            self._inline.row_factory = sqlite3.Row
            for pragma in ("PRAGMA query_only=ON", f"PRAGMA busy_timeout={_INLINE_BUSY_MS}"):
                self._inline.execute(pragma)
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                await self.close()
            if refusal := _unusable(exc, repr(self)):
                raise refusal from None
            raise

    async def recorded_migrations(self) -> set[str] | None:
        """The migrations the file records, None when there is no file or schema yet; read without writing, so that
        a command can refuse a database it must not create or upgrade."""

        def read() -> set[str] | None:
            if not self.path.exists():
                return None
            with contextlib.closing(sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
                if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_migrations'").fetchone():
                    return None
                return {r[0] for r in conn.execute("SELECT name FROM _migrations")}

        return await asyncio.to_thread(read)

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in _PRAGMAS:
                await conn.execute(pragma)
            await conn.create_function("episode_scope", 2, fts.scope_token, deterministic=True)
            await conn.create_function("episode_dates", 2, _episode_dates, deterministic=True)
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                await conn.close()
            raise
        return conn

    async def close(self) -> None:
        """Close every connection, even when closing one fails."""
        inline, reader, writer = self._inline, self._reader, self._writer
        self._reader = self._writer = self._inline = None
        async with contextlib.AsyncExitStack() as closing:
            for conn in (writer, reader):
                if conn is not None:
                    closing.push_async_callback(conn.close)
            if inline is not None:
                closing.callback(inline.close)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        async with self._lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield self._writer
                await self._writer.execute("COMMIT")
            except BaseException as exc:
                # Also on cancellation: a cancelled BEGIN or COMMIT may still run on the connection's thread,
                # so queue a ROLLBACK behind it (calls run in order there) and shield it from the same cancel.
                with contextlib.suppress(sqlite3.OperationalError):
                    await asyncio.shield(self._writer.execute("ROLLBACK"))
                if isinstance(exc, sqlite3.IntegrityError):
                    raise ConstraintError(str(exc)) from exc
                if outage := _outage(exc):
                    raise outage from None
                raise

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Execute, fetch and finalise in one call on the reader's thread. With separate calls, a statement
        left open by one task keeps the connection's read snapshot, and another task's read would miss the
        latest commit."""
        if self._reader is None:
            raise RuntimeError("database is not open")
        try:
            return list(await self._reader.execute_fetchall(sql, _bound(params)))
        except sqlite3.OperationalError as exc:
            if outage := _outage(exc):
                raise outage from None
            raise

    async def lookup(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """A key lookup in a small table every request reads (API keys, user revisions), on the event loop's own
        connection: the reader's thread costs ~65 µs a call, such a read ~4. All rows are fetched, so the
        statement ends and the next read sees the latest commit. When the file is busy (a reader waits only
        during recovery), the reader's thread waits instead of the loop."""
        if self._inline is None:
            raise RuntimeError("database is not open")
        try:
            rows = self._inline.execute(sql, _bound(params)).fetchall()
        except sqlite3.OperationalError as exc:
            if _primary(exc) in _BUSY:
                return await self.fetchone(sql, params)
            if outage := _outage(exc):
                raise outage from None
            raise
        return rows[0] if rows else None

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def hold(self, key: str, shared: bool = False) -> bool:
        """One process owns the file: every job it finds running at start-up was its own."""
        return True

    async def release(self, key: str) -> None:
        pass

    def holds(self, key: str) -> bool:
        return True

    async def catch_up(self) -> None:
        pass

    async def follow(self, revised: Callable[[str, str], None]) -> None:
        """No news: other processes (the CLI's) may write the file too, and only the revision read sees them."""
        return None

    @asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[None]:
        """One process owns the file: holding `key` among its own tasks is enough."""
        async with self._keys(key):
            yield
