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

from memory_server import timeutil
from memory_server.errors import NotFound
from memory_server.models import ApiKey, KeyState, NewApiKey, Role
from memory_server.store import changelog as changesql
from memory_server.store import keys as keysql
from memory_server.store.changelog import ChangeEvent
from memory_server.store.db import Database

log = logging.getLogger(__name__)

KEY_PREFIX = "msk_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create(
    db: Database,
    tenant_id: str,
    role: Role,
    name: str | None = None,
    actor: str = "operator",
    project_id: int | None = None,
) -> NewApiKey:
    """A new key of `tenant_id`, limited to `project_id` when given (the caller checked the project exists)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = NewApiKey(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        role=role,
        project_id=project_id,
        name=name,
        prefix=secret[: len(KEY_PREFIX) + 6],
        created_at=timeutil.now(),
        key=secret,
    )
    listed = ApiKey.model_validate(key.model_dump(exclude={"key"}))
    async with db.transaction() as conn:
        await keysql.insert(conn, listed, _hash(secret))
        await changesql.record(conn, ChangeEvent("key_create", tenant_id, None, actor, key.created_at, after=listed))
    return key


async def listed(db: Database, tenant_id: str | None = None) -> list[ApiKey]:
    return await keysql.listed(db, tenant_id)


async def revoke(db: Database, key_id: str, tenant_id: str | None = None, actor: str = "operator") -> ApiKey:
    """Revoke a key (of `tenant_id`, when given: another tenant's key reads as not found).

    Revoking the server's last active key is logged and recorded as a `lockdown` event: from then on every
    request needs a key that an operator creates with the CLI.
    """
    now = timeutil.now()
    async with db.transaction() as conn:
        key, changed = await keysql.revoke(conn, key_id, tenant_id, timeutil.to_db(now))
        if key is None:
            raise NotFound(f"key_id: no key {key_id}", field="key_id")
        if changed:
            await changesql.record(conn, ChangeEvent("key_revoke", key.tenant_id, None, actor, now, after=key))
            if not await keysql.any_active(conn):
                log.warning(
                    "the last active API key was revoked: every request now needs a key (create one with "
                    "`memory-server keys create`)"
                )
                await changesql.record(conn, ChangeEvent("lockdown", key.tenant_id, None, actor, now, before=key))
    return key


async def state(db: Database) -> KeyState:
    return await keysql.state(db)


async def record_open_mode(db: Database, tenant_id: str, actor: str) -> None:
    """An operator started the server without keys although it had some: say so in the change log."""
    async with db.transaction() as conn:
        await changesql.record(conn, ChangeEvent("open_mode", tenant_id, None, actor, timeutil.now()))


async def authenticate(db: Database, secret: str) -> ApiKey | None:
    """The live key with this secret, or None."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    return await keysql.live_by_hash(db, _hash(secret))
