"""Moving memory in and out: a user's portable JSON export and its idempotent import.

An export holds the user's attributes, messages, every fact (all statuses) and their change log; vectors
are left out because they belong to one embedding model, and import re-embeds (imported messages become
episodes as the importing tenant's config says, like published ones, and get their signals analysed again).
Import is idempotent: messages are keyed by (request, position), facts by id, change-log rows by (fact,
event, time); attributes are merged. Ids are made this server's: the messages' ids that facts and change-log rows
name become those the messages got here, and a fact whose id another tenant or project holds (an import into
another tenant) gets an id of its own, the same at every import.
"""

from __future__ import annotations

import json
import uuid

from pydantic import BaseModel, Field

from extractors.base import MessageRole
from memory_server import signals, timeutil, when
from memory_server.context import Core, Scope
from memory_server.errors import InvalidInput, NotFound
from memory_server.models import Change, Fact
from memory_server.schemas import Attributes, Identifier, Timestamp
from memory_server.store import changelog as changesql
from memory_server.store import episodes as episodesql
from memory_server.store import facts as factsql
from memory_server.store import messages as messagesql
from memory_server.store import users as usersql
from memory_server.store.messages import StoredMessage

EXPORT_FORMAT = "memory-server/user-export@1"


class ExportedMessage(BaseModel):
    #: Its id where it was exported, which facts' `message_ids` and change-log rows name (absent in older exports).
    id: int | None = None
    request_id: str
    session_id: str | None = None
    position: int = Field(ge=0)
    role: MessageRole
    content: str
    created_at: Timestamp


class UserExport(BaseModel):
    format: str = EXPORT_FORMAT
    user_id: Identifier
    attributes: Attributes = Field(default_factory=dict)
    messages: list[ExportedMessage] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    changelog: list[Change] = Field(default_factory=list)


async def export_user(core: Core, scope: Scope, user_id: str) -> UserExport:
    messages = await messagesql.of_user(core.db, scope.space, user_id)
    facts = await factsql.of_user(core.db, scope.space, user_id)
    changes = await changesql.of_user(core.db, scope.space, user_id)
    record = await usersql.get(core.db, scope.space, user_id)
    if not (messages or facts or record):  # a purged user's bare change-log rows are not a user
        raise NotFound(f"user_id: tenant {scope.space} has no user {user_id}", field="user_id")
    return UserExport(
        user_id=user_id,
        attributes=record.attributes if record else {},
        messages=[ExportedMessage.model_validate(m, from_attributes=True) for m in messages],
        facts=facts,
        changelog=changes,
    )


async def import_user(core: Core, scope: Scope, data: UserExport) -> dict[str, int]:
    """Add what the export holds and this server lacks; return how many rows of each kind were added."""
    if data.format != EXPORT_FORMAT:
        raise InvalidInput(f"format: expected {EXPORT_FORMAT!r}, got {data.format!r}", field="format")
    user = data.user_id
    if any(f.user_id != user for f in data.facts) or any(c.user_id != user for c in data.changelog):
        raise InvalidInput("facts and changelog must all belong to user_id", field="user_id")
    vectors = await core.embedder.embed([f.content for f in data.facts])
    _, config = await core.configs.active(scope.space)
    kept = config.episodes.roles if config.episodes.enabled else []
    added = {"messages": 0, "facts": 0, "changelog": 0}
    stored: list[StoredMessage] = []
    now = timeutil.now()
    async with core.user_lock(scope.space, user):
        async with core.db.transaction() as conn:
            here: dict[int, int] = {}  # message ids in the export -> here
            for m in data.messages:
                message_id = await messagesql.id_of(conn, scope.space, m.request_id, m.position)
                if message_id is None:
                    row = (m.position, m.role, m.content, m.created_at)
                    [message_id] = await messagesql.insert(conn, scope.space, user, m.request_id, m.session_id, [row])
                    if m.role in kept:
                        days = when.message_tokens(m.content, m.created_at)
                        await episodesql.add(conn, scope.space, user, [(message_id, m.content, days)])
                    stored.append(StoredMessage(id=message_id, **m.model_dump(exclude={"id"})))
                if m.id is not None:
                    here[m.id] = message_id
            added["messages"] = len(stored)
            times = [m.created_at for m in stored]
            if times:
                await usersql.seen(
                    conn, scope.space, user, source=None, attributes=data.attributes, times=times, now=now
                )
            else:
                await usersql.merge_attributes(conn, scope.space, user, data.attributes, now)
            taken = await factsql.owned_elsewhere(conn, scope.space, [f.id for f in data.facts])
            renamed = {fact_id: _own_id(scope.space, fact_id) for fact_id in taken}
            for fact, vector in zip(data.facts, vectors, strict=True):
                fact = fact.model_copy(
                    update={
                        "id": renamed.get(fact.id, fact.id),
                        "superseded_by": renamed.get(fact.superseded_by or "", fact.superseded_by),
                        "message_ids": [here[m] for m in fact.message_ids if m in here],
                    }
                )
                if await factsql.importable(conn, scope.space, fact):
                    await factsql.insert(conn, scope.space, fact, vector, core.embedder.model_id)
                    added["facts"] += 1
            for change in data.changelog:
                change = change.model_copy(
                    update={
                        "fact_id": renamed.get(change.fact_id or "", change.fact_id),
                        "message_id": here.get(change.message_id, change.message_id),  # a deleted one keeps its old id
                    }
                )
                added["changelog"] += await changesql.import_row(conn, scope.space, change)
        await core.vectors.flush(index_episodes=False)
        analysed = await signals.analyse(core, scope.space, user, config, stored, None)
        async with core.db.transaction() as conn:
            await analysed.store(core, conn)
    return added


def _own_id(space: str, fact_id: str) -> str:
    """The id an imported fact gets in `space` when another tenant or project holds its own: derived, so that
    importing the same export again finds the fact already here."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"memory-server:{space}:{fact_id}"))


def load_export(raw: str | bytes) -> UserExport:
    return UserExport.model_validate(json.loads(raw))
