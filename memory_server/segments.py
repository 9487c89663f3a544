"""Segments: named conditions over a tenant's users (see `memory_server.conditions`), with their members.

Membership is re-evaluated for a user in the same transaction as whatever changed what a condition reads (a
processed message's signals and aggregates, an edit of the user's attributes), and for every user, in batches
on the workers' tick, after a segment is created or its condition changes (the backfill, with progress). A user
entering or leaving a segment emits `segment.entered` / `segment.exited` in that same transaction.

`Segments` is the part of the service facade for them (`MemoryService.segments`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from memory_server import conditions, timeutil, webhooks
from memory_server.config import ExtractionConfig
from memory_server.context import Core, Scope
from memory_server.errors import Conflict, InvalidInput, NotFound, check_page_size
from memory_server.models import Page, Segment, SegmentMember, WebhookEventType
from memory_server.schemas import MemberFilter, SegmentIn, SegmentUpdate
from memory_server.store import segments as segmentsql
from memory_server.store import signals as signalsql
from memory_server.store import users as usersql
from memory_server.store import vectors
from memory_server.store.db import Connection, ConstraintError, Row

MAX_SEGMENTS = 200
BACKFILL_BATCH = 500
#: How many of a user's latest analysed messages a `matches` condition compares with its text.
MATCH_WINDOW = 10


@dataclass(frozen=True)
class Compiled:
    id: str
    name: str
    node: conditions.Node
    texts: dict[str, np.ndarray]  # `matches` text -> its vector


def _compile(row: Row) -> Compiled:
    node = conditions.parse(json.loads(row["condition"]))
    texts = conditions.texts(node)
    matrix = segmentsql.unpack(row["vectors"], len(texts))
    return Compiled(row["id"], row["name"], node, {t: matrix[i] for i, t in enumerate(texts)})


async def compiled(core: Core, conn: Connection, tenant_id: str) -> list[Compiled]:
    """The tenant's segments, parsed once per change (a stamp of the segments table keys the cache)."""
    stamp = await segmentsql.stamp(conn, tenant_id)
    cached = core.segment_cache.get(tenant_id)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    parsed = [_compile(r) for r in await segmentsql.definitions(conn, tenant_id)]
    core.segment_cache[tenant_id] = (stamp, parsed)
    return parsed


def _subject(row: Row, window: list[bytes], texts: dict[str, np.ndarray]) -> conditions.Subject:
    aggregates = json.loads(row["aggregates"]) if row["aggregates"] else {}
    values = {name: aggregates.get(name) for name in conditions.AGGREGATES}
    values["message_count"] = row["message_count"]
    values["analysed_count"] = row["analysed_count"]
    recent = vectors.matrix(window)
    best: dict[str, float] = {}

    def similarity(text: str) -> float:
        if text not in best:
            vector = texts[text]
            fits = recent.size > 0 and recent.shape[1] == vector.shape[0]
            best[text] = float((recent @ vector).max()) if fits else -1.0
        return best[text]

    return conditions.Subject(
        attributes=json.loads(row["attributes"]),
        values=values,
        topic_scores=aggregates.get("topic_scores", {}),
        intentions=frozenset(aggregates.get("intentions_summary", [])),
        similarity=similarity,
    )


async def reevaluate(
    core: Core, conn: Connection, tenant_id: str, user_id: str, now: datetime, row: Row | None = None
) -> tuple[list[str], list[str]]:
    """Bring the user's memberships up to date inside the caller's transaction, emitting an event for each
    segment entered or left; return the ids entered and left."""
    segments = await compiled(core, conn, tenant_id)
    if not segments:
        return [], []
    row = row or await usersql.row_of(conn, tenant_id, user_id)
    if row is None:
        return [], []
    texts = {t: v for s in segments for t, v in s.texts.items()}
    window = await signalsql.window_vectors(conn, tenant_id, user_id, MATCH_WINDOW) if texts else []
    subject = _subject(row, window, texts)
    current = await segmentsql.memberships(conn, tenant_id, user_id)
    entered, left = [], []
    for segment in segments:
        inside = conditions.evaluate(segment.node, subject)
        if inside and segment.id not in current:
            await segmentsql.enter(conn, tenant_id, segment.id, user_id, now)
            await _emit(conn, tenant_id, "segment.entered", segment, user_id, now)
            entered.append(segment.id)
        elif not inside and segment.id in current:
            await segmentsql.leave(conn, segment.id, user_id)
            await _emit(conn, tenant_id, "segment.exited", segment, user_id, now)
            left.append(segment.id)
    return entered, left


async def _emit(
    conn: Connection,
    tenant_id: str,
    kind: WebhookEventType,
    segment: Compiled,
    user_id: str,
    at: datetime,
) -> None:
    data = {"user_id": user_id, "segment_id": segment.id, "segment_name": segment.name, "at": timeutil.to_db(at)}
    await webhooks.emit(conn, tenant_id, kind, data, at=at)


async def backfill_step(core: Core, batch: int = BACKFILL_BATCH) -> int:
    """Evaluate the next batch of users of each segment being backfilled; return how many users were done."""
    done = 0
    for seg in await segmentsql.backfilling(core.db, 20):
        tenant_id, after = seg["tenant_id"], seg["backfill_after"]
        rows = await usersql.batch_after(core.db, tenant_id, after, batch)
        now = timeutil.now()
        async with core.db.transaction() as conn:
            for row in rows:
                await reevaluate(core, conn, tenant_id, row["user_id"], now, row)
            last = rows[-1]["user_id"] if len(rows) == batch else None
            await segmentsql.advance(conn, seg["id"], after, last, len(rows))
        done += len(rows)
    if done:
        core.webhooks.notify()
    return done


def labels(config: ExtractionConfig) -> conditions.Labels:
    """The topics and intentions of the config's taxonomy, which conditions may name."""
    taxonomy = config.signals.taxonomy
    return conditions.Labels(frozenset(t.name for t in taxonomy.topics), frozenset(i.name for i in taxonomy.intentions))


async def check_taxonomy(conn: Connection, tenant_id: str, config: ExtractionConfig) -> None:
    """Refuse a config whose taxonomy lacks a topic or intention a saved segment names: that segment would
    silently match nobody from then on."""
    kept = labels(config)
    users: dict[str, list[str]] = {}
    for row in await segmentsql.definitions(conn, tenant_id):
        for label in dict.fromkeys(conditions.missing(conditions.parse(json.loads(row["condition"])), kept)):
            users.setdefault(label, []).append(repr(row["name"]))
    if users:
        uses = "; ".join(
            f"{label} is used by segment{'s' if len(names) > 1 else ''} {', '.join(sorted(names))}"
            for label, names in users.items()
        )
        raise InvalidInput(f"signals.taxonomy: {uses}: change or delete the segment first", field="signals.taxonomy")


class Segments:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def _labels(self, scope: Scope) -> conditions.Labels:
        """The labels of the space's taxonomy now (a config that drops one a segment names is refused)."""
        _, config = await self.core.configs.active(scope.space)
        return labels(config)

    async def _still_named(self, conn: Connection, scope: Scope, condition: dict) -> None:
        """Parse the condition again against the taxonomy in force inside the storing transaction: a config update
        that committed since the first parse may have dropped a label (its own check could not see this segment)."""
        conditions.parse(condition, labels=labels(await self.core.configs.in_force(conn, scope.space)))

    async def _vectors(self, condition: conditions.Node) -> np.ndarray | None:
        texts = conditions.texts(condition)
        return await self.core.embedder.embed(texts) if texts else None

    async def create(self, scope: Scope, body: SegmentIn) -> Segment:
        scope.require("admin")
        node = conditions.parse(body.condition, labels=await self._labels(scope))
        if await segmentsql.count(self.core.db, scope.space) >= MAX_SEGMENTS:
            raise Conflict(f"a tenant has at most {MAX_SEGMENTS} segments; delete one first")
        matrix = await self._vectors(node)
        segment_id = "seg_" + uuid.uuid4().hex[:16]
        try:
            async with self.core.db.transaction() as conn:
                await self._still_named(conn, scope, body.condition)
                await segmentsql.insert(
                    conn,
                    scope.space,
                    segment_id,
                    name=body.name,
                    description=body.description,
                    condition=body.condition,
                    model_id=self.core.embedder.model_id,
                    vectors=matrix,
                    actor=scope.actor,
                    now=timeutil.now(),
                )
        except ConstraintError:
            raise InvalidInput(f"name: a segment named {body.name!r} exists already", field="name") from None
        return await self.get(scope, segment_id)

    async def list(self, scope: Scope) -> list[Segment]:
        scope.require("admin")
        return await segmentsql.all_of(self.core.db, scope.space)

    async def get(self, scope: Scope, segment_id: str) -> Segment:
        scope.require("admin")
        segment = await segmentsql.get(self.core.db, scope.space, segment_id)
        if segment is None:
            raise NotFound(f"segment_id: no segment {segment_id}", field="segment_id")
        return segment

    async def update(self, scope: Scope, segment_id: str, body: SegmentUpdate) -> Segment:
        scope.require("admin")
        current = await self.get(scope, segment_id)
        node = None if body.condition is None else conditions.parse(body.condition, labels=await self._labels(scope))
        matrix = None if node is None else await self._vectors(node)
        try:
            async with self.core.db.transaction() as conn:
                if body.condition is not None:
                    await self._still_named(conn, scope, body.condition)
                found = await segmentsql.update(
                    conn,
                    scope.space,
                    segment_id,
                    name=body.name or current.name,
                    description=body.description if "description" in body.model_fields_set else current.description,
                    condition=body.condition,
                    model_id=self.core.embedder.model_id,
                    vectors=matrix,
                    now=timeutil.now(),
                )
        except ConstraintError:
            raise InvalidInput(f"name: a segment named {body.name!r} exists already", field="name") from None
        if not found:
            raise NotFound(f"segment_id: no segment {segment_id}", field="segment_id")
        return await self.get(scope, segment_id)

    async def delete(self, scope: Scope, segment_id: str) -> Segment:
        """Delete the segment and its memberships (no exit events: the segment itself is gone)."""
        segment = await self.get(scope, segment_id)
        async with self.core.db.transaction() as conn:
            await segmentsql.delete(conn, scope.space, segment_id)
        return segment

    async def members(self, scope: Scope, segment_id: str, flt: MemberFilter) -> Page[SegmentMember]:
        check_page_size(flt.limit, self.core.settings.limits.max_page_size)
        await self.get(scope, segment_id)
        items, nxt = await segmentsql.members(self.core.db, scope.space, segment_id, flt.cursor, flt.limit)
        return Page[SegmentMember](items=items, next_cursor=nxt)
