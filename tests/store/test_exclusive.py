"""`Database.exclusive` on PostgreSQL: one holder of a key across processes (each process is a PostgresDatabase
of its own here), without keeping a pooled connection, and never left held by a cancelled task."""

from __future__ import annotations

import asyncio

import pytest

from memory_server.context import Scope
from memory_server.schemas import FactIn
from memory_server.service import MemoryService
from memory_server.store.postgres import PostgresDatabase
from tests import postgres

pytestmark = pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")


@pytest.fixture
async def two(storage_url):
    """Two processes' views of one database."""
    first, second = PostgresDatabase(storage_url), PostgresDatabase(storage_url)
    await first.open()
    await second.open()
    yield first, second
    await first.close()
    await second.close()


async def entered(db: PostgresDatabase, key: str, inside: asyncio.Event, leave: asyncio.Event) -> None:
    async with db.exclusive(key):
        inside.set()
        await leave.wait()


async def test_a_key_held_by_one_process_waits_in_another_until_released(two):
    first, second = two
    first_in, second_in, bob_in, leave, leave_bob = (asyncio.Event() for _ in range(5))
    holder = asyncio.create_task(entered(first, "user:t:ana", first_in, leave))
    await asyncio.wait_for(first_in.wait(), 5)
    waiter = asyncio.create_task(entered(second, "user:t:ana", second_in, asyncio.Event()))
    other = asyncio.create_task(entered(second, "user:t:bob", bob_in, leave_bob))
    await asyncio.wait_for(bob_in.wait(), 5)  # another key is free meanwhile
    await asyncio.sleep(0.3)
    assert not second_in.is_set()
    leave.set()
    await holder
    await asyncio.wait_for(second_in.wait(), 5)
    waiter.cancel()
    leave_bob.set()
    await other


async def test_a_holder_keeps_no_pooled_connection(storage_url):
    db = PostgresDatabase(storage_url, pool_size=1)
    await db.open()
    try:

        async def read_inside(key: str) -> int:
            async with db.exclusive(key):
                row = await db.fetchone("SELECT 1 AS one")
                await asyncio.sleep(0.05)
                return row["one"]

        assert await asyncio.wait_for(asyncio.gather(read_inside("a"), read_inside("b")), 10) == [1, 1]
    finally:
        await db.close()


async def test_a_cancelled_holder_or_waiter_leaves_the_key_free(two):
    first, second = two
    inside, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(entered(first, "k", inside, leave))
    await asyncio.wait_for(inside.wait(), 5)
    waiters = [asyncio.create_task(entered(first, "k", asyncio.Event(), leave)) for _ in range(3)]
    waiters.append(asyncio.create_task(entered(second, "k", asyncio.Event(), leave)))
    await asyncio.sleep(0.1)
    for task in [holder, *waiters]:
        task.cancel()
    await asyncio.gather(holder, *waiters, return_exceptions=True)
    again = asyncio.Event()
    task = asyncio.create_task(entered(second, "k", again, asyncio.Event()))
    await asyncio.wait_for(again.wait(), 5)
    task.cancel()


async def test_a_write_to_a_user_waits_for_another_process_writing_to_that_user(settings, storage_url):
    service = await MemoryService.open(settings)
    other = PostgresDatabase(storage_url)
    await other.open()
    scope = Scope("default", "test", "admin")
    try:
        inside, leave = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(entered(other, f"user:{scope.space}:ana", inside, leave))
        await asyncio.wait_for(inside.wait(), 5)
        write = asyncio.create_task(service.add_fact(scope, FactIn(user_id="ana", content="User is a nurse")))
        bob = await service.add_fact(scope, FactIn(user_id="bob", content="User is a pilot"))
        assert bob.fact.content == "User is a pilot"
        await asyncio.sleep(0.3)
        assert not write.done()
        leave.set()
        await holder
        stated = await asyncio.wait_for(write, 10)
        assert stated.fact.content == "User is a nurse"
    finally:
        await other.close()
        await service.close()
