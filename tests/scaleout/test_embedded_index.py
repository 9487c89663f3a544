"""Processes sharing a PostgreSQL database need one Chroma server: a second embedded index is refused, and so
is an embedded index beside processes on a Chroma server (either way round)."""

from __future__ import annotations

import pytest

from memory_server.config import Settings, WorkerSettings
from memory_server.errors import Misconfigured
from memory_server.service import MemoryService
from tests import postgres

pytestmark = pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")


def on(storage_url: str, data_dir, index_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        storage={"url": storage_url},
        index={"url": index_url},
        workers=WorkerSettings(poll_seconds=0.05),
    )


async def test_a_second_process_with_its_own_embedded_index_is_refused_until_the_first_closes(storage_url, tmp_path):
    first = await MemoryService.open(on(storage_url, tmp_path / "one"))
    try:
        with pytest.raises(Misconfigured) as refused:
            await MemoryService.open(on(storage_url, tmp_path / "two"))
        assert refused.value.field == "index.url"
        assert "other processes already serve this database" in refused.value.message
    finally:
        await first.close()
    second = await MemoryService.open(on(storage_url, tmp_path / "two"))  # the first one's hold ended with it
    await second.close()


async def test_an_embedded_index_is_refused_beside_processes_on_a_chroma_server_and_the_reverse(
    storage_url, tmp_path, chroma
):
    first = await MemoryService.open(on(storage_url, tmp_path / "one", chroma))
    second = await MemoryService.open(on(storage_url, tmp_path / "two", chroma))  # the same server: welcome
    try:
        with pytest.raises(Misconfigured, match="other processes already serve this database"):
            await MemoryService.open(on(storage_url, tmp_path / "three"))
    finally:
        await first.close()
        await second.close()
    alone = await MemoryService.open(on(storage_url, tmp_path / "three"))
    try:
        with pytest.raises(Misconfigured, match="a process already serves this database with its own embedded index"):
            await MemoryService.open(on(storage_url, tmp_path / "four", chroma))
    finally:
        await alone.close()
