"""Moving memory in and out: a user's portable JSON export and its idempotent import.

An export holds the user's attributes and "do not remember" mark, messages (with the source and attributes
their request was published with), every fact (all statuses) and their change log; vectors are left out because
they belong to one embedding model, and import re-embeds (imported messages become episodes as the importing
tenant's config says, like published ones, and get their signals analysed again). Import is idempotent: messages
are keyed by (request, position), facts by id, change-log rows by (fact, event, time); attributes are merged, and
the later of two marks holds. Ids are made this server's: the messages' ids that facts and change-log rows name
become those the messages got here, and a fact whose id another tenant or project holds (an import into another
tenant) gets an id of its own, the same at every import.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

from pydantic import BaseModel, Field

from extractors.base import MessageRole
from memory_server import signals, timeutil, when
from memory_server.context import Core, Scope
from memory_server.errors import Conflict, InvalidInput, NotFound
from memory_server.models import Change, Consent, Fact
from memory_server.schemas import Attributes, Identifier, Timestamp
from memory_server.store import changelog as changesql
from memory_server.store import consent as consentsql
from memory_server.store import episodes as episodesql
from memory_server.store import facts as factsql
from memory_server.store import jobs as jobsql
from memory_server.store import messages as messagesql
from memory_server.store import users as usersql
from memory_server.store.db import Connection
from memory_server.store.messages import StoredMessage

EXPORT_FORMAT = "memory-server/user-export@1"


class ExportedMessage(BaseModel):
    #: Its id where it was exported, which facts' `message_ids` and change-log rows name (absent in older exports).
    id: int | None = None
    request_id: str
    session_id: Identifier | None = None
    #: What its request was published with.
    source: Identifier | None = None
    attributes: Attributes = Field(default_factory=dict)
    position: int = Field(ge=0)
    role: MessageRole
    content: str
    created_at: Timestamp


class UserExport(BaseModel):
    format: str = EXPORT_FORMAT
    user_id: Identifier
    attributes: Attributes = Field(default_factory=dict)
    #: The user's "do not remember" mark, when one was set (absent in older exports).
    consent: Consent | None = None
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
    origins = await jobsql.origins(core.db, scope.space, list(dict.fromkeys(m.request_id for m in messages)))
    return UserExport(
        user_id=user_id,
        attributes=record.attributes if record else {},
        consent=await consentsql.get(core.db, scope.space, user_id),
        messages=[_exported(m, origins.get(m.request_id, (None, {}))) for m in messages],
        facts=facts,
        changelog=changes,
    )


def _exported(message: StoredMessage, origin: jobsql.Origin) -> ExportedMessage:
    source, attributes = origin
    return ExportedMessage(**dataclasses.asdict(message), source=source, attributes=attributes)


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
    async with core.user_lock(scope.space, user):
        async with core.db.transaction() as conn:
            others = await factsql.other_owners(conn, scope.space, user, [f.id for f in data.facts])
            if others:  # an export edited to name another user: its rows are theirs here
                raise Conflict(
                    f"user_id: this export's facts belong to {', '.join(sorted(others))} here; import it as that "
                    "user, or into another tenant or project",
                    field="user_id",
                )
            here = await consentsql.get(conn, scope.space, user)
            newer = data.consent is not None and _later(data.consent, here)
            if here is not None and not here.remember and not (newer and data.consent and data.consent.remember):
                raise Conflict(
                    f'user_id: {user} is marked "do not remember" here ({here.reason or "no reason given"}); '
                    "importing would bring back what they asked to be forgotten: lift the mark first "
                    "(PUT /v1/users/{id}/consent) if they agreed again",
                    field="user_id",
                )
            ours = await _Ours.of(conn, scope.space, data)
            stored, sources = await _add_messages(conn, scope, data, ours, kept)
            added["messages"] = len(stored)
            for fact, vector in zip(data.facts, vectors, strict=True):
                fact = fact.model_copy(update=ours.named(fact.model_dump(include=_NAMING)))
                if await factsql.importable(conn, scope.space, fact):
                    await factsql.insert(conn, scope.space, fact, vector, core.embedder.model_id)
                    added["facts"] += 1
            if data.consent is not None and newer:
                await consentsql.put(conn, scope.space, user, data.consent)
            known_ids = all(m.id is not None for m in data.messages)
            changes = [
                change.model_copy(
                    update={
                        "fact_id": change.fact_id and ours.fact(change.fact_id),
                        "request_id": change.request_id and ours.request(change.request_id),
                        # A message deleted before the export has no id here (its old one may be another's by now).
                        "message_id": ours.messages.get(change.message_id) if known_ids else change.message_id,
                        "before": change.before and ours.named(change.before, known_ids),
                        "after": change.after and ours.named(change.after, known_ids),
                    }
                )
                for change in data.changelog
            ]
            added["changelog"] = await changesql.import_rows(conn, scope.space, changes)
        await core.vectors.flush(index_episodes=False)
        analysed = await signals.analyse(core, scope.space, user, config, stored, None, sources=sources)
        async with core.db.transaction() as conn:
            await analysed.store(core, conn)
    return added


@dataclasses.dataclass
class _Ours:
    """The ids the export's rows get here: a fact or request id another tenant or project holds (an import into
    another tenant) becomes one of this space's own, the same at every import; messages get this server's ids."""

    space: str
    facts: set[str]
    requests: set[str]
    messages: dict[int, int] = dataclasses.field(default_factory=dict)  # the export's ids -> here

    @classmethod
    async def of(cls, conn: Connection, space: str, data: UserExport) -> _Ours:
        request_ids = {m.request_id for m in data.messages} | {c.request_id for c in data.changelog if c.request_id}
        return cls(
            space,
            await factsql.owned_elsewhere(conn, space, [f.id for f in data.facts]),
            await jobsql.owned_elsewhere(conn, space, sorted(request_ids)),
        )

    def fact(self, fact_id: str) -> str:
        return _own_id(self.space, fact_id) if fact_id in self.facts else fact_id

    def named(self, values: dict[str, Any], known_ids: bool = True) -> dict[str, Any]:
        """`values` (a fact's fields, or a change row's snapshot of a fact or an episode) with the ids of the fact,
        its successor, its request and its messages as they are here; `known_ids`: see the change rows' message."""
        out = dict(values)
        for key in ("id", "superseded_by"):
            if out.get(key):
                out[key] = self.fact(out[key])
        if out.get("request_id"):
            out["request_id"] = self.request(out["request_id"])
        if "message_ids" in out:
            out["message_ids"] = [self.messages[m] for m in out["message_ids"] if m in self.messages]
        if out.get("message_id") is not None and known_ids:
            out["message_id"] = self.messages.get(out["message_id"])
        return out

    def request(self, request_id: str) -> str:
        return _own_id(self.space, f"request:{request_id}") if request_id in self.requests else request_id


async def _add_messages(
    conn: Connection, scope: Scope, data: UserExport, ours: _Ours, kept: list[str]
) -> tuple[list[StoredMessage], dict[int, str | None]]:
    """The messages this server lacks (with the source each was published with), with their requests (done where
    they were published), the user's record and counts; the ids of all of them go in `ours.messages`."""
    user, stored, sources = data.user_id, [], {}
    requests: dict[str, ExportedMessage] = {}  # the requests of the messages added, by their first
    for m in data.messages:
        request_id = ours.request(m.request_id)
        message_id = await messagesql.id_of(conn, scope.space, request_id, m.position)
        if message_id is None:
            row = (m.position, m.role, m.content, m.created_at)
            [message_id] = await messagesql.insert(conn, scope.space, user, request_id, m.session_id, [row])
            if m.role in kept:
                days = when.message_tokens(m.content, m.created_at)
                await episodesql.add(conn, scope.space, user, [(message_id, m.content, days)])
            said = m.model_dump(exclude={"id", "source", "attributes"}) | {"request_id": request_id}
            stored.append(StoredMessage(id=message_id, **said))
            sources[message_id] = m.source
            requests.setdefault(request_id, m)
        if m.id is not None:
            ours.messages[m.id] = message_id
    for request_id, m in requests.items():
        await jobsql.enqueue(
            conn,
            request_id=request_id,
            kind="extract",
            tenant_id=scope.space,
            user_id=user,
            actor=scope.actor,
            at=m.created_at,
            source=m.source,
            session_id=m.session_id,
            attributes=m.attributes,
            imported=True,
        )
    now = timeutil.now()
    if stored:
        source = next((m.source for m in reversed(data.messages) if m.source), None)
        times = [m.created_at for m in stored]
        await usersql.seen(conn, scope.space, user, source=source, attributes=data.attributes, times=times, now=now)
    else:
        await usersql.merge_attributes(conn, scope.space, user, data.attributes, now)
    return stored, sources


def _later(exported: Consent, here: Consent | None) -> bool:
    """Whether an exported mark is newer than the one here (or there is none here): the latest decision holds."""
    if here is None:
        return True
    return here.updated_at is None or (exported.updated_at is not None and exported.updated_at > here.updated_at)


#: A fact's fields that name other rows (`_Ours.named`).
_NAMING = {"id", "superseded_by", "request_id", "message_ids"}


def _own_id(space: str, fact_id: str) -> str:
    """The id an imported fact gets in `space` when another tenant or project holds its own: derived, so that
    importing the same export again finds the fact already here."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"memory-server:{space}:{fact_id}"))


def load_export(raw: str | bytes) -> UserExport:
    return UserExport.model_validate(json.loads(raw))
