"""The SQLite layer: a read issued after a commit sees that commit, whatever other reads are in flight; `exclusive`
keeps one holder of a key among the process's tasks."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading

import pytest

from memory_server.errors import Unavailable
from memory_server.store import sqlite
from memory_server.store.sqlite import SqliteDatabase


async def test_read_after_commit_sees_it_while_other_reads_are_in_flight(tmp_path):
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
            await conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2000)])
        expected = 2000

        async def write_then_read() -> tuple[int, int]:
            nonlocal expected
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (-1)")
            expected += 1
            return expected, (await db.fetchone("SELECT count(*) FROM t"))[0]

        for _ in range(30):
            results = await asyncio.gather(*(db.fetchall("SELECT x FROM t") for _ in range(4)), write_then_read())
            wanted, seen = results[-1]
            assert seen == wanted
    finally:
        await db.close()


async def test_a_transaction_cancelled_at_any_point_leaves_the_writer_usable(tmp_path):
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")

        async def write(value: int) -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (?)", (value,))
                await asyncio.sleep(0)

        for i in range(200):  # cancel after a varying number of event-loop turns: BEGIN, body, COMMIT
            task = asyncio.create_task(write(i))
            for _ in range(i % 5):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            async with db.transaction() as conn:  # never "cannot start a transaction within a transaction"
                await conn.execute("INSERT INTO t VALUES (-1)")
        rows = await db.fetchall("SELECT count(*) FROM t WHERE x = -1")
        assert rows[0][0] == 200
    finally:
        await db.close()


async def test_exclusive_keeps_one_holder_of_a_key_among_the_process_s_tasks(tmp_path):
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    try:
        inside: list[str] = []
        overlaps: list[tuple[str, ...]] = []

        async def hold(key: str, name: str) -> None:
            async with db.exclusive(key):
                inside.append(name)
                overlaps.append(tuple(inside))
                await asyncio.sleep(0.05)
                inside.remove(name)

        await asyncio.gather(hold("user:t:ana", "a1"), hold("user:t:ana", "a2"), hold("user:t:bob", "b"))
        assert not [o for o in overlaps if "a1" in o and "a2" in o]
        assert [o for o in overlaps if len(o) == 2]  # bob's key did not wait for ana's
    finally:
        await db.close()


async def test_a_lookup_sees_every_commit_at_once_and_hands_a_busy_read_to_the_reader(tmp_path, monkeypatch):
    """`lookup` reads on the event loop's own connection: it must see what the writer just committed (a key
    revoked a moment ago), and when that connection finds the file busy, answer from the reader instead of
    failing; a disk that fails it is a 503, any other error is raised."""
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
            await conn.execute("INSERT INTO t VALUES ('a', 1)")
        for value in range(2, 40):
            async with db.transaction() as conn:
                await conn.execute("UPDATE t SET v = ? WHERE k = 'a'", (value,))
            assert (await db.lookup("SELECT v FROM t WHERE k = ?", ("a",)))["v"] == value
        assert await db.lookup("SELECT v FROM t WHERE k = ?", ("b",)) is None
        assert (await db.lookup("SELECT v FROM t WHERE k = :k", {"k": "a"}))["v"] == 39  # named, as fetchall takes

        class Busy:
            def execute(self, *_: object) -> None:
                busy = sqlite3.OperationalError("database is locked")
                busy.sqlite_errorcode = sqlite3.SQLITE_BUSY | (1 << 8)  # SQLITE_BUSY_RECOVERY, as a WAL reader sees it
                raise busy

        monkeypatch.setattr(db, "_inline", Busy())
        assert (await db.lookup("SELECT v FROM t WHERE k = ?", ("a",)))["v"] == 39

        class Failing:
            def execute(self, *_: object) -> None:
                failed = sqlite3.OperationalError("disk I/O error")
                failed.sqlite_errorcode = sqlite3.SQLITE_IOERR | (1 << 8)  # SQLITE_IOERR_READ
                raise failed

        monkeypatch.setattr(db, "_inline", Failing())
        with pytest.raises(Unavailable, match="disk I/O error"):
            await db.lookup("SELECT v FROM t WHERE k = ?", ("a",))
        monkeypatch.undo()
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await db.lookup("SELECT v FROM missing")
    finally:
        await db.close()


async def test_a_database_that_fails_to_open_says_why_and_leaves_no_connection_open(tmp_path, monkeypatch):
    """A full disk while migrating: a 503 that says so, and no connection's thread left to keep the process alive."""

    async def full(conn):
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise error

    monkeypatch.setattr(sqlite, "migrate", full)
    before = set(threading.enumerate())
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    with pytest.raises(Unavailable, match="the disk is full"):
        await db.open()
    for thread in set(threading.enumerate()) - before:
        if "_connection_worker_thread" not in thread.name:  # an aiosqlite connection's (one per connection)
            continue
        thread.join(timeout=5)  # a closed connection's ends at once; an open one's never
        assert not thread.is_alive(), thread.name
