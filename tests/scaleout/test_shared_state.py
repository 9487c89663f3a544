"""What a process keeps in memory follows what other processes sharing its PostgreSQL database write: extraction
config updates, purges (another process is a PostgresDatabase of its own here)."""

from __future__ import annotations

import asyncio

import pytest

from memory_server import configstore, timeutil
from memory_server.config import ExtractionConfig
from memory_server.configstore import ConfigStore
from memory_server.context import Scope
from memory_server.schemas import FactIn, ProfileIn, RetrievalFilter
from memory_server.service import MemoryService
from memory_server.store import changelog as changesql
from memory_server.store.changelog import ChangeEvent
from memory_server.store.postgres import PostgresDatabase
from tests import postgres

pytestmark = pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")


async def test_a_config_update_in_one_process_is_active_in_another_that_had_cached_the_old_one(
    storage_url, monkeypatch
):
    monkeypatch.setattr(configstore, "RECHECK_SECONDS", 0.05)
    first, second = PostgresDatabase(storage_url), PostgresDatabase(storage_url)
    await first.open()
    await second.open()
    try:
        here, there = ConfigStore(first, ExtractionConfig()), ConfigStore(second, ExtractionConfig())
        version, config = await here.active("acme")
        assert (version, config.min_confidence) == (0, 0.0)
        await there.update("acme", "admin:test", {"min_confidence": 0.4}, lambda _: None)
        await asyncio.sleep(0.1)
        version, config = await here.active("acme")
        assert (version, config.min_confidence) == (1, 0.4)
        assert await here.active("other") == (0, ExtractionConfig())  # another tenant keeps its own
    finally:
        await first.close()
        await second.close()


async def test_a_purge_in_another_process_drops_the_user_s_entries_this_process_had_not_written_yet(settings):
    service = await MemoryService.open(settings)
    other = PostgresDatabase(settings.storage.url)
    await other.open()
    scope = Scope(settings.tenant, "test", "admin")
    try:
        for user in ("ana", "bob"):
            await service.add_fact(scope, FactIn(user_id=user, content=f"User {user} is a nurse"))
            await service.profile(scope, ProfileIn(user_id=user))  # buffered, not written yet
        async with other.transaction() as conn:  # what a purge of ana elsewhere writes in the change log
            await changesql.record(conn, ChangeEvent("purge", scope.space, "ana", "key:other", timeutil.now()))
        await service.profile(scope, ProfileIn(user_id="ana"))  # asked again after the purge
        assert await service.retrievals.flush() == 2  # bob's, and ana's made after the purge

        def logged(user):
            return service.retrievals.page(scope, user, RetrievalFilter())

        assert len((await logged("bob")).items) == 1
        assert len((await logged("ana")).items) == 1  # the one made after the purge
    finally:
        await other.close()
        await service.close()
