"""SQL for facts and their vectors. Functions take the connection so callers choose the transaction.

A fact row is the truth; `fact_vectors` keeps its embedding beside it (so the vector index can be rebuilt
without re-embedding, and a user's own facts can be scored exactly), and `vector_ops` lists fact ids
whose vector-index entry must be brought in line with SQLite after the transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite
import numpy as np

from memory_server import timeutil
from memory_server.models import Fact

COLUMNS = (
    "id, user_id, kind, content, topic, source, attributes, confidence, status, superseded_by, "
    "request_id, message_ids, config_version, created_at, updated_at, expires_at"
)
F_COLUMNS = ", ".join(f"f.{c.strip()}" for c in COLUMNS.split(","))
LIVE = "f.status = 'active' AND (f.expires_at IS NULL OR f.expires_at > ?)"

_SPACE = re.compile(r"\s+")


def content_hash(content: str) -> str:
    """Hash of the normalised content: case, spacing and closing punctuation do not make a new fact."""
    norm = _SPACE.sub(" ", content.casefold()).strip().rstrip(".!?;:, ")
    return hashlib.sha256(norm.encode()).hexdigest()


def to_fact(row: aiosqlite.Row | Sequence[Any]) -> Fact:
    return Fact(
        id=row[0],
        user_id=row[1],
        kind=row[2],
        content=row[3],
        topic=row[4],
        source=row[5],
        attributes=json.loads(row[6]),
        confidence=row[7],
        status=row[8],
        superseded_by=row[9],
        request_id=row[10],
        message_ids=json.loads(row[11]),
        config_version=row[12],
        created_at=timeutil.from_db(row[13]),
        updated_at=timeutil.from_db(row[14]),
        expires_at=timeutil.from_db(row[15]),
    )


def vector_to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def blob_to_matrix(blobs: Sequence[bytes]) -> np.ndarray:
    """Rows of float32 vectors; (0, 0) when there are none (a remote model's size may not be known yet)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)


async def insert(conn: aiosqlite.Connection, tenant_id: str, fact: Fact, vector: np.ndarray, model_id: str) -> None:
    await conn.execute(
        "INSERT INTO facts (id, tenant_id, user_id, kind, content, content_hash, topic, source, attributes, "
        "confidence, status, superseded_by, request_id, message_ids, config_version, created_at, updated_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            fact.id,
            tenant_id,
            fact.user_id,
            fact.kind,
            fact.content,
            content_hash(fact.content),
            fact.topic,
            fact.source,
            json.dumps(fact.attributes, ensure_ascii=False),
            fact.confidence,
            fact.status,
            fact.superseded_by,
            fact.request_id,
            json.dumps(fact.message_ids),
            fact.config_version,
            timeutil.to_db(fact.created_at),
            timeutil.to_db(fact.updated_at),
            timeutil.to_db(fact.expires_at) if fact.expires_at else None,
        ),
    )
    await conn.execute(
        "INSERT OR REPLACE INTO fact_vectors (fact_id, model_id, vector) VALUES (?, ?, ?)",
        (fact.id, model_id, vector_to_blob(vector)),
    )
    await mark_vector_dirty(conn, [fact.id])


async def set_status(
    conn: aiosqlite.Connection, fact: Fact, status: str, at: datetime, superseded_by: str | None = None
) -> Fact | None:
    """Retire a fact (superseded, expired, deleted); return it as it now stands.

    Applies only if the row still has the status it was read with; None means someone changed it first.
    """
    cur = await conn.execute(
        "UPDATE facts SET status = ?, superseded_by = ?, updated_at = ? WHERE id = ? AND status = ?",
        (status, superseded_by, timeutil.to_db(at), fact.id, fact.status),
    )
    if cur.rowcount == 0:
        return None
    await mark_vector_dirty(conn, [fact.id])
    return fact.model_copy(update={"status": status, "superseded_by": superseded_by, "updated_at": at})


async def mark_vector_dirty(conn: aiosqlite.Connection, fact_ids: Sequence[str]) -> None:
    await conn.executemany("INSERT INTO vector_ops (fact_id) VALUES (?)", [(i,) for i in fact_ids])


def filters_sql(
    kind: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, list[Any]]:
    """Extra WHERE terms (on alias f) for the optional filters that every read shares."""
    terms, params = [], []
    if kind:
        terms.append("f.kind = ?")
        params.append(kind)
    if source:
        terms.append("f.source = ?")
        params.append(source)
    if since:
        terms.append("f.created_at >= ?")
        params.append(timeutil.to_db(since))
    if until:
        terms.append("f.created_at <= ?")
        params.append(timeutil.to_db(until))
    return "".join(f" AND {t}" for t in terms), params


def attributes_match(fact: Fact, wanted: dict[str, Any] | None) -> bool:
    """Every wanted key equals the fact's value (or is contained in it when the fact holds a list)."""
    if not wanted:
        return True
    for key, value in wanted.items():
        have = fact.attributes.get(key)
        if have != value and not (isinstance(have, list) and value in have):
            return False
    return True
