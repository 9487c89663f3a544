"""Users as operators and apps see them: a record with attributes, activity and aggregates, lists filtered by
behaviour, and the timeline of a user's analysed messages.

`Users` is the part of the service facade for them (`MemoryService.users`): every door calls it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from memory_server import segments, timeutil
from memory_server.context import Core, Scope
from memory_server.errors import InvalidInput, NotFound, check_json_size, check_page_size
from memory_server.models import Timeline, UserAttributes, UserList, UserRecord
from memory_server.schemas import TimelineFilter, UserAttributesIn, UserFilter
from memory_server.store import changelog as changesql
from memory_server.store import segments as segmentsql
from memory_server.store import signals as signalsql
from memory_server.store import users as usersql
from memory_server.store.changelog import ChangeEvent

#: An attribute a list can be filtered by: a plain name, so it can be quoted safely into a JSON path.
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_ATTRIBUTE_FILTERS = 10


def attribute_value(raw: str) -> Any:
    """A filter value as written in a query string: JSON numbers, true/false/null as such, anything else text."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if value is None or isinstance(value, bool | int | float) else raw


class Users:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def get(self, scope: Scope, user_id: str) -> UserRecord:
        scope.require("viewer")
        record = await usersql.get(self.core.db, scope.space, user_id)
        if record is None:
            raise NotFound(f"user_id: no user {user_id}", field="user_id")
        record.segments = await segmentsql.of_user(self.core.db, scope.space, user_id)
        return record

    async def list(self, scope: Scope, flt: UserFilter, attributes: dict[str, str]) -> UserList:
        """Users matching the filters; `attributes` maps attribute names to the value they must have."""
        scope.require("viewer")
        if len(attributes) > MAX_ATTRIBUTE_FILTERS:
            raise InvalidInput(f"attr: at most {MAX_ATTRIBUTE_FILTERS} attribute filters", field="attr")
        for name in attributes:
            if not _ATTRIBUTE_NAME.fullmatch(name):
                raise InvalidInput(
                    f"attr.{name}: attribute filters take names of letters, digits, '_' and '-' (at most 64)",
                    field=f"attr.{name}",
                )
        if (
            flt.churn_risk_gte is not None
            and flt.churn_risk_lte is not None
            and flt.churn_risk_gte > flt.churn_risk_lte
        ):
            raise InvalidInput("churn_risk_gte: must not exceed churn_risk_lte", field="churn_risk_gte")
        if flt.segment is not None and await segmentsql.get(self.core.db, scope.space, flt.segment) is None:
            raise NotFound(f"segment: no segment {flt.segment}", field="segment")
        users, total = await usersql.page(
            self.core.db,
            scope.space,
            churn_risk_gte=flt.churn_risk_gte,
            churn_risk_lte=flt.churn_risk_lte,
            sentiment_trend=flt.sentiment_trend,
            min_messages=flt.min_messages,
            segment=flt.segment,
            id_prefix=flt.id_prefix,
            attributes={name: attribute_value(raw) for name, raw in attributes.items()},
            limit=flt.limit,
            offset=flt.offset,
        )
        joined = await segmentsql.of_users(self.core.db, scope.space, [u.user_id for u in users])
        for user in users:
            user.segments = joined.get(user.user_id, [])
        return UserList(users=users, total=total)

    async def set_attributes(self, scope: Scope, user_id: str, body: UserAttributesIn) -> UserRecord:
        """Replace the user's attributes (a user not seen yet gets a record); logged with before and after."""
        scope.require("editor")
        check_json_size(body.attributes, self.core.settings.limits.max_attributes_bytes, "attributes")
        now = timeutil.now()
        async with self.core.user_lock(scope.space, user_id):
            before = await usersql.get(self.core.db, scope.space, user_id)
            async with self.core.db.transaction() as conn:
                await usersql.set_attributes(conn, scope.space, user_id, body.attributes, now)
                event = ChangeEvent(
                    "user_attributes",
                    scope.space,
                    user_id,
                    scope.actor,
                    now,
                    before=UserAttributes(attributes=before.attributes if before else {}),
                    after=UserAttributes(attributes=body.attributes),
                )
                await changesql.record(conn, event)
                await segments.reevaluate(self.core, conn, scope.space, user_id, now)
        self.core.webhooks.notify()
        return await self.get(scope, user_id)

    async def timeline(self, scope: Scope, user_id: str, flt: TimelineFilter) -> Timeline:
        """The user's analysed messages with their signals, newest first."""
        scope.require("viewer")
        check_page_size(flt.limit, self.core.settings.limits.max_page_size)
        await self.get(scope, user_id)
        cursor = None if flt.cursor is None else int(flt.cursor)
        entries, nxt = await signalsql.timeline(self.core.db, scope.space, user_id, cursor, flt.limit)
        return Timeline(user_id=user_id, timeline=entries, next_cursor=None if nxt is None else str(nxt))
