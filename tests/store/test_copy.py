"""`memory-server migrate`: a SQLite deployment copied into PostgreSQL, ids and all, answers the same; a target
holding data, an unknown source table and a source a server holds are refused, and nothing is half-copied."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from memory_server.api.app import create_app
from memory_server.cli import app
from memory_server.config import Settings, WebhookSettings, WorkerSettings
from memory_server.context import Scope
from memory_server.datalock import DataDirLock
from memory_server.schemas import ChangelogFilter, InteractionIn, ProfileIn, SearchIn
from memory_server.service import MemoryService
from memory_server.store.copy import DERIVED, TABLES, CopyError, copy_sqlite_to_postgres
from memory_server.store.postgres import PostgresDatabase
from memory_server.store.sqlite import SqliteDatabase
from tests import postgres
from tests.conftest import publish, running

runner = CliRunner()
needs_postgres = pytest.mark.skipif(
    postgres.ADMIN_URL is None, reason="needs PostgreSQL: set MEMORY_SERVER_TEST_POSTGRES=postgresql://…/postgres"
)


@pytest.fixture(autouse=True)
def no_server_settings(monkeypatch) -> None:
    """Every Settings here names its storage itself (the source is SQLite whatever the suite runs on)."""
    for name in list(os.environ):
        if name.startswith("MEMORY_SERVER_") and name != "MEMORY_SERVER_TEST_POSTGRES":
            monkeypatch.delenv(name)


def sqlite_settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        storage={"url": None},
        workers=WorkerSettings(poll_seconds=0.05, retry_backoff_seconds=0.01, max_attempts=2, wait_timeout_seconds=20),
        webhooks=WebhookSettings(allow_private=True, max_attempts=1, timeout_seconds=1),
    )


async def seed(settings: Settings) -> None:
    """A deployment with a row in every table: conversations through the offline extractor, a webhook and its
    deliveries, a segment, user attributes, consent, a second project, keys, the retrieval log, a console sign-out."""
    served = create_app(settings)
    transport = httpx.ASGITransport(app=served)
    async with running(served), httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        r = await client.put("/v1/config", json={"extractor": "rules", "temperature": 0.1})
        assert r.status_code == 200, r.text
        r = await client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["request.done"]})
        assert r.status_code == 201, r.text
        r = await client.post("/v1/segments", json={"name": "pros", "condition": {"attribute": "plan", "eq": "pro"}})
        assert r.status_code == 201, r.text
        await publish(client, "ana", "I live in Berlin", "I work as a nurse", user_attributes={"plan": "pro"})
        await publish(client, "ana", "I love hiking in the Alps on weekends", "My sister is called Eva")
        await publish(client, "bob", "My name is Bob and I live in Paris")
        r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"})
        assert r.status_code == 201, r.text
        r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User owns a boat"})
        assert (await client.delete(f"/v1/facts/{r.json()['id']}")).status_code == 200
        r = await client.put("/v1/users/carol/consent", json={"remember": False, "reason": "asked"})
        assert r.status_code == 200, r.text
        assert (await client.post("/v1/projects", json={"name": "shop"})).status_code == 201
        r = await client.post(
            "/v1/interactions",
            json={"user_id": "dan", "messages": [{"role": "user", "content": "I live in Rome"}], "wait": True},
            headers={"X-Project-Id": "2"},
        )
        assert r.status_code == 200, r.text
        assert (await client.post("/v1/search", json={"user_id": "ana", "query": "Berlin"})).status_code == 200
        assert (await client.post("/v1/keys", json={"role": "admin", "name": "ops"})).status_code == 201
        await served.state.service.access.sign_out("a-console-session")


async def answers(settings: Settings) -> dict[str, Any]:
    """What a caller reads about ana: her profile, fact and episode search, her change log."""
    service = await MemoryService.open(settings)
    scope = Scope(settings.tenant, "test")
    try:
        profile = await service.profile(scope, ProfileIn(user_id="ana", q="where does she live"))
        facts = await service.search(scope, SearchIn(user_id="ana", query="Berlin nurse", types=["facts"]))
        episodes = await service.search(scope, SearchIn(user_id="ana", query="hiking Alps", types=["episodes"]))
        changes = await service.changes(scope, ChangelogFilter(user_id="ana"))
        return {
            "profile": profile.profile.model_dump(),
            "profile_hits": [(h.id, h.content) for h in (profile.searchResults or facts).results],
            "facts": [(h.id, h.content, round(h.score, 5)) for h in facts.results],
            "episodes": {h.id for h in episodes.results},
            "changes": [c.model_dump() for c in changes.items],
        }
    finally:
        await service.close()


def migrate(source: Path, target: str) -> Any:
    return runner.invoke(app, ["migrate", "--from", f"sqlite:///{source}", "--to", target])


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


@needs_postgres
def test_a_copied_deployment_answers_the_same_and_goes_on_from_its_highest_ids(tmp_path):
    source = sqlite_settings(tmp_path / "sqlite")
    asyncio.run(seed(source))
    path = source.db_path
    for table in [t.name for t in TABLES if t.name != "vector_ops"]:
        assert sqlite_rows(path, f"SELECT count(*) FROM {table}")[0][0] > 0, f"the seed leaves {table} empty"

    with postgres.empty_database() as url:
        result = migrate(path, url)
        assert result.exit_code == 0, result.output
        assert "messages" in result.stdout and "mismatch" not in result.output

        for table in [t.name for t in TABLES] + list(DERIVED):
            count = f"SELECT count(*) FROM {table}"
            assert rows(url, count) == sqlite_rows(path, count), table
        for sql in (
            "SELECT id, request_id, position, content FROM messages ORDER BY id",
            "SELECT rowid, id, content, status FROM facts ORDER BY rowid",
            "SELECT id, event, fact_id FROM changelog ORDER BY id",
            "SELECT rowid, request_id, status FROM jobs ORDER BY rowid",
            "SELECT tenant_id, users FROM user_counts ORDER BY tenant_id",
            "SELECT rowid, content, scope, dates FROM episodes_fts ORDER BY rowid",
        ):
            assert rows(url, sql) == sqlite_rows(path, sql), sql

        target = source.model_copy(
            update={"data_dir": tmp_path / "pg", "storage": source.storage.model_copy(update={"url": url})}
        )
        assert asyncio.run(answers(target)) == asyncio.run(answers(source))

        top = {t: rows(url, f"SELECT max(id) FROM {t}")[0][0] for t in ("messages", "changelog")}
        asyncio.run(publish_on(target, "erin", "I live in Oslo"))
        assert rows(url, "SELECT min(id) FROM messages WHERE user_id = 'erin'")[0][0] == top["messages"] + 1
        assert rows(url, "SELECT min(id) FROM changelog WHERE user_id = 'erin'")[0][0] > top["changelog"]


async def publish_on(settings: Settings, user_id: str, text: str) -> None:
    service = await MemoryService.open(settings)
    scope = Scope(settings.tenant, "test")
    try:
        await service.start()
        job, _ = await service.ingest(
            scope, InteractionIn(user_id=user_id, messages=[{"role": "user", "content": text}])
        )
        await service.wait(scope, job.request_id)
        assert (await service.request(scope, job.request_id)).status == "done"
    finally:
        await service.close()


async def opened_once(db: SqliteDatabase | PostgresDatabase) -> None:
    """Its schema created (migrated), nothing else."""
    await db.open()
    await db.close()


def empty_sqlite(path: Path) -> None:
    asyncio.run(opened_once(SqliteDatabase(path)))


@needs_postgres
def test_a_target_holding_data_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "data" / "memory.sqlite3"
    empty_sqlite(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO consent (tenant_id, user_id, remember, updated_by, updated_at) "
            "VALUES ('default', 'ana', 0, 'x', '2026-01-01T00:00:00.000000Z')"
        )
    with postgres.empty_database() as url:
        schema = PostgresDatabase(url)
        asyncio.run(opened_once(schema))
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO projects (tenant_id, id, name, created_at) VALUES ('t', 1, 'default', 'now')")
        result = migrate(path, url)
        assert result.exit_code == 1
        assert "--to" in result.output and "projects" in result.output
        assert rows(url, "SELECT count(*) FROM consent") == [(0,)]
        assert rows(url, "SELECT tenant_id FROM projects") == [("t",)]


@needs_postgres
def test_a_source_table_the_copier_does_not_know_stops_it_before_anything_is_written(tmp_path):
    path = tmp_path / "memory.sqlite3"
    empty_sqlite(path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute(
            "INSERT INTO consent (tenant_id, user_id, remember, updated_by, updated_at) "
            "VALUES ('default', 'ana', 0, 'x', '2026-01-01T00:00:00.000000Z')"
        )
    with postgres.empty_database() as url:
        with pytest.raises(CopyError, match="notes"):
            asyncio.run(copy_sqlite_to_postgres(path, url))
        assert rows(url, "SELECT count(*) FROM consent") == [(0,)]


def test_a_source_a_running_server_holds_is_refused(tmp_path):
    path = tmp_path / "data" / "memory.sqlite3"
    empty_sqlite(path)
    lock = DataDirLock(path.parent)
    lock.acquire()
    try:
        result = migrate(path, "postgresql://nobody@127.0.0.1:1/none")
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "in use by a running memory-server" in result.output


def test_wrong_urls_are_told_apart(tmp_path):
    assert migrate(tmp_path / "missing.sqlite3", "postgresql://x@127.0.0.1/y").exit_code == 2
    result = runner.invoke(app, ["migrate", "--from", "postgresql://a/b", "--to", "postgresql://x@127.0.0.1/y"])
    assert result.exit_code == 2 and "--from" in result.output
    assert not (tmp_path / "missing.sqlite3").exists()


@needs_postgres
def test_rows_go_over_in_batches_and_new_ids_follow_the_highest_copied(tmp_path):
    path = tmp_path / "memory.sqlite3"
    empty_sqlite(path)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO messages (id, tenant_id, user_id, request_id, position, role, content, created_at) "
            "VALUES (?, 'default', 'ana', 'r', ?, 'user', ?, '2026-01-01T00:00:00.000000Z')",
            [(3 * i + 5, i, f"message {i}") for i in range(2_345)],
        )
        conn.executemany("INSERT INTO vector_ops (id, message_id) VALUES (?, ?)", [(40, 5), (41, 8)])
    with postgres.empty_database() as url:
        report = asyncio.run(copy_sqlite_to_postgres(path, url, batch=1_000, sample=50))
        assert report.ok, report.mismatches
        assert {c.table: (c.source, c.target) for c in report.counts}["messages"] == (2_345, 2_345)
        sql = "SELECT id, position, content FROM messages ORDER BY id"
        assert rows(url, sql) == sqlite_rows(path, sql)
        with psycopg.connect(url) as conn:
            added = conn.execute(
                "INSERT INTO messages (tenant_id, user_id, request_id, position, role, content, created_at) "
                "VALUES ('default', 'ana', 'r2', 0, 'user', 'new', 'now') RETURNING id"
            ).fetchone()
            pending = conn.execute("INSERT INTO vector_ops (message_id) VALUES (5) RETURNING id").fetchone()
        assert added == (3 * 2_344 + 5 + 1,)
        assert pending == (42,)


@needs_postgres
def test_a_copy_that_differs_from_its_source_is_reported_and_exits_1(tmp_path):
    path = tmp_path / "memory.sqlite3"
    empty_sqlite(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO consent (tenant_id, user_id, remember, reason, updated_by, updated_at) "
            "VALUES ('default', 'ana', 0, 'asked', 'x', '2026-01-01T00:00:00.000000Z')"
        )
    with postgres.empty_database() as url:
        asyncio.run(opened_once(PostgresDatabase(url)))
        with psycopg.connect(url) as conn:  # a target that changes what it is given
            conn.execute(
                "CREATE FUNCTION garble() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN NEW.reason := 'garbled'; RETURN NEW; END $$"
            )
            conn.execute("CREATE TRIGGER garbled BEFORE INSERT ON consent FOR EACH ROW EXECUTE FUNCTION garble()")
        result = migrate(path, url)
        assert result.exit_code == 1, result.output
        assert "mismatch: consent: 1 of 1 sampled rows missing or different" in result.output
        assert "consent" in result.stdout  # the table of counts is printed all the same


@needs_postgres
def test_a_row_the_target_rejects_leaves_it_empty_and_the_copy_can_run_again(tmp_path):
    path = tmp_path / "memory.sqlite3"
    empty_sqlite(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO messages (tenant_id, user_id, request_id, position, role, content, created_at) "
            "VALUES ('default', 'ana', 'r', 0, 'user', 'hello', '2026-01-01T00:00:00.000000Z')"
        )
        conn.execute(  # copied last; PostgreSQL text cannot hold NUL
            "INSERT INTO retrieval_log (tenant_id, user_id, request_id, kind, query, actor, memories, created_at) "
            "VALUES ('default', 'ana', 'r', 'search', 'a' || char(0) || 'b', 'x', '[]', 'now')"
        )
    with postgres.empty_database() as url:
        result = migrate(path, url)
        assert result.exit_code == 1
        assert "error: copying retrieval_log:" in result.output and "nothing was copied" in result.output
        assert rows(url, "SELECT count(*) FROM messages") == [(0,)]
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE retrieval_log SET query = 'ab'")
        assert migrate(path, url).exit_code == 0
        assert rows(url, "SELECT content FROM messages") == [("hello",)]
