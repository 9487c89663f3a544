"""Reading the change log the way callers want it: pages with a cursor, and what one request changed.

Rows are written by `store.changelog.record`, inside the transaction of the change they describe.
"""

from __future__ import annotations

from memory_server.models import Change, Fact, FactUpdate, Page, RequestChanges
from memory_server.schemas import ChangelogFilter
from memory_server.store import changelog as changesql
from memory_server.store.db import Database


async def page(db: Database, tenant_id: str, flt: ChangelogFilter) -> Page[Change]:
    """Rows newest first, filtered by user, request and time; the cursor is the last row's id."""
    changes, cursor = await changesql.page(
        db,
        tenant_id,
        user_id=flt.user_id,
        request_id=flt.request_id,
        since=flt.since,
        before_id=None if flt.cursor is None else int(flt.cursor),
        limit=flt.limit,
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
