"""SQL for `consent`: one row per space and user marked by an editor (no row: the user may be remembered)."""

from __future__ import annotations

from memory_server import timeutil
from memory_server.models import Consent
from memory_server.store.db import Connection, Database, read


async def get(source: Database | Connection, tenant_id: str, user_id: str) -> Consent | None:
    """The user's mark; `source` is the writer's connection inside a transaction that must see it up to date."""
    rows = await read(
        source,
        "SELECT remember, reason, updated_by, updated_at FROM consent WHERE tenant_id = ? AND user_id = ?",
        (tenant_id, user_id),
    )
    if not rows:
        return None
    row = rows[0]
    return Consent(
        remember=bool(row["remember"]),
        reason=row["reason"],
        updated_by=row["updated_by"],
        updated_at=timeutil.from_db(row["updated_at"]),
    )


async def put(conn: Connection, tenant_id: str, user_id: str, consent: Consent) -> None:
    await conn.execute(
        "INSERT INTO consent (tenant_id, user_id, remember, reason, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant_id, user_id) DO UPDATE SET remember = excluded.remember, reason = excluded.reason, "
        "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        (
            tenant_id,
            user_id,
            int(consent.remember),
            consent.reason,
            consent.updated_by,
            timeutil.to_db(consent.updated_at or timeutil.now()),
        ),
    )
