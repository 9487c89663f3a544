"""Crashes and restarts: accepted work is never lost, and SQLite and the vector index stay in line."""

from __future__ import annotations

import asyncio
import sqlite3

import aiosqlite
import pytest

from memory_server import timeutil
from memory_server.context import Scope
from memory_server.errors import Unavailable
from memory_server.schemas import FactFilter, FactIn, InteractionIn, SearchIn
from memory_server.service import MemoryService
from memory_server.store import jobs as jobsql
from memory_server.store import migrations
from memory_server.store.sqlite import SqliteDatabase
from tests.conftest import index_users, indexed
from tests.fakes import fact


async def wait_done(service: MemoryService, scope: Scope, request_id: str) -> str:
    for _ in range(300):
        status = (await service.request(scope, request_id)).status
        if status in ("done", "failed"):
            return status
        await asyncio.sleep(0.02)
    return status


async def test_job_accepted_before_a_crash_runs_at_next_start(settings, fake):
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(settings)  # no workers: the job is stored, not run
    await service.update_config(scope, {"extractor": "fake"})
    job, _ = await service.ingest(
        scope, InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I'm a nurse"}])
    )
    async with service.core.db.transaction() as conn:  # it was running when the process died
        await conn.execute("UPDATE jobs SET status = 'running', attempts = 1 WHERE request_id = ?", (job.request_id,))
    await service.close()

    fake.queue([fact("User is a nurse")])
    service = await MemoryService.open(settings)
    await service.start()
    try:
        assert await wait_done(service, scope, job.request_id) == "done"
        done = await service.request(scope, job.request_id)
        assert [f.content for f in done.changes.added] == ["User is a nurse"]
        assert done.attempts == 2
    finally:
        await service.close()


async def test_a_failure_the_store_cannot_record_at_once_is_recorded_when_it_answers(settings, fake, monkeypatch):
    """A locked database (or a full disk) while a failed attempt is written kills no worker: the job is queued again
    once the store answers, runs to its end, and the jobs after it run too."""
    settings.workers.concurrency = 1  # one worker: if it died, nothing would run any more
    scope = Scope(settings.tenant, "test")
    reschedule, refusals = jobsql.reschedule, []

    async def locked(*args, **kwargs):
        if len(refusals) < 3:
            refusals.append(args[1])
            raise sqlite3.OperationalError("database is locked")
        await reschedule(*args, **kwargs)

    monkeypatch.setattr(jobsql, "reschedule", locked)
    service = await MemoryService.open(settings)
    await service.start()
    try:
        await service.update_config(scope, {"extractor": "fake"})
        fake.queue(RuntimeError("model down"), [fact("User is a nurse")], [fact("User keeps bees")])
        first, _ = await service.ingest(
            scope, InteractionIn(user_id="ana", messages=[{"role": "user", "content": "a"}])
        )
        assert await wait_done(service, scope, first.request_id) == "done"
        later, _ = await service.ingest(
            scope, InteractionIn(user_id="bob", messages=[{"role": "user", "content": "b"}])
        )
        assert await wait_done(service, scope, later.request_id) == "done"
        assert refusals == [first.request_id] * 3
        assert (await service.request(scope, first.request_id)).attempts == 2
    finally:
        await service.close()


async def test_an_attempt_the_store_cut_short_does_not_count_toward_failing_the_job(settings, fake):
    """A locked database for longer than every retry's backoff (3 tries, here 2) must not fail a job for good: the
    job itself was never tried."""
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(settings)
    await service.start()
    try:
        await service.update_config(scope, {"extractor": "fake"})
        away = Unavailable("the database is locked by another process; try again")
        fake.queue(away, away, away, [fact("User is a nurse")])
        job, _ = await service.ingest(scope, InteractionIn(user_id="ana", messages=[{"role": "user", "content": "a"}]))
        assert await wait_done(service, scope, job.request_id) == "done"
        assert (await service.request(scope, job.request_id)).attempts == 1
        assert [f.content for f in (await service.facts(scope, "ana", FactFilter())).items] == ["User is a nurse"]
    finally:
        await service.close()


async def test_vector_operations_left_by_a_crash_are_replayed_at_start(settings):
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(settings)
    stored = (await service.add_fact(scope, FactIn(user_id="ana", content="User keeps bees"))).fact
    gone = (await service.add_fact(scope, FactIn(user_id="ana", content="User owns a boat"))).fact
    await index_users(service, scope.tenant_id, "ana")
    assert await indexed(service, scope.tenant_id, "ana") == {stored.id, gone.id}
    # Simulate a crash between the SQLite commit and the index: the index is behind on both facts.
    await service.core.index.delete([stored.id])
    async with service.core.db.transaction() as conn:
        await conn.execute("UPDATE facts SET status = 'deleted' WHERE id = ?", (gone.id,))
        await conn.executemany("INSERT INTO vector_ops (fact_id) VALUES (?)", [(stored.id,), (gone.id,)])
    assert await indexed(service, scope.tenant_id, "ana") == {gone.id}
    await service.close()

    service = await MemoryService.open(settings)
    try:
        assert await indexed(service, scope.tenant_id, "ana") == {stored.id}
        pending = await service.core.db.fetchone("SELECT count(*) FROM vector_ops")
        assert pending[0] == 0
    finally:
        await service.close()


async def test_a_failed_write_leaves_nothing_behind(settings, fake, monkeypatch):
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(settings)
    try:
        from memory_server.store import changelog

        async def broken(conn, event):
            raise RuntimeError("disk full")

        monkeypatch.setattr(changelog, "record", broken)
        with pytest.raises(RuntimeError):
            await service.add_fact(scope, FactIn(user_id="ana", content="User keeps bees"))
        for table in ("facts", "fact_vectors", "vector_ops", "changelog"):
            assert (await service.core.db.fetchone(f"SELECT count(*) FROM {table}"))[0] == 0, table
        assert await indexed(service, scope.tenant_id) == set()
    finally:
        await service.close()


async def test_second_process_on_the_same_data_dir_is_refused_clearly(settings):
    service = await MemoryService.open(settings)
    try:
        with pytest.raises(Unavailable, match="in use by process"):
            await MemoryService.open(settings)
    finally:
        await service.close()
    again = await MemoryService.open(settings)  # released on close
    await again.close()


async def test_a_data_directory_that_cannot_be_locked_is_refused_in_one_line_naming_it(settings, tmp_path):
    (tmp_path / "file").write_text("")
    settings.data_dir = tmp_path / "file" / "data"  # as unwritable as a full disk or a directory of another user
    with pytest.raises(Unavailable, match=f"data directory {settings.data_dir}: cannot lock"):
        await MemoryService.open(settings)


async def test_schema_builds_from_a_blank_database_and_migrate_is_rerunnable(tmp_path):
    db = SqliteDatabase(tmp_path / "blank.sqlite3")
    await db.open()
    try:
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"messages", "jobs", "facts", "fact_vectors", "vector_ops", "changelog", "config_versions"} <= tables
        applied = [r[0] for r in await db.fetchall("SELECT name FROM _migrations ORDER BY name")]
        assert applied == [m.__name__ for m in migrations.MIGRATIONS]
    finally:
        await db.close()
    async with aiosqlite.connect(tmp_path / "blank.sqlite3", isolation_level=None) as conn:
        assert await migrations.migrate(conn) == []


async def test_changed_embedder_refuses_to_serve_until_reindexed(settings):
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(settings)
    await service.add_fact(scope, FactIn(user_id="ana", content="User keeps bees"))
    async with service.core.db.transaction() as conn:
        await conn.execute("UPDATE fact_vectors SET model_id = 'some-older-model'")
    await service.close()

    with pytest.raises(Exception, match="reindex"):
        await MemoryService.open(settings)
    service = await MemoryService.open(settings, rebuilding=True)  # as `memory-server reindex` opens it
    try:
        assert await service.reindex() == 1
        row = await service.core.db.fetchone("SELECT model_id FROM fact_vectors")
        assert row[0] == service.core.embedder.model_id
        found = await service.search(scope, SearchIn(user_id="ana", query="bees"))
        assert [r.content for r in found.results] == ["User keeps bees"]
    finally:
        await service.close()


async def test_years_stored_unpadded_by_older_versions_are_padded_and_read_back(tmp_path):
    async with aiosqlite.connect(tmp_path / "old.sqlite3", isolation_level=None) as conn:
        for migration in migrations.MIGRATIONS[:3]:
            await migration(conn)
        await conn.execute(
            "INSERT INTO messages (tenant_id, user_id, request_id, session_id, position, role, content, created_at) "
            "VALUES ('t', 'ana', 'r', NULL, 0, 'user', 'hi', '999-12-31T23:59:59.000000Z'), "
            "('t', 'ana', 'r', NULL, 1, 'user', 'hi', '5-01-01T00:00:00.000000Z'), "
            "('t', 'ana', 'r', NULL, 2, 'user', 'hi', '2026-01-01T00:00:00.000000Z')"
        )
        await migrations.m005_pad_years(conn)
        rows = await conn.execute_fetchall("SELECT created_at FROM messages ORDER BY created_at")
    assert [r[0] for r in rows] == [
        "0005-01-01T00:00:00.000000Z",
        "0999-12-31T23:59:59.000000Z",
        "2026-01-01T00:00:00.000000Z",
    ]
    assert timeutil.from_db(rows[0][0]).year == 5


@pytest.mark.sqlite
async def test_message_ids_freed_before_the_upgrade_are_not_given_again(settings, monkeypatch):
    """m020 on a database where SQLite's old rule had freed the newest message's id: what the change log still
    names is never given again, and nothing that refers to the stored messages is lost in the rebuild."""
    scope = Scope(settings.tenant, "test")
    said = [InteractionIn(user_id="ana", messages=[{"role": "user", "content": t}]) for t in ("I am a nurse", "I swim")]
    with monkeypatch.context() as old:
        before = [m for m in migrations.MIGRATIONS if m is not migrations.m020_message_ids_never_reused]
        old.setattr(migrations, "MIGRATIONS", before)
        service = await MemoryService.open(settings)
        try:
            await service.start()
            for body in said:
                job, _ = await service.ingest(scope, body)
                await service.wait(scope, job.request_id)
            newest = (await service.core.db.fetchone("SELECT max(id) FROM messages"))[0]
            await service.delete_episode(scope, newest)
        finally:
            await service.close()

    service = await MemoryService.open(settings)
    try:
        await service.start()
        assert (await service.core.db.fetchone("SELECT count(*) FROM message_vectors"))[0] == 1
        job, _ = await service.ingest(scope, InteractionIn(user_id="ana", messages=[{"role": "user", "content": "hi"}]))
        await service.wait(scope, job.request_id)
        ids = [r[0] for r in await service.core.db.fetchall("SELECT id FROM messages ORDER BY id")]
        assert ids == [newest - 1, newest + 1]
    finally:
        await service.close()
