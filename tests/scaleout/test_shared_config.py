"""Processes sharing a PostgreSQL database see each other's extraction-config updates at once (each process is a
ConfigStore on a PostgresDatabase of its own here)."""

from __future__ import annotations

import pytest

from memory_server.config import ExtractionConfig
from memory_server.configstore import ConfigStore
from memory_server.store.postgres import PostgresDatabase
from tests import postgres

pytestmark = pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")


async def test_a_config_update_in_one_process_is_active_in_another_that_had_cached_the_old_one(storage_url):
    first, second = PostgresDatabase(storage_url), PostgresDatabase(storage_url)
    await first.open()
    await second.open()
    try:
        here, there = ConfigStore(first, ExtractionConfig()), ConfigStore(second, ExtractionConfig())
        version, config = await here.active("acme")
        assert (version, config.min_confidence) == (0, 0.0)
        await there.update("acme", "admin:test", {"min_confidence": 0.4}, lambda _: None)
        version, config = await here.active("acme")
        assert (version, config.min_confidence) == (1, 0.4)
        assert await here.active("other") == (0, ExtractionConfig())  # another tenant keeps its own
    finally:
        await first.close()
        await second.close()
