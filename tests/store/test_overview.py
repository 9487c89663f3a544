"""The backlog `/metrics` reads: jobs by status, the oldest queued job, and each outbox's size and oldest row."""

from __future__ import annotations

from datetime import timedelta

from memory_server import timeutil
from memory_server.store import jobs as jobsql
from memory_server.store import overview
from memory_server.store.sqlite import SqliteDatabase


async def test_backlog_counts_jobs_and_dates_the_oldest_queued_job_and_vector_operation(tmp_path):
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    try:
        empty = await overview.backlog(db)
        assert (empty.jobs, empty.oldest_queued, empty.vector_ops, empty.oldest_vector_op) == ({}, None, 0, None)
        an_hour_ago = timeutil.now() - timedelta(hours=1)
        async with db.transaction() as conn:
            for i, at in enumerate((an_hour_ago, timeutil.now())):
                await jobsql.enqueue(
                    conn, request_id=f"r{i}", tenant_id="t", user_id="u", kind="extract", actor="a", at=at
                )
            await conn.executemany("INSERT INTO vector_ops (fact_id) VALUES (?)", [("f1",), ("f2",)])
        backlog = await overview.backlog(db)
        assert backlog.jobs == {"queued": 2}
        assert backlog.oldest_queued == an_hour_ago
        assert backlog.vector_ops == 2
        assert backlog.oldest_vector_op is not None
        assert abs((timeutil.now() - backlog.oldest_vector_op).total_seconds()) < 5
        assert (backlog.deliveries, backlog.oldest_delivery) == (0, None)
    finally:
        await db.close()
