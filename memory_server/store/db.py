"""What the store's functions take: a `Database` (reads, or writes that are a transaction of their own) or the
`Connection` of a transaction the caller holds, whichever engine is behind it.

Two engines implement it: SQLite (`store.sqlite`, the default: one writer connection, WAL) and PostgreSQL
(`store.postgres`, for several processes on one database). Store modules write SQL that both run — `?` and
`:name` parameters, standard upserts — and branch on `is_postgres` only where the engines differ (the keyword
index, JSON functions).

The `tenant_id` column of every memory table (and the `tenant_id` argument of the functions reading them) holds
a memory space, `context.Scope.space`: the tenant id for a tenant's default project, `tenant/N` for its project
N. Only `api_keys` and `projects` hold bare tenant ids.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar


class Row(Protocol):
    """A result row: read columns by name (`row["id"]`) or position."""

    def __getitem__(self, key: str | int) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...


class Connection(Protocol):
    """The connection of an open transaction."""

    async def execute(self, sql: str, parameters: Any = ...) -> Any: ...

    async def execute_fetchall(self, sql: str, parameters: Any = ...) -> Iterable[Any]: ...

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Any: ...


class ConstraintError(Exception):
    """A write broke a constraint of the schema (most often a unique key: the row is there already)."""


class Feed(Protocol):
    """Writes to users' facts told as they commit (`store.revision_feed`): trusted within one `epoch` (None: not
    listening, nothing to trust) and while `caught_up` with this process's own writes."""

    epoch: int | None

    def caught_up(self) -> bool: ...


class Database(Protocol):
    #: "sqlite" or "postgres".
    dialect: str
    #: Whether several processes may share it (then jobs and outboxes are claimed, not just read).
    shared: bool

    async def open(self) -> None: ...

    async def recorded_migrations(self) -> set[str] | None:
        """The migrations the database records (None: no schema yet), read without migrating."""
        ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """The single write path: everything inside commits together or not at all, one transaction at a time
        (across processes too), so a read inside it sees everything committed and nothing half-done."""
        ...

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...

    async def lookup(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """`fetchone` for a read by key of a small table that every request makes; an engine may serve it
        without a round trip to a thread or pool (SQLite reads it on the event loop)."""
        ...

    async def hold(self, key: str, shared: bool = False) -> bool:
        """Mark `key` (a claimed job) as this process's until `release` or this process's end, so that other
        processes can tell a job in hand from one whose process died; False when another process holds it
        (never waits; `shared`: unless all holders took it shared). Nothing to do when not `shared`."""
        ...

    async def release(self, key: str) -> None: ...

    def holds(self, key: str) -> bool:
        """Whether this process still holds `key`: a held key is lost when the connection holding it was cut and
        another process took the key before this one could take it back (`store.pg_session`)."""
        ...

    async def follow(self, revised: Callable[[str, str], None]) -> Feed | None:
        """Call `revised(space, user_id)` for each write to a user's facts as it commits, in any process on the
        database, until closed; None when the engine has no such news (then `user_revisions` tells, read by read).
        """
        ...

    async def catch_up(self) -> None:
        """Before this process trusts `follow`'s news again, have them catch up with every commit so far: for a
        read that revealed another process's write (a job seen done) before its news arrived. Nothing without news.
        """
        ...

    def exclusive(self, key: str) -> AbstractAsyncContextManager[None]:
        """One holder of `key` at a time, for as long as the body runs (a user's writes, the vector outbox): among
        this process's tasks and, when `shared`, across the processes sharing the database; waits its turn."""
        ...


class KeyedLocks:
    """An `asyncio.Lock` per key, kept only while someone holds or awaits it: `exclusive` within one process."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock


def is_postgres(source: Database | Connection) -> bool:
    return getattr(source, "dialect", "sqlite") == "postgres"


def same(source: Database | Connection) -> str:
    """The operator for "equal, NULL equal to NULL": SQLite's `IS`, PostgreSQL's `IS NOT DISTINCT FROM`."""
    return "IS NOT DISTINCT FROM" if is_postgres(source) else "IS"


def page_of(rows: list[Row], limit: int, cursor_column: str) -> tuple[list[Row], int | None]:
    """Rows read with `LIMIT limit + 1`: the page, and the cursor of the next one (None on the last page)."""
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1][cursor_column] if more else None


async def read(source: Database | Connection, sql: str, params: Iterable[Any] = ()) -> list[Row]:
    """Rows from the reader (a Database) or from inside a caller's transaction (its connection)."""
    if hasattr(source, "fetchall"):
        return await source.fetchall(sql, params)  # type: ignore[union-attr]
    return list(await source.execute_fetchall(sql, tuple(params)))  # type: ignore[union-attr]


def marks(values: Sequence[object]) -> str:
    """`?, ?, …`: one parameter per value, for `IN (…)`."""
    return ",".join("?" * len(values))


T = TypeVar("T")

#: Values bound in one `IN (…)` at most (SQLite before 3.32 allows 999 parameters in a statement).
IN_LIMIT = 500


def in_chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` in slices of at most `IN_LIMIT`, each for one `IN (…)`."""
    for start in range(0, len(values), IN_LIMIT):
        yield values[start : start + IN_LIMIT]


def connect(url: str | None, default_path: Path, *, pool_size: int = 10) -> Database:
    """The database a `storage.url` names: `postgresql://…` or `sqlite:///path`; none, the SQLite file
    `default_path` (in the data directory)."""
    if url is None:
        from memory_server.store.sqlite import SqliteDatabase

        return SqliteDatabase(default_path)
    if url.startswith(("postgresql://", "postgres://")):
        from memory_server.store.postgres import PostgresDatabase

        return PostgresDatabase(url, pool_size=pool_size)
    if url.startswith("sqlite:///"):
        from memory_server.store.sqlite import SqliteDatabase

        return SqliteDatabase(Path(url.removeprefix("sqlite:///")))
    raise ValueError(f"storage.url: {url!r} is neither postgresql://… nor sqlite:///…")
