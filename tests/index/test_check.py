"""`memory-server check`: the vector index verified against SQLite, and repaired by replaying the outbox."""

from __future__ import annotations

import asyncio
import json

import numpy as np
from typer.testing import CliRunner

from memory_server.cli import app as cli_app
from memory_server.context import Scope
from memory_server.schemas import FactIn, InteractionIn
from memory_server.service import MemoryService
from memory_server.store import chores as choresql
from memory_server.store.vectors import IndexEntry
from tests.conftest import index_users

runner = CliRunner()


def _damage(settings) -> dict[str, str]:
    """Three facts, then the index loses one, keeps a stray and holds one under the wrong user."""

    async def run() -> dict[str, str]:
        service = await MemoryService.open(settings)
        scope = Scope(settings.tenant, "test")
        try:
            ids = []
            for text in ("User keeps bees", "User owns a boat", "User is a nurse"):
                fact = (await service.add_fact(scope, FactIn(user_id="ana", content=text))).fact
                ids.append(fact.id)
            await index_users(service, settings.tenant, "ana")
            assert (await service.check_index()).consistent
            index = service.core.index
            await index.delete([ids[0]])
            stray = IndexEntry("not-a-fact", settings.tenant, "ana", "static", np.ones(384, np.float32) / np.sqrt(384))
            moved = next(e for e in await index.scan(0, 10) if e.id == ids[1])
            await index.upsert([stray, IndexEntry(moved.id, moved.tenant_id, "bea", moved.kind, moved.vector)])
            return {"missing": ids[0], "orphan": "not-a-fact", "stale": ids[1]}
        finally:
            await service.close()

    return asyncio.run(run())


def _check(settings, *extra: str):
    return runner.invoke(cli_app, ["check", *extra, "--data-dir", str(settings.data_dir)])


def test_check_finds_missing_orphan_and_stale_vectors_and_repair_fixes_them(settings):
    damaged = _damage(settings)
    result = _check(settings)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["live_facts"], report["indexed"]) == (3, 3)
    assert {k: report[k] for k in ("missing", "orphan", "stale", "pending")} == {
        "missing": 1,
        "orphan": 1,
        "stale": 1,
        "pending": 0,
    }
    assert {name: ids[0] for name, ids in report["examples"].items()} == damaged
    assert "check --repair" in result.output

    repaired = _check(settings, "--repair")
    assert repaired.exit_code == 0, repaired.output
    after = json.loads(repaired.stdout)
    assert (after["missing"], after["orphan"], after["stale"], after["repaired"]) == (0, 0, 0, 3)
    assert (after["live_facts"], after["indexed"]) == (3, 3)

    again = _check(settings)
    assert again.exit_code == 0 and json.loads(again.stdout)["indexed"] == 3


def test_check_covers_the_episodes_index(settings):
    async def damage() -> str:
        service = await MemoryService.open(settings)
        try:
            body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": t} for t in ("hi", "my cat")])
            await service.ingest(Scope(settings.tenant, "test"), body)
            await index_users(service, settings.tenant, "ana")
            [first, _] = await service.core.episodes.scan(0, 10)
            await service.core.episodes.delete([first.id])
            return first.id
        finally:
            await service.close()

    gone = asyncio.run(damage())
    report = json.loads(_check(settings).stdout)
    assert report["episodes"]["missing"] == 1 and report["episodes"]["examples"] == {"missing": [gone]}
    assert (report["episodes"]["embedded"], report["episodes"]["indexed"]) == (2, 1)
    repaired = json.loads(_check(settings, "--repair").stdout)
    assert repaired["episodes"]["missing"] == 0 and repaired["episodes"]["indexed"] == 2 and repaired["repaired"] == 1


def test_entries_of_users_the_index_does_not_hold_are_orphans_that_repair_drops(settings):
    """An index made before only large users were indexed holds everyone; here nobody is large enough."""

    async def upgrade() -> None:
        service = await MemoryService.open(settings)
        scope = Scope(settings.tenant, "test")
        try:
            vector = np.ones(384, np.float32) / np.sqrt(384)
            for user_id, text in (("ana", "User keeps bees"), ("bob", "User owns a boat")):
                fact = (await service.add_fact(scope, FactIn(user_id=user_id, content=text))).fact
                await service.core.index.upsert([IndexEntry(fact.id, settings.tenant, user_id, "static", vector)])
        finally:
            await service.close()

    asyncio.run(upgrade())
    report = json.loads(_check(settings).stdout)
    assert (report["live_facts"], report["indexed"], report["orphan"]) == (0, 2, 2)
    repaired = json.loads(_check(settings, "--repair").stdout)
    assert (repaired["orphan"], repaired["indexed"], repaired["repaired"]) == (0, 0, 2)


def test_a_start_after_an_upgrade_from_before_m017_drops_the_entries_of_users_the_index_does_not_serve(settings):
    """Such an index held everyone while m017 started `indexed_users` empty: a purge left a user's vectors in it."""
    vector = np.ones(384, np.float32) / np.sqrt(384)

    async def as_before_m017() -> None:
        service = await MemoryService.open(settings)
        try:
            assert not await choresql.pending(service.core.db, choresql.DROP_UNINDEXED_USERS)  # a new database
            fact = (await service.add_fact(Scope(settings.tenant, "test"), FactIn(user_id="ana", content="x"))).fact
            await service.core.index.upsert([IndexEntry(fact.id, settings.tenant, "ana", "static", vector)])
            async with service.core.db.transaction() as conn:  # m017 came after the data, m025 not yet
                await conn.execute(
                    "UPDATE _migrations SET applied_at = '9999-01-01T00:00:00Z' WHERE name = 'm017_indexed_users'"
                )
                await conn.execute("DELETE FROM _migrations WHERE name = 'm025_chores'")
                await conn.execute("DROP TABLE chores")
        finally:
            await service.close()

    async def upgraded() -> tuple[int, bool]:
        service = await MemoryService.open(settings)
        try:
            return len(await service.core.index.scan(0, 10)), await choresql.pending(
                service.core.db, choresql.DROP_UNINDEXED_USERS
            )
        finally:
            await service.close()

    asyncio.run(as_before_m017())
    assert asyncio.run(upgraded()) == (0, False)
