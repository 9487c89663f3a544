"""What a process keeps in memory follows what other processes sharing its PostgreSQL database write: extraction
config updates, purges (another process is a PostgresDatabase of its own here)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from memory_server import configstore, timeutil
from memory_server.config import ExtractionConfig
from memory_server.configstore import ConfigStore
from memory_server.context import Scope
from memory_server.schemas import FactIn, InteractionIn, ProfileIn, RetrievalFilter
from memory_server.service import MemoryService
from memory_server.store import changelog as changesql
from memory_server.store import jobs as jobsql
from memory_server.store import revision_feed, user_revisions
from memory_server.store.changelog import ChangeEvent
from memory_server.store.postgres import PostgresDatabase
from tests import postgres

pytestmark = pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")


async def _accept(conn, config) -> None:
    """A config check that refuses nothing."""


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
        await there.update("acme", "admin:test", {"min_confidence": 0.4}, _accept)
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


async def _until(condition, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the time allowed")


def _counting_revision_reads(monkeypatch) -> list[tuple[str, str]]:
    reads: list[tuple[str, str]] = []
    real = user_revisions.get

    async def get(db, tenant_id, user_id):
        reads.append((tenant_id, user_id))
        return await real(db, tenant_id, user_id)

    monkeypatch.setattr(user_revisions, "get", get)
    return reads


async def _contents(service: MemoryService, scope: Scope, user: str = "ana") -> list[str]:
    answer = json.loads(await service.profile_json(scope, ProfileIn(user_id=user), "req"))
    return [f["content"] for part in ("static", "dynamic") for f in answer["profile"][part]]


@asynccontextmanager
async def _serving_beside_another_process(settings) -> AsyncIterator[tuple[MemoryService, PostgresDatabase, Scope]]:
    """A service that knows ana lives in Lisbon, and another process's connection to its database."""
    other = PostgresDatabase(settings.storage.url)
    await other.open()
    try:
        async with MemoryService.running(settings, listening=False) as service:
            scope = Scope(settings.tenant, "test", "admin")
            await service.add_fact(scope, FactIn(user_id="ana", content="User lives in Lisbon"))
            yield service, other, scope
    finally:
        await other.close()


async def test_a_kept_profile_is_served_without_a_database_read_until_another_process_writes_the_user(
    settings, monkeypatch
):
    async with _serving_beside_another_process(settings) as (service, other, scope):
        await service.add_fact(scope, FactIn(user_id="bob", content="User lives in Oslo"))
        reads = _counting_revision_reads(monkeypatch)
        assert await _contents(service, scope) == ["User lives in Lisbon"]
        await _until(service.profile_cache._feed.caught_up)
        assert await _contents(service, scope) == ["User lives in Lisbon"]
        assert await _contents(service, scope) == ["User lives in Lisbon"]
        assert reads == [(scope.space, "ana")], "a kept answer the feed vouches for was checked again"

        async with other.transaction() as conn:  # another process rewrites ana's fact
            await conn.execute("UPDATE facts SET content = 'User lives in Porto' WHERE user_id = 'ana'")
        await _until(lambda: (scope.space, "ana") not in service.profile_cache._entries)
        assert await _contents(service, scope) == ["User lives in Porto"]
        assert await _contents(service, scope, "bob") == ["User lives in Oslo"]
        assert await _contents(service, scope, "bob") == ["User lives in Oslo"]
        assert reads.count((scope.space, "bob")) == 1  # bob's entry was left alone


async def test_while_the_feed_is_down_every_kept_profile_is_checked_against_the_database(settings, monkeypatch):
    monkeypatch.setattr(revision_feed, "RETRY_SECONDS", (0.3, 0.3))
    async with _serving_beside_another_process(settings) as (service, other, scope):
        assert await _contents(service, scope) == ["User lives in Lisbon"]
        feed = service.profile_cache._feed  # followed from the first profile asked
        first, losses = feed.epoch, revision_feed.LOSSES._value.get()
        rows = await other.fetchall(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ? "
            "AND datname = current_database()",
            (revision_feed.APPLICATION,),
        )
        assert len(rows) == 1
        await _until(lambda: feed.epoch is None)
        assert revision_feed.LOSSES._value.get() == losses + 1

        async with other.transaction() as conn:  # not told to anyone: nobody listens
            await conn.execute("UPDATE facts SET content = 'User lives in Porto' WHERE user_id = 'ana'")
        reads = _counting_revision_reads(monkeypatch)
        assert await _contents(service, scope) == ["User lives in Porto"]
        assert await _contents(service, scope) == ["User lives in Porto"]
        assert len(reads) == 2

        await _until(lambda: feed.epoch is not None)  # listening again: a kept answer is vouched for anew
        assert feed.epoch != first
        assert await _contents(service, scope) == ["User lives in Porto"]
        assert await _contents(service, scope) == ["User lives in Porto"]
        assert len(reads) == 3


async def test_a_mark_that_never_came_back_holds_the_feed_back_only_until_its_heartbeat(storage_url, monkeypatch):
    monkeypatch.setattr(revision_feed, "HEARTBEAT_SECONDS", 0.2)
    db = PostgresDatabase(storage_url)
    await db.open()
    try:
        told: list[tuple[str, str]] = []
        feed = await db.follow(lambda space, user: told.append((space, user)))
        assert feed.caught_up()
        _, number = feed.mark()
        feed.sent(number)  # as if its transaction committed while the feed was not listening
        assert not feed.caught_up()
        await _until(feed.caught_up, seconds=2)
        sent: list[int] = []
        monkeypatch.setattr(feed, "sent", lambda number, told=feed.sent: sent.append(number) or told(number))
        async with db.transaction() as conn:  # a transaction that revises nobody is not marked
            await conn.execute("SELECT count(*) FROM jobs")
        assert sent == [] and feed.caught_up()
        async with db.transaction() as conn:  # and news still flows: what every fact trigger calls
            await conn.execute("SELECT user_revised('acme', 'ana')")
        assert len(sent) == 1
        await _until(lambda: told == [("acme", "ana")] and feed.caught_up())
    finally:
        await db.close()


class _Relay:
    """A TCP relay to PostgreSQL whose connections so far can be made to go silent without closing, as behind a
    network partition; connections opened later pass."""

    def __init__(self, url: str) -> None:
        self.target = conninfo_to_dict(url)
        self.pumps: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        """Listen; the URL to connect through it."""
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return make_conninfo(**{**self.target, "host": "127.0.0.1", "port": str(port)})

    async def close(self) -> None:
        self.server.close()
        self.silence()
        for writer in self.writers:
            writer.close()

    def silence(self) -> None:
        """Stop passing bytes on every connection open now; neither end is told."""
        for pump in self.pumps:
            pump.cancel()
        self.pumps = set()

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection(self.target["host"], int(self.target["port"]))
        self.writers += [client_out, server_out]
        for source, sink in ((client_in, server_out), (server_in, client_out)):
            self.pumps.add(asyncio.create_task(self._pump(source, sink)))

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
        sink.close()


async def test_a_connection_gone_silent_is_vouched_for_no_longer_than_until_the_next_heartbeat(
    storage_url, monkeypatch
):
    """A network partition: every connection the process has stops answering, and none is closed."""
    monkeypatch.setattr(revision_feed, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(revision_feed, "ANSWER_SECONDS", 1.0)
    relay = _Relay(storage_url)
    db = PostgresDatabase(await relay.start())
    await db.open()
    try:
        feed = await db.follow(lambda space, user: None)
        first, losses = feed.epoch, revision_feed.LOSSES._value.get()
        await _until(feed.caught_up)
        relay.silence()
        await asyncio.sleep(0.3)  # a heartbeat was sent into the silence
        assert feed.epoch == first, "given up only once the heartbeat is overdue"
        assert not feed.caught_up()
        await _until(lambda: feed.epoch not in (None, first), seconds=5)  # given up, and listening anew
        assert revision_feed.LOSSES._value.get() == losses + 1
        await _until(feed.caught_up, seconds=5)  # the next heartbeat came back
    finally:
        await db.close()
        await relay.close()


async def test_a_job_seen_done_holds_the_feed_back_until_news_of_everything_committed_before_arrived(
    settings, monkeypatch
):
    """A job may have been run by another process (a worker): the server that reports it done must not serve a
    profile its feed has not yet been told is stale."""
    async with _serving_beside_another_process(settings) as (service, _, scope):
        said = InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I am a nurse"}])
        job, _ = await service.ingest(scope, said)
        await service.wait(scope, job.request_id)
        assert sorted(await _contents(service, scope)) == ["User is a nurse", "User lives in Lisbon"]
        feed = service.profile_cache._feed
        await _until(feed.caught_up)
        reads = _counting_revision_reads(monkeypatch)
        await _contents(service, scope)
        assert reads == [], "a kept answer the feed vouches for was checked again"

        real = feed._received
        monkeypatch.setattr(feed, "_received", lambda payload: None if payload.startswith(feed._me) else real(payload))
        assert (await service.request(scope, job.request_id)).status == "done"
        assert not feed.caught_up()
        await _contents(service, scope)
        assert reads == [(scope.space, "ana")], "served on the feed's word before its news caught up"

        monkeypatch.setattr(feed, "_received", real)
        await service.request(scope, job.request_id)
        await _until(feed.caught_up)
        await _contents(service, scope)
        assert len(reads) == 1  # the check confirmed the entry: trusted again once the news caught up


async def test_looking_for_orphaned_jobs_takes_no_write_lock_while_none_runs(storage_url, monkeypatch):
    db = PostgresDatabase(storage_url)
    await db.open()
    try:
        opened = []
        real = PostgresDatabase.transaction
        monkeypatch.setattr(PostgresDatabase, "transaction", lambda self: opened.append(1) or real(self))
        assert await jobsql.recover(db) == 0
        assert opened == []
    finally:
        await db.close()
