"""A fresh PostgreSQL database per test, when the suite runs against PostgreSQL.

`MEMORY_SERVER_TEST_POSTGRES` names a server and a database to administer it from (`postgresql://user@host:port/
postgres`); unset, the suite runs on SQLite. The first database is migrated once and used as the template of
every test's own (`CREATE DATABASE … TEMPLATE`, a file copy), which is dropped after the test.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

ADMIN_URL = os.environ.get("MEMORY_SERVER_TEST_POSTGRES")
_TEMPLATE = f"memory_template_{os.getpid()}"
_made_template = False


def _url(name: str) -> str:
    assert ADMIN_URL is not None
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _template() -> str:
    global _made_template
    if not _made_template:
        from memory_server.store.postgres import PostgresDatabase

        _admin(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)")
        _admin(f"CREATE DATABASE {_TEMPLATE}")

        async def migrated() -> None:
            db = PostgresDatabase(_url(_TEMPLATE))
            await db.open()
            await db.close()

        _in_thread(migrated)
        _made_template = True
    return _TEMPLATE


def _in_thread(coroutine_function) -> None:
    """Run it on a loop of its own: the caller may be inside a test's running loop."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine_function())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new migrated database, dropped afterwards."""
    name = f"memory_test_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {_template()}")
    try:
        yield _url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def drop_template() -> None:
    if _made_template:
        _admin(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)")
