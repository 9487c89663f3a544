"""API keys: who may call, for which tenant, with which role.

A key is a random secret shown once at creation; only its sha256 is stored (the secret has 256 bits of
entropy, so a slow password hash would add nothing). Keys are read from SQLite on every request, so a
key revoked from the CLI stops working at once, even while the server runs.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

import aiosqlite
from pydantic import BaseModel

from memory_server import timeutil
from memory_server.context import Role
from memory_server.db import Database
from memory_server.errors import NotFound

KEY_PREFIX = "msk_"
_COLUMNS = "id, tenant_id, role, name, prefix, created_at, revoked_at"


class ApiKey(BaseModel):
    id: str
    tenant_id: str
    role: Role
    name: str | None = None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


class NewApiKey(ApiKey):
    key: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: aiosqlite.Row) -> ApiKey:
    return ApiKey(
        id=row[0],
        tenant_id=row[1],
        role=row[2],
        name=row[3],
        prefix=row[4],
        created_at=timeutil.from_db(row[5]),
        revoked_at=timeutil.from_db(row[6]),
    )


async def create(db: Database, tenant_id: str, role: Role, name: str | None = None) -> NewApiKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = NewApiKey(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        role=role,
        name=name,
        prefix=secret[: len(KEY_PREFIX) + 6],
        created_at=timeutil.now(),
        key=secret,
    )
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO api_keys (id, tenant_id, role, name, prefix, secret_hash, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key.id, tenant_id, role, name, key.prefix, _hash(secret), timeutil.to_db(key.created_at)),
        )
    return key


async def listed(db: Database, tenant_id: str | None = None) -> list[ApiKey]:
    where, params = ("WHERE tenant_id = ?", (tenant_id,)) if tenant_id else ("", ())
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at", params)
    return [_key(r) for r in rows]


async def revoke(db: Database, key_id: str, tenant_id: str | None = None) -> ApiKey:
    """Revoke a key (of `tenant_id`, when given: another tenant's key reads as not found)."""
    tenant_clause, params = (" AND tenant_id = ?", (tenant_id,)) if tenant_id else ("", ())
    async with db.transaction() as conn:
        await conn.execute(
            f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?{tenant_clause}",
            (timeutil.to_db(timeutil.now()), key_id, *params),
        )
        rows = await conn.execute_fetchall(
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?{tenant_clause}", (key_id, *params)
        )
    if not rows:
        raise NotFound(f"key_id: no key {key_id}", field="key_id")
    return _key(rows[0])


async def any_active(db: Database) -> bool:
    return await db.fetchone("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1") is not None


async def authenticate(db: Database, secret: str) -> ApiKey | None:
    """The live key with this secret, or None."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL", (_hash(secret),)
    )
    return None if row is None else _key(row)
