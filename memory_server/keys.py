"""API keys: who may call, for which tenant, with which role.

A key is a random secret shown once at creation; only its sha256 is stored (the secret has 256 bits of
entropy, so a slow password hash would add nothing). Keys are read from SQLite on every request, so a
key revoked from the CLI stops working at once, even while the server runs.

Creating and revoking a key are change-log events of the key's tenant, written in the same transaction.
Revoked keys are never deleted: they are how a data directory remembers that it once required keys
(see `state`), so revoking the last one never reopens the server.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import datetime
from typing import Literal

import aiosqlite
from pydantic import BaseModel

from memory_server import changelog, timeutil
from memory_server.changelog import ChangeEvent
from memory_server.context import Role
from memory_server.db import Database
from memory_server.errors import NotFound

log = logging.getLogger(__name__)

KEY_PREFIX = "msk_"
#: never: no key was ever made (open mode on loopback); active: keys are required; revoked: every key was
#: revoked, and keys are still required (nobody gets in until an operator creates one or reopens on purpose).
KeyState = Literal["never", "active", "revoked"]
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


async def create(
    db: Database, tenant_id: str, role: Role, name: str | None = None, actor: str = "operator"
) -> NewApiKey:
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
        listed = ApiKey.model_validate(key.model_dump(exclude={"key"}))
        await changelog.record(conn, ChangeEvent("key_create", tenant_id, None, actor, key.created_at, after=listed))
    return key


async def listed(db: Database, tenant_id: str | None = None) -> list[ApiKey]:
    where, params = ("WHERE tenant_id = ?", (tenant_id,)) if tenant_id else ("", ())
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at", params)
    return [_key(r) for r in rows]


async def revoke(db: Database, key_id: str, tenant_id: str | None = None, actor: str = "operator") -> ApiKey:
    """Revoke a key (of `tenant_id`, when given: another tenant's key reads as not found).

    Revoking the server's last active key is logged and recorded as a `lockdown` event: from then on every
    request needs a key that an operator creates with the CLI.
    """
    tenant_clause, params = (" AND tenant_id = ?", (tenant_id,)) if tenant_id else ("", ())
    now = timeutil.now()
    async with db.transaction() as conn:
        cur = await conn.execute(
            f"UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL{tenant_clause}",
            (timeutil.to_db(now), key_id, *params),
        )
        rows = await conn.execute_fetchall(
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?{tenant_clause}", (key_id, *params)
        )
        if not rows:
            raise NotFound(f"key_id: no key {key_id}", field="key_id")
        key = _key(rows[0])
        if cur.rowcount:
            await changelog.record(conn, ChangeEvent("key_revoke", key.tenant_id, None, actor, now, after=key))
            left = await conn.execute_fetchall("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1")
            if not left:
                log.warning(
                    "the last active API key was revoked: every request now needs a key (create one with "
                    "`memory-server keys create`)"
                )
                await changelog.record(conn, ChangeEvent("lockdown", key.tenant_id, None, actor, now, before=key))
    return key


async def state(db: Database) -> KeyState:
    """Whether keys are required: one aggregate over the (small) keys table."""
    row = await db.fetchone("SELECT max(revoked_at IS NULL) FROM api_keys")
    if row is None or row[0] is None:
        return "never"
    return "active" if row[0] else "revoked"


async def record_open_mode(db: Database, tenant_id: str, actor: str) -> None:
    """An operator started the server without keys although it had some: say so in the change log."""
    async with db.transaction() as conn:
        await changelog.record(conn, ChangeEvent("open_mode", tenant_id, None, actor, timeutil.now()))


async def authenticate(db: Database, secret: str) -> ApiKey | None:
    """The live key with this secret, or None."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL", (_hash(secret),)
    )
    return None if row is None else _key(row)
