"""A fresh PostgreSQL database per test, when the suite runs against PostgreSQL.

`MEMORY_SERVER_TEST_POSTGRES` names a server and a database to administer it from (`postgresql://user@host:port/
postgres`); unset, the suite runs on SQLite. A database migrated once at the start of the session is the template of
every test's own (`CREATE DATABASE … TEMPLATE`, a file copy), which is dropped after the test.
"""

from __future__ import annotations

import asyncio
import os
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


def make_template() -> None:
    """Migrate the template database; run once before any test, outside any event loop."""
    global _made_template
    from memory_server.store.postgres import PostgresDatabase

    _admin(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)")
    _admin(f"CREATE DATABASE {_TEMPLATE}")

    async def migrated() -> None:
        db = PostgresDatabase(_url(_TEMPLATE))
        await db.open()
        await db.close()

    asyncio.run(migrated())
    _made_template = True


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new migrated database, dropped afterwards."""
    assert _made_template, "tests.postgres.make_template() runs at the start of the session (tests/conftest.py)"
    name = f"memory_test_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    try:
        yield _url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def empty_database() -> Iterator[str]:
    """The URL of a new database with no schema yet, dropped afterwards. Named `mig_…`, the names tests may create
    on a shared development server besides the `memory_…` ones above."""
    name = f"mig_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name}")
    try:
        yield _url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def drop_template() -> None:
    if _made_template:
        _admin(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)")
