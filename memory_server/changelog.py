"""Reading the change log the way callers want it: pages with a cursor, and what one request changed.

Rows are written by `store.changelog.record`, inside the transaction of the change they describe.
"""

from __future__ import annotations

from memory_server.models import Change, Fact, FactUpdate, Page, RequestChanges, RequestLog
from memory_server.schemas import ChangelogFilter
from memory_server.store import changelog as changesql
from memory_server.store.db import Database

#: Rows about the tenant's access (keys, webhooks and their URLs, projects, open mode): an admin's to read, like
#: the keys and webhooks themselves.
ACCESS_EVENTS = (
    "key_create",
    "key_revoke",
    "lockdown",
    "open_mode",
    "project_create",
    "webhook_create",
    "webhook_delete",
    "webhook_update",
)


async def page(db: Database, tenant_id: str, flt: ChangelogFilter, *, admin: bool) -> Page[Change]:
    """Rows newest first, filtered by user, request and time; the cursor is the last row's id. Below `admin`, rows
    about the tenant's access are left out."""
    changes, cursor = await changesql.page(
        db,
        tenant_id,
        user_id=flt.user_id,
        request_id=flt.request_id,
        since=flt.since,
        before_id=None if flt.cursor is None else int(flt.cursor),
        limit=flt.limit,
        hidden=() if admin else ACCESS_EVENTS,
    )
    return Page[Change](items=changes, next_cursor=None if cursor is None else str(cursor))


async def request_view(db: Database, tenant_id: str, request_id: str) -> RequestChanges:
    """What one request added, updated (before and after) and removed; supersede rows are inside updates."""
    view = RequestChanges(request_id=request_id)
    for change in await changesql.of_request(db, tenant_id, request_id):
        if change.event == "add" and change.after:
            view.added.append(Fact.model_validate(change.after))
        elif change.event == "update" and change.before and change.after:
            view.updated.append(
                FactUpdate(before=Fact.model_validate(change.before), after=Fact.model_validate(change.after))
            )
        elif change.event in ("delete", "expire") and change.after:
            view.removed.append(Fact.model_validate(change.after))
    return view


_ADDING = ("add", "update")
_REMOVING = ("supersede", "delete", "expire")


async def by_request(db: Database, tenant_id: str, rows: int) -> list[RequestLog]:
    """The fact changes among the latest `rows` change-log rows, one entry per request, oldest first.

    A request's rows are written in one transaction, so they are consecutive; rows with no request (a deletion
    through the API, an expiry) group by the transaction that wrote them (same user, actor and time). When the
    log holds more rows than were read, the oldest group may be cut short, so it is left out.
    """
    changes, more = await changesql.page(
        db, tenant_id, user_id=None, request_id=None, since=None, before_id=None, limit=rows
    )
    groups: list[list[Change]] = []
    for change in reversed(changes):
        if change.user_id is None or change.event not in _ADDING + _REMOVING or change.after is None:
            continue
        if groups and _same_write(groups[-1][-1], change):
            groups[-1].append(change)
        else:
            groups.append([change])
    if more is not None and groups:
        groups.pop(0)
    return [_entry(group) for group in groups]


def _same_write(a: Change, b: Change) -> bool:
    if a.request_id is not None or b.request_id is not None:
        return a.request_id == b.request_id
    return (a.user_id, a.actor, a.created_at) == (b.user_id, b.actor, b.created_at)


def _entry(group: list[Change]) -> RequestLog:
    first = group[0]
    entry = RequestLog(
        id=first.id, user_id=first.user_id or "", request_id=first.request_id, created_at=first.created_at
    )
    for change in group:
        fact = Fact.model_validate(change.after)
        (entry.added if change.event in _ADDING else entry.removed).append(fact)
    return entry
