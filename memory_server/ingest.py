"""Accepting a conversation: its messages, their keyword index rows and queued vectors (the episodes), the
user's record (seen, counted, `user_attributes` merged) and its extraction job commit together, once per payload.

A user marked "do not remember" (`memory_server.consent`) has nothing stored: the mark is read inside the write
transaction, so one set meanwhile is never crossed, and `store` raises `NotRemembered`.

The same messages (same session, source, roles, contents and times) published again map to the first
request instead of a new one, so a retried publish never stores anything twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from memory_server import when
from memory_server.config import LimitSettings
from memory_server.context import Core, Scope
from memory_server.errors import PayloadTooLarge, check_json_size
from memory_server.models import Job, RequestChanges
from memory_server.schemas import InteractionIn
from memory_server.store import consent as consentsql
from memory_server.store import episodes as episodesql
from memory_server.store import jobs as jobsql
from memory_server.store import messages as messagesql
from memory_server.store import users as usersql
from memory_server.store.db import Connection, ConstraintError


class NotRemembered(Exception):
    """The user is marked "do not remember": nothing of the publish was stored."""


async def _remembered(conn: Connection, scope: Scope, user_id: str) -> bool:
    consent = await consentsql.get(conn, scope.space, user_id)
    return consent is None or consent.remember


def check(limits: LimitSettings, body: InteractionIn) -> None:
    """The size limits of the settings, which the request schema cannot know."""
    if len(body.messages) > limits.max_messages:
        raise PayloadTooLarge(f"messages: at most {limits.max_messages} per request", field="messages")
    for i, message in enumerate(body.messages):
        if len(message.content) > limits.max_content_chars:
            field = f"messages.{i}.content"
            raise PayloadTooLarge(f"{field}: at most {limits.max_content_chars} characters", field=field)
    check_json_size(body.attributes, limits.max_attributes_bytes, "attributes")
    check_json_size(body.user_attributes, limits.max_attributes_bytes, "user_attributes")


def payload_hash(body: InteractionIn) -> str:
    payload = [
        body.session_id,
        body.source,
        [(m.role, m.content, m.created_at and m.created_at.isoformat()) for m in body.messages],
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


async def store(core: Core, scope: Scope, body: InteractionIn, now: datetime) -> tuple[str, bool]:
    """Store the interaction unless its payload is known; return the request id and whether it was known.
    Raises NotRemembered for a user marked "do not remember"."""
    [stored] = await store_many(core, scope, [body], now)
    if stored is None:
        raise NotRemembered(body.user_id)
    return stored


async def store_many(
    core: Core, scope: Scope, bodies: Sequence[InteractionIn], now: datetime
) -> list[tuple[str, bool] | None]:
    """Store interactions (of one user or many) in one transaction: all of them or none. For each, the request id
    and whether its payload was known, or None when its user is marked "do not remember"."""
    _, config = await core.configs.active(scope.space)
    kept = config.episodes.roles if config.episodes.enabled else []
    digests = [payload_hash(body) for body in bodies]

    async def attempt() -> list[tuple[str, bool] | None]:
        async with core.db.transaction() as conn:
            return [
                await _store_one(conn, scope, body, digest, kept, now)
                for body, digest in zip(bodies, digests, strict=True)
            ]

    try:
        return await attempt()
    except ConstraintError:  # the same payload raced in: a second attempt finds it known
        return await attempt()


def accepted(request_id: str, body: InteractionIn, now: datetime) -> Job:
    """The job `store` just queued for `body`, as `store.jobs` reads it back."""
    return Job(
        request_id=request_id,
        user_id=body.user_id,
        kind="extract",
        status="queued",
        attempts=0,
        source=body.source,
        session_id=body.session_id,
        created_at=now,
        updated_at=now,
        changes=RequestChanges(request_id=request_id),
    )


async def queue_reextract(core: Core, scope: Scope, user_id: str, now: datetime) -> str:
    """A job replaying all the user's stored messages, queued behind the user's earlier jobs; its request id."""
    request_id = str(uuid.uuid4())
    async with core.db.transaction() as conn:
        await jobsql.enqueue(
            conn,
            request_id=request_id,
            tenant_id=scope.space,
            user_id=user_id,
            kind="reextract",
            actor=scope.actor,
            at=now,
        )
    return request_id


async def _store_one(
    conn: Connection, scope: Scope, body: InteractionIn, digest: str, kept: Sequence[str], now: datetime
) -> tuple[str, bool] | None:
    if not await _remembered(conn, scope, body.user_id):
        return None
    known = await jobsql.by_payload(conn, scope.space, body.user_id, digest)
    if known is not None:
        if body.user_attributes:
            await usersql.merge_attributes(conn, scope.space, body.user_id, body.user_attributes, now)
        return known, True
    request_id = str(uuid.uuid4())
    messages = [(i, m.role, m.content, m.created_at or now) for i, m in enumerate(body.messages)]
    ids = await messagesql.insert(conn, scope.space, body.user_id, request_id, body.session_id, messages)
    episodes = [
        (i, m.content, when.message_tokens(m.content, m.created_at or now))
        for i, m in zip(ids, body.messages, strict=True)
        if m.role in kept
    ]
    await episodesql.add(conn, scope.space, body.user_id, episodes)
    await usersql.seen(
        conn,
        scope.space,
        body.user_id,
        source=body.source,
        attributes=body.user_attributes,
        times=[at for *_, at in messages],
        now=now,
    )
    await jobsql.enqueue(
        conn,
        request_id=request_id,
        tenant_id=scope.space,
        user_id=body.user_id,
        kind="extract",
        actor=scope.actor,
        at=now,
        source=body.source,
        session_id=body.session_id,
        attributes=body.attributes,
        payload_hash=digest,
    )
    return request_id, False
