"""A PostgreSQL connection cut while the process lives (the server restarted, an idle timeout, an operator's
`pg_terminate_backend`): the session connects again and keeps its locks, reads go on, a write that met the cut
is a 503 the caller can retry, and nothing needs a restart."""

from __future__ import annotations

import psycopg
import pytest

from memory_server.errors import Unavailable
from memory_server.store import pg_session
from memory_server.store import postgres as pg
from memory_server.store.postgres import PostgresDatabase
from tests import postgres

pytestmark = pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")


@pytest.fixture
async def db(storage_url):
    opened = PostgresDatabase(storage_url)
    await opened.open()
    yield opened
    await opened.close()


def cut(url: str, application: str) -> int:
    """End this database's connections of `application`, as a restart would; how many there were."""
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s",
            (application,),
        ).fetchall()
    return len(rows)


def held_elsewhere(url: str, key: str) -> bool:
    with psycopg.connect(url, autocommit=True) as other:
        taken = other.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[0]
        return not taken


async def test_the_session_connects_again_and_takes_back_the_locks_it_held(db, storage_url):
    assert await db.hold("job:one")
    assert cut(storage_url, pg_session.APPLICATION) == 1
    assert await db.hold("job:two")  # on a new connection, which took job:one back first
    assert held_elsewhere(storage_url, "job:one") and held_elsewhere(storage_url, "job:two")
    await db.release("job:one")
    assert not held_elsewhere(storage_url, "job:one")
    async with db.exclusive("user:t:ana"):
        assert held_elsewhere(storage_url, "user:t:ana")


async def test_reads_go_on_and_a_write_that_met_the_cut_is_a_503(db, storage_url):
    assert [r["one"] for r in await db.fetchall("SELECT 1 AS one")] == [1]
    assert cut(storage_url, pg.APPLICATION) >= 1
    assert [r["two"] for r in await db.fetchall("SELECT 2 AS two")] == [2]  # again, on a new connection

    assert await db.fetchall("SELECT 1 AS one")
    cut(storage_url, pg.APPLICATION)
    with pytest.raises(Unavailable, match="is unreachable"):
        async with db.transaction() as conn:
            await conn.execute("SELECT 1")
    async with db.transaction() as conn:  # the next one gets a live connection
        assert [r["three"] for r in await conn.execute_fetchall("SELECT 3 AS three")] == [3]


async def test_an_error_of_the_statement_itself_is_not_called_unreachable(db):
    with pytest.raises(psycopg.errors.UndefinedTable):
        await db.fetchall("SELECT * FROM no_such_table")


async def test_a_lock_another_process_took_while_the_session_was_cut_is_no_longer_held(db, storage_url):
    assert await db.hold("job:lost") and await db.hold("job:kept")
    assert cut(storage_url, pg_session.APPLICATION) == 1
    with psycopg.connect(storage_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('job:lost', 0))")  # waits for the cut to end
        assert db.holds("job:lost")  # not found out until the session is used again
        async with db.exclusive("user:t:ana"):
            assert not db.holds("job:lost") and db.holds("job:kept")
