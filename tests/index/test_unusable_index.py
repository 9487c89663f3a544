"""An embedded index Chroma cannot read (its file overwritten or cut short): writes and searches go on from the
database, a start and `check` say to run `reindex`, and `reindex` builds a new index by itself."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from typer.testing import CliRunner

from memory_server.cli import app as cli_app
from memory_server.config import SearchSettings
from memory_server.context import Scope
from memory_server.index.chroma import IndexUnavailable
from memory_server.schemas import FactIn, InteractionIn, SearchIn
from memory_server.service import MemoryService
from memory_server.store import vectors
from tests.conftest import index_users

runner = CliRunner()

FACTS = ["User keeps bees", "User owns a boat", "User plays the cello", "User speaks Finnish"]
SAID = ["talking about the weather again", "more weather today", "still the weather", "I planted tulips in May"]


def _small_limit(settings):
    """Users above three facts or episodes go through the index."""
    return settings.model_copy(update={"search": SearchSettings(exact_max_facts=3)})


def _corrupt(settings) -> None:
    """As QA did: the first 4 KB of Chroma's SQLite file overwritten with garbage."""
    with (settings.chroma_path / "chroma.sqlite3").open("r+b") as f:
        f.write(bytes(range(256)) * 16)


async def _seed(service: MemoryService) -> None:
    """A user the index serves, facts and episodes."""
    scope = Scope(service.core.settings.tenant, "test")
    for text in FACTS:
        await service.add_fact(scope, FactIn(user_id="ana", content=text))
    body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": t} for t in SAID], wait=True)
    await service.ingest(scope, body)
    await index_users(service, scope.tenant_id, "ana")
    assert (await service.check_index()).consistent


async def _indexed_then_corrupt(settings) -> None:
    service = await MemoryService.open(settings)
    try:
        await _seed(service)
        _corrupt(settings)
    finally:
        await service.close()


async def test_writes_jobs_and_searches_go_on_from_the_database_while_the_index_cannot_be_read(settings, caplog):
    settings = _small_limit(settings)
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(settings)
    try:
        await _seed(service)
        _corrupt(settings)

        added = await service.add_fact(scope, FactIn(user_id="ana", content="User is a nurse"))
        assert await vectors.pending(service.core.db) > 0  # its index operation waits for an index that works
        await service.core.vectors.flush()  # as the workers' tick retries it: logged once a minute, not each time
        assert [r.levelname for r in caplog.records if "stay queued until the index" in r.message] == ["ERROR"]
        await service.start()  # the extraction workers
        body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I have a cat called Tom"}])
        queued, _ = await service.ingest(scope, body)
        await service.wait(scope, queued.request_id)
        job = await service.request(scope, queued.request_id)
        assert (job.status, job.error) == ("done", None)  # its changes applied, the index notwithstanding
        assert job.changes is not None and job.changes.added

        found = await service.search(scope, SearchIn(user_id="ana", query="works in a hospital", types=["facts"]))
        assert found.results[0].id == added.fact.id  # scored exactly, the fact the index never got included
        found = await service.search(scope, SearchIn(user_id="ana", query="tulips", types=["episodes"], top_k=1))
        assert [r.content for r in found.results] == ["I planted tulips in May"]
        await service.search(scope, SearchIn(user_id="ana", query="works in a hospital", types=["facts"]))
        exact = [r for r in caplog.records if "scored exactly, without the index" in r.message]
        assert len(exact) == 2  # once for each index (facts, episodes), not once per search
    finally:
        await service.close()


async def test_a_start_on_an_index_that_cannot_be_read_says_to_run_reindex(settings):
    settings = _small_limit(settings)
    await _indexed_then_corrupt(settings)
    with pytest.raises(IndexUnavailable, match=r"cannot be used .*run `memory-server reindex`"):
        await MemoryService.open(settings)


def _cli(settings, *command: str):
    return runner.invoke(cli_app, [*command, "--data-dir", str(settings.data_dir)])


def test_check_reports_an_unreadable_index_and_reindex_builds_a_new_one(settings, monkeypatch, caplog):
    monkeypatch.setenv("MEMORY_SERVER_SEARCH__EXACT_MAX_FACTS", "3")
    asyncio.run(_indexed_then_corrupt(_small_limit(settings)))

    checked = _cli(settings, "check")
    assert checked.exit_code == 1 and isinstance(checked.exception, SystemExit)  # a message, no traceback
    assert "cannot be used" in checked.output and "run `memory-server reindex`" in checked.output

    with caplog.at_level(logging.WARNING):
        rebuilt = _cli(settings, "reindex")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "reindexed: 8 live facts and messages searchable" in rebuilt.output
    [moved] = settings.data_dir.glob("chroma.unusable-*")
    assert f"moved it to {moved}; building a new one from the database" in caplog.text
    assert (moved / "chroma.sqlite3").exists()  # kept, for a look

    after = _cli(settings, "check")
    assert after.exit_code == 0, after.output
    report = json.loads(after.stdout)
    assert (report["live_facts"], report["indexed"], report["episodes"]["indexed"]) == (4, 4, 4)
