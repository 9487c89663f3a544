"""The memory-server command: export/import round trip, reindex, config errors."""

from __future__ import annotations

import asyncio
import json
import resource
import signal

import psycopg
import pytest
from typer.testing import CliRunner

from memory_server.cli import app
from memory_server.context import Scope
from memory_server.errors import Misconfigured
from memory_server.schemas import FactIn, InteractionIn, SearchIn
from memory_server.service import MemoryService
from memory_server.store import migrations
from tests import postgres
from tests.conftest import index_users, indexed

runner = CliRunner()


def seed(settings) -> None:
    async def run() -> None:
        service = await MemoryService.open(settings)
        scope = Scope(settings.tenant, "test")
        try:
            await service.add_fact(scope, FactIn(user_id="ana", content="User keeps bees"))
            fact = (await service.add_fact(scope, FactIn(user_id="ana", content="User owns a boat"))).fact
            await service.delete_fact(scope, fact.id)
        finally:
            await service.close()

    asyncio.run(run())


def search(settings, query: str) -> list[str]:
    async def run() -> list[str]:
        service = await MemoryService.open(settings)
        try:
            found = await service.search(
                Scope(settings.tenant, "t"), SearchIn(user_id="ana", query=query, types=["facts"])
            )
            return [r.content for r in found.results]
        finally:
            await service.close()

    return asyncio.run(run())


@pytest.mark.sqlite
def test_export_then_import_into_a_fresh_server_is_idempotent(settings, tmp_path):
    seed(settings)
    out = tmp_path / "ana.json"
    result = runner.invoke(app, ["export", "--user", "ana", "--out", str(out), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["format"] == "memory-server/user-export@1"
    assert sorted((f["content"], f["status"]) for f in data["facts"]) == [
        ("User keeps bees", "active"),
        ("User owns a boat", "deleted"),
    ]
    assert [c["event"] for c in data["changelog"]] == ["add", "add", "delete"]

    fresh = settings.model_copy(update={"data_dir": tmp_path / "other"})
    args = ["import", str(out), "--data-dir", str(fresh.data_dir)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["added"] == {"messages": 0, "facts": 2, "changelog": 3}
    second = runner.invoke(app, args)
    assert json.loads(second.stdout)["added"] == {"messages": 0, "facts": 0, "changelog": 0}
    assert search(fresh, "bees") == ["User keeps bees"]
    assert search(fresh, "boat") == []


def test_import_rejects_a_file_that_is_not_an_export(settings, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": "world"}')
    result = runner.invoke(app, ["import", str(bad), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2
    assert "not a memory-server export" in result.output


def test_reindex_rebuilds_the_vector_index_from_sqlite(settings):
    seed(settings)

    async def wipe_index() -> None:
        service = await MemoryService.open(settings)
        try:
            await index_users(service, settings.tenant, "ana")
            assert len(await indexed(service, settings.tenant)) == 1
            await service.core.index.reset()
            assert await indexed(service, settings.tenant) == set()
        finally:
            await service.close()

    asyncio.run(wipe_index())
    result = runner.invoke(app, ["reindex", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "reindexed: 1 live facts and messages searchable" in result.output

    async def ids() -> set[str]:
        service = await MemoryService.open(settings)
        try:
            return await indexed(service, settings.tenant, "ana")
        finally:
            await service.close()

    assert len(asyncio.run(ids())) == 1


def test_invalid_config_stops_with_the_setting_named(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("server:\n  port: -1\n")
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "server.port:" in result.output


def test_reextract_needs_user_or_all_and_replays(settings):
    seed(settings)
    result = runner.invoke(app, ["reextract", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2
    assert "--user" in result.output

    async def publish() -> None:
        service = await MemoryService.open(settings)
        try:
            from memory_server.schemas import InteractionIn

            await service.ingest(
                Scope(settings.tenant, "t"),
                InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I'm a beekeeper"}]),
            )
        finally:
            await service.close()

    asyncio.run(publish())  # stored, never extracted: no workers ran
    assert "User is a beekeeper" not in search(settings, "beekeeper")
    result = runner.invoke(app, ["reextract", "--all", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "re-extracted 1 user" in result.output
    assert search(settings, "beekeeper")[0] == "User is a beekeeper"
    result = runner.invoke(app, ["reextract", "--all", "--tenant", "nosuch", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0
    assert result.output.strip().endswith("no user of nosuch has stored messages: nothing to re-extract")


def test_reextract_all_skips_users_marked_do_not_remember_and_goes_on(settings):
    from memory_server.schemas import ConsentIn

    async def publish() -> None:
        service = await MemoryService.open(settings)
        scope = Scope(settings.tenant, "t")
        try:
            for user in ("ana", "carla", "zoe"):
                body = InteractionIn(user_id=user, messages=[{"role": "user", "content": "I'm a beekeeper"}])
                await service.ingest(scope, body)
            await service.consent.set(scope, "carla", ConsentIn(remember=False))
        finally:
            await service.close()

    asyncio.run(publish())
    result = runner.invoke(app, ["reextract", "--all", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert 'skipped carla: marked "do not remember"' in result.output
    assert "re-extracted 2 users" in result.output

    async def facts() -> dict[str, list[str]]:
        service = await MemoryService.open(settings)
        scope = Scope(settings.tenant, "t")
        try:
            found = {}
            for user in ("ana", "carla", "zoe"):
                query = SearchIn(user_id=user, query="beekeeper", types=["facts"])
                found[user] = [r.content for r in (await service.search(scope, query)).results]
            return found
        finally:
            await service.close()

    assert asyncio.run(facts()) == {"ana": ["User is a beekeeper"], "carla": [], "zoe": ["User is a beekeeper"]}


def test_export_to_a_directory_that_does_not_exist_is_an_error_line(settings, tmp_path):
    seed(settings)
    out = tmp_path / "missing" / "ana.json"
    result = runner.invoke(app, ["export", "--user", "ana", "-o", str(out), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: cannot write {out}: No such file or directory"


@pytest.mark.sqlite
def test_export_that_runs_out_of_space_leaves_the_old_file_and_no_partial_one(settings, tmp_path, monkeypatch):
    """A full disk is stood in for by a file size limit, set once the data directory is closed."""

    async def publish() -> None:
        service = await MemoryService.open(settings)
        try:
            body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I keep bees. " * 400}])
            await service.ingest(Scope(settings.tenant, "t"), body)
        finally:
            await service.close()

    asyncio.run(publish())
    out = tmp_path / "exports" / "ana.json"
    out.parent.mkdir()
    out.write_text("the export of yesterday\n")
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    close = MemoryService.close

    async def close_then_fill_the_disk(self) -> None:
        await close(self)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000, limit[1]))

    monkeypatch.setattr(MemoryService, "close", close_then_fill_the_disk)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    try:
        result = runner.invoke(app, ["export", "--user", "ana", "-o", str(out), "--data-dir", str(settings.data_dir)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, previous)
    assert result.exit_code == 1
    assert result.output.strip() == f"error: cannot write {out}: File too large"
    assert [p.name for p in out.parent.iterdir()] == ["ana.json"]
    assert out.read_text() == "the export of yesterday\n"


async def test_keys_made_and_revoked_by_the_cli_apply_to_a_running_server(client, service, settings):
    async def cli(*args: str):  # the CLI runs its own event loop: give it a thread
        return await asyncio.to_thread(runner.invoke, app, [*args, "--data-dir", str(settings.data_dir)])

    created = await cli("keys", "create", "--tenant", "acme", "--role", "editor", "--name", "bot")
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    assert key["key"].startswith("msk_") and key["role"] == "editor" and key["tenant_id"] == "acme"
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert (await client.post("/v1/profile", json={"user_id": "ana"})).status_code == 401  # keys now exist
    assert (await client.post("/v1/profile", json={"user_id": "ana"}, headers=headers)).status_code == 200

    listed = json.loads((await cli("keys", "list")).stdout)
    assert [k["id"] for k in listed] == [key["id"]]
    assert "key" not in listed[0] and key["key"] not in json.dumps(listed)
    row = await service.core.db.fetchone("SELECT secret_hash FROM api_keys")
    assert key["key"] not in row[0]

    revoked = await cli("keys", "revoke", key["id"])
    assert revoked.exit_code == 0
    assert (await client.post("/v1/profile", json={"user_id": "ana"}, headers=headers)).status_code == 401


def test_keys_create_rejects_a_bad_role_or_tenant(settings):
    for args, named in (
        (["--tenant", "acme", "--role", "root"], "--role"),
        (["--tenant", " ", "--role", "viewer"], "--tenant"),
    ):
        result = runner.invoke(app, ["keys", "create", *args, "--data-dir", str(settings.data_dir)])
        assert result.exit_code == 2
        assert named in result.output


@pytest.mark.sqlite
def test_a_key_made_in_a_new_database_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("MEMORY_SERVER_STORAGE__URL", raising=False)
    args = ["keys", "create", "--tenant", "acme", "--role", "viewer", "--data-dir", str(tmp_path / "typo")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and "did not exist: the key is in this new database" in first.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "new database" not in again.output


@pytest.mark.sqlite
@pytest.mark.parametrize(
    "command",
    [
        ["export", "--user", "ana"],
        ["check"],
        ["reindex"],
        ["reextract", "--all"],
        ["keys", "list"],
        ["keys", "revoke", "k1"],
        ["projects", "list"],
    ],
)
def test_commands_that_read_stored_data_refuse_a_data_directory_without_a_database(command, tmp_path, monkeypatch):
    monkeypatch.delenv("MEMORY_SERVER_STORAGE__URL", raising=False)
    typo = tmp_path / "typo"
    result = runner.invoke(app, [*command, "--data-dir", str(typo)])
    assert result.exit_code == 1, result.output
    assert f"error: no database at {typo / 'memory.sqlite3'}: check --data-dir" in result.output
    assert not (typo / "memory.sqlite3").exists()


@pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: set MEMORY_SERVER_TEST_POSTGRES")
@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list"],
        ["keys", "revoke", "k1"],
        ["projects", "list"],
        ["check"],
        ["reindex"],
        ["export", "--user", "a"],
    ],
)
def test_commands_that_read_stored_data_leave_a_postgresql_database_without_a_schema_as_it_is(
    command, tmp_path, monkeypatch
):
    with postgres.empty_database() as url:
        monkeypatch.setenv("MEMORY_SERVER_STORAGE__URL", url)
        result = runner.invoke(app, [*command, "--data-dir", str(tmp_path / "data")])
        with psycopg.connect(url) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()").fetchone()
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "has no schema yet (check storage.url): `memory-server serve` creates it" in result.output
    assert tables == (0,)


def test_worker_needs_a_shared_database_and_index(settings, monkeypatch):
    monkeypatch.delenv("MEMORY_SERVER_STORAGE__URL", raising=False)
    result = runner.invoke(app, ["worker", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2
    assert "storage.url" in result.output and "index.url" in result.output
    monkeypatch.setenv("MEMORY_SERVER_STORAGE__URL", "postgresql://nobody@127.0.0.1:1/none")
    result = runner.invoke(app, ["worker", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 2 and "index.url" in result.output  # PostgreSQL alone is not enough


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_on_a_port_out_of_range_is_a_usage_error_not_a_traceback(settings, port):
    result = runner.invoke(app, ["serve", "--data-dir", str(settings.data_dir), "--port", port])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--port'" in result.output and "Traceback" not in result.output


def test_serve_on_an_unreachable_postgresql_says_so_in_one_line_without_the_password(settings, monkeypatch):
    monkeypatch.setenv("MEMORY_SERVER_STORAGE__URL", "postgresql://nobody:hunter2@127.0.0.1:1/none")
    result = runner.invoke(app, ["serve", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: storage.url: cannot connect to postgresql://…@127.0.0.1:1/none: ")
    assert "hunter2" not in result.output


def test_export_import_and_reextract_reach_a_project_by_number(settings, tmp_path):
    async def in_project_two() -> None:
        service = await MemoryService.open(settings)
        try:
            project = await service.projects.create(Scope(settings.tenant, "t"), "second")
            scope = Scope(settings.tenant, "t", project_id=project.id)
            await service.add_fact(scope, FactIn(user_id="ana", content="User keeps goats"))
        finally:
            await service.close()

    asyncio.run(in_project_two())
    where = ["--data-dir", str(settings.data_dir)]
    out = tmp_path / "ana.json"
    assert runner.invoke(app, ["export", "--user", "ana", "-o", str(out), *where]).exit_code == 1  # not in project 1
    result = runner.invoke(app, ["export", "--user", "ana", "--project", "2", "-o", str(out), *where])
    assert result.exit_code == 0, result.output
    assert [f["content"] for f in json.loads(out.read_text())["facts"]] == ["User keeps goats"]
    result = runner.invoke(app, ["import", str(out), "--project", "3", *where])
    assert result.exit_code == 1 and "--project: no project 3" in result.output
    result = runner.invoke(app, ["reextract", "--all", "--project", "2", *where])
    assert result.exit_code == 0 and "no user of" in result.output  # goats were stated, never published


@pytest.mark.sqlite
def test_check_refuses_vectors_of_another_model_and_reindex_re_embeds_them(settings, monkeypatch):
    monkeypatch.delenv("MEMORY_SERVER_STORAGE__URL", raising=False)
    seed(settings)
    asyncio.run(_relabel_vectors(settings, "another-model"))
    checked = runner.invoke(app, ["check", "--data-dir", str(settings.data_dir)])
    assert checked.exit_code == 1 and "stored vectors were made by another-model" in checked.output
    assert "memory-server reindex" in checked.output
    rebuilt = runner.invoke(app, ["reindex", "--data-dir", str(settings.data_dir)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(app, ["check", "--data-dir", str(settings.data_dir)]).exit_code == 0


async def _relabel_vectors(settings, model: str) -> None:
    service = await MemoryService.open(settings)
    try:
        async with service.core.db.transaction() as conn:
            await conn.execute("UPDATE fact_vectors SET model_id = ?", (model,))
    finally:
        await service.close()


def _recorded(settings) -> set[str] | None:
    return asyncio.run(settings.database().recorded_migrations())


@pytest.mark.sqlite
def test_only_a_server_upgrades_a_schema_an_older_build_left(settings, monkeypatch):
    async def as_older_build() -> None:
        db = settings.database()
        await db.open()
        await db.close()

    with monkeypatch.context() as older:
        older.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:20])
        asyncio.run(as_older_build())
    left = _recorded(settings)
    assert len(left) == 20
    result = runner.invoke(app, ["keys", "list", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1, result.output
    pending = len(migrations.MIGRATIONS) - 20
    assert f"has the schema of an older memory-server ({pending} migrations to apply, m021_message_offsets first)" in (
        result.output
    )
    assert "stop every process of the older build" in result.output
    assert _recorded(settings) == left  # a command beside the older build's server changed nothing
    seed(settings)  # a server's start upgrades it
    assert _recorded(settings) == {m.__name__ for m in migrations.MIGRATIONS}
    assert runner.invoke(app, ["keys", "list", "--data-dir", str(settings.data_dir)]).exit_code == 0


def test_a_database_a_newer_build_migrated_is_refused(settings):
    seed(settings)

    async def upgraded_by_a_newer_build() -> None:
        db = settings.database()
        await db.open()
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES ('m999_from_the_future', '2027-01-01T00:00:00Z')"
            )
        await db.close()

    asyncio.run(upgraded_by_a_newer_build())
    with pytest.raises(Misconfigured, match=r"upgraded by a newer memory-server \(its schema has m999_from_the_futu"):
        asyncio.run(MemoryService.open(settings))
    for command in (["keys", "list"], ["export", "--user", "ana"]):
        result = runner.invoke(app, [*command, "--data-dir", str(settings.data_dir)])
        assert result.exit_code == 1, result.output
        assert "run that build or a newer one, or restore the backup taken before the upgrade" in result.output
