"""This process's own PostgreSQL connection, for the session-level advisory locks it holds: claimed jobs, users
being reconciled, the vector index it shares.

PostgreSQL releases a session's locks when its connection ends, which is how other processes tell that a process
died. A connection can also end while the process lives (the server restarted, a proxy or an idle timeout cut it):
the session then connects again at its next use and takes back every lock it held, so that its claims stay its
own unless another process took one over meanwhile (then it says so). Until it can connect, it is `Unavailable`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg

from memory_server.errors import Unavailable

log = logging.getLogger(__name__)

#: How long connecting waits for the server to answer.
CONNECT_SECONDS = 10
#: How the session's connection is named in `pg_stat_activity`.
APPLICATION = "memory-server session"

_TRY = {False: "pg_try_advisory_lock", True: "pg_try_advisory_lock_shared"}
_UNLOCK = {False: "pg_advisory_unlock", True: "pg_advisory_unlock_shared"}


def reason(exc: Exception) -> str:
    """The first line of a driver error (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unreachable(name: str, exc: Exception) -> Unavailable:
    """The 503 a call answers while the database `name` cannot be reached."""
    return Unavailable(f"the database {name} is unreachable: {reason(exc)}; try again")


async def connect(url: str, name: str) -> psycopg.AsyncConnection[Any]:
    """A connection of its own in autocommit, or `Unavailable` naming the database `name` (without its password)."""
    try:
        return await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=CONNECT_SECONDS, application_name=APPLICATION
        )
    except psycopg.OperationalError as exc:
        raise Unavailable(f"storage.url: cannot connect to {name}: {reason(exc)}") from None


class Session:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name  # how errors name the database (without its password)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._held: dict[str, bool] = {}  # key -> shared

    async def open(self) -> None:
        async with self._lock:
            await self._connect()

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
            self._conn = None
            self._held.clear()

    async def try_lock(self, key: str, shared: bool = False) -> bool:
        """Take `key` (shared with other sessions taking it shared) if no other session holds it otherwise."""
        async with self._lock:
            taken = await self._ask(f"SELECT {_TRY[shared]}(hashtextextended(%s, 0))", key)
            if taken:
                self._held[key] = shared
            return taken

    def holds(self, key: str) -> bool:
        """Whether `key` is held, as of the last time the connection was used (a lost connection is found out,
        and the locks taken back, at the next use)."""
        return key in self._held

    async def unlock(self, key: str) -> None:
        async with self._lock:
            shared = self._held.pop(key, None)
            if shared is not None:
                await self._ask(f"SELECT {_UNLOCK[shared]}(hashtextextended(%s, 0))", key)

    async def _ask(self, sql: str, key: str) -> bool:
        try:
            return await self._run(sql, key)
        except psycopg.OperationalError as exc:
            log.warning("database session lost (%s): connecting again", reason(exc))
            await self._drop()
        try:
            return await self._run(sql, key)
        except psycopg.OperationalError as exc:
            await self._drop()
            raise unreachable(self.name, exc) from None

    async def _run(self, sql: str, key: str) -> bool:
        conn = self._conn if self._conn is not None and not self._conn.closed else await self._connect()
        cursor = await conn.execute(sql, (key,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _drop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        self._conn = None

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """A new connection, holding again every lock the lost one held."""
        conn = await connect(self.url, self.name)
        for key, shared in list(self._held.items()):
            cursor = await conn.execute(f"SELECT {_TRY[shared]}(hashtextextended(%s, 0))", (key,))
            row = await cursor.fetchone()
            if not (row and row[0]):
                log.error("database session: %s was taken by another process while this one was disconnected", key)
                del self._held[key]
        self._conn = conn
        return conn
