"""SQL for `api_keys`: sha256 hashes of keys, with their tenant, role and project limit. Revoked keys are kept."""

from __future__ import annotations

from memory_server import timeutil
from memory_server.models import ApiKey, KeyState
from memory_server.store.db import Connection, Database, Row

_COLUMNS = "id, tenant_id, role, name, prefix, created_at, revoked_at, project_id"


def _key(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        role=row["role"],
        project_id=row["project_id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=timeutil.from_db(row["created_at"]),
        revoked_at=timeutil.from_db(row["revoked_at"]),
    )


async def insert(conn: Connection, key: ApiKey, secret_hash: str) -> None:
    await conn.execute(
        "INSERT INTO api_keys (id, tenant_id, role, name, prefix, secret_hash, created_at, project_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key.id,
            key.tenant_id,
            key.role,
            key.name,
            key.prefix,
            secret_hash,
            timeutil.to_db(key.created_at),
            key.project_id,
        ),
    )


async def listed(db: Database, tenant_id: str | None = None) -> list[ApiKey]:
    where, params = ("WHERE tenant_id = ?", (tenant_id,)) if tenant_id else ("", ())
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at", params)
    return [_key(r) for r in rows]


async def revoke(conn: Connection, key_id: str, tenant_id: str | None, at: str) -> tuple[ApiKey | None, bool]:
    """The key (None if unknown, or another tenant's) and whether this call revoked it."""
    tenant_clause, params = (" AND tenant_id = ?", (tenant_id,)) if tenant_id else ("", ())
    cur = await conn.execute(
        f"UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL{tenant_clause}",
        (at, key_id, *params),
    )
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?{tenant_clause}", (key_id, *params)
    )
    return (_key(rows[0]) if rows else None), cur.rowcount > 0


async def any_active(conn: Connection) -> bool:
    return bool(await conn.execute_fetchall("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1"))


async def state(db: Database) -> KeyState:
    """Whether keys are required: one aggregate over the (small) keys table."""
    row = await db.lookup("SELECT max(CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END) AS active FROM api_keys")
    if row is None or row["active"] is None:
        return "never"
    return "active" if row["active"] else "revoked"


async def live_by_hash(db: Database, secret_hash: str) -> ApiKey | None:
    row = await db.lookup(
        f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL", (secret_hash,)
    )
    return None if row is None else _key(row)


async def live_by_id(db: Database, key_id: str) -> ApiKey | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,))
    return None if row is None else _key(row)
