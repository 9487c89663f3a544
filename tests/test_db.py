"""The SQLite layer: a read issued after a commit sees that commit, whatever other reads are in flight."""

from __future__ import annotations

import asyncio

from memory_server.db import Database


async def test_read_after_commit_sees_it_while_other_reads_are_in_flight(tmp_path):
    db = Database(tmp_path / "x.sqlite3")
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
