"""SQL for `config_versions`: the operator-edited extraction config, one row per version and tenant."""

from __future__ import annotations

import json
from datetime import datetime

from memory_server import timeutil
from memory_server.models import ConfigVersion
from memory_server.store.db import Connection, Database, Row

_COLUMNS = "version, body, actor, created_at"
_LATEST = f"SELECT {_COLUMNS} FROM config_versions WHERE tenant_id = ? ORDER BY version DESC LIMIT ?"


def _version(row: Row) -> ConfigVersion:
    return ConfigVersion(
        version=row["version"],
        config=json.loads(row["body"]),
        actor=row["actor"],
        created_at=timeutil.from_db(row["created_at"]),
    )


async def history(db: Database, tenant_id: str, limit: int) -> list[ConfigVersion]:
    """The newest `limit` versions, newest first."""
    return [_version(r) for r in await db.fetchall(_LATEST, (tenant_id, limit))]


async def latest_version(db: Database, tenant_id: str) -> int:
    """The newest version's number (0: only the settings file's)."""
    row = await db.fetchone("SELECT MAX(version) AS v FROM config_versions WHERE tenant_id = ?", (tenant_id,))
    return 0 if row is None or row["v"] is None else int(row["v"])


async def get(db: Database, tenant_id: str, version: int) -> ConfigVersion | None:
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM config_versions WHERE tenant_id = ? AND version = ?", (tenant_id, version)
    )
    return None if row is None else _version(row)


async def latest_in(conn: Connection, tenant_id: str) -> ConfigVersion | None:
    """The newest version, read inside the caller's transaction (so a read-modify-write loses no update)."""
    rows = await conn.execute_fetchall(_LATEST, (tenant_id, 1))
    return _version(rows[0]) if rows else None


async def insert(conn: Connection, tenant_id: str, version: int, body: str, actor: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO config_versions (tenant_id, version, body, actor, created_at) VALUES (?, ?, ?, ?, ?)",
        (tenant_id, version, body, actor, timeutil.to_db(at)),
    )
