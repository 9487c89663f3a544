"""A user's page: facts with their history, messages with their signals, the change log; deleting a fact,
deleting by meaning after a preview of what will go, exporting, and purging behind a typed confirmation."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from memory_server.console.chart import sentiment_chart
from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, redirect
from memory_server.errors import Conflict, NotFound, from_validation
from memory_server.forgetting import Previewed
from memory_server.ids import row_number
from memory_server.schemas import (
    ChangelogFilter,
    DeleteByQueryIn,
    FactFilter,
    Identifier,
    RetrievalFilter,
    TimelineFilter,
)

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
SHOWN = 100  # facts, messages and changes shown on a user's page
RETRIEVALS = 20  # latest profiles and searches shown on a user's page


async def _page(caller: Caller, user_id: str, purge_error: str | None = None) -> Response:
    service, scope = caller.service, caller.scope
    record = await service.users.get(scope, user_id)
    fact_page = await service.facts(scope, user_id, FactFilter(limit=SHOWN))
    facts = fact_page.items
    histories = await service.fact_histories(scope, user_id, [fact.id for fact in facts])
    said = await service.users.timeline(scope, user_id, TimelineFilter(limit=SHOWN))
    timeline = said.timeline
    change_page = await service.changes(scope, ChangelogFilter(user_id=user_id, limit=SHOWN))
    changes = change_page.items
    # Which lists stop at SHOWN: the page says so, and where the rest is.
    cut = {
        name
        for name, page in (("facts", fact_page), ("messages", said), ("changes", change_page))
        if page.next_cursor is not None
    }
    retrievals = (await service.retrievals.page(scope, user_id, RetrievalFilter(limit=RETRIEVALS))).items
    return caller.render(
        "user.html",
        422 if purge_error else 200,
        user=record,
        facts=facts,
        histories=histories,
        timeline=timeline,
        chart=sentiment_chart(timeline),
        changes=changes,
        retrievals=retrievals,
        purge_error=purge_error,
        cut=cut,
        shown=SHOWN,
        shown_facts={fact.id for fact in facts},
    )


@router.get("/users/{user_id}")
async def user(caller: Caller, user_id: Identifier) -> Response:
    try:
        return await _page(caller, user_id)
    except NotFound:
        # A purged user's change-log rows stay (without their contents) and link here: say what became of them.
        changes = (await caller.service.changes(caller.scope, ChangelogFilter(user_id=user_id, limit=SHOWN))).items
        if not changes:
            raise
        return caller.render("gone.html", 404, user_id=user_id, changes=changes, shown=SHOWN)


@router.post("/users/{user_id}/facts/{fact_id}/delete")
async def delete_fact(caller: Caller, _: Form, user_id: Identifier, fact_id: Identifier) -> Response:
    await caller.service.delete_fact(caller.scope, fact_id, user_id)
    return redirect(f"/users/{user_id}")


class ForgetQuery(BaseModel):
    """Delete by meaning as the form sends it: nothing asked yet while `query` is empty."""

    model_config = ConfigDict(extra="ignore")

    query: str = Field("", max_length=10_000)
    threshold: str = "0.85"


def _ask(user_id: str, form: ForgetQuery) -> tuple[DeleteByQueryIn | None, dict[str, str]]:
    """The service's request for the form, or the errors by field."""
    try:
        return DeleteByQueryIn.model_validate({"user_id": user_id, **form.model_dump()}), {}
    except ValidationError as exc:
        error = from_validation(list(exc.errors()))
        return None, {error.field or "query": error.message}


@router.get("/users/{user_id}/forget")
async def forget_preview(caller: Caller, user_id: Identifier, form: Annotated[ForgetQuery, Query()]) -> Response:
    """What deleting by meaning would remove, shown before anything is deleted."""
    return await _preview(caller, user_id, form)


async def _preview(caller: Caller, user_id: str, form: ForgetQuery, errors: dict[str, str] | None = None) -> Response:
    caller.scope.require("editor")
    await caller.service.users.get(caller.scope, user_id)
    ask, invalid = _ask(user_id, form) if form.query else (None, {})
    facts, episodes = await caller.service.preview_delete_by_query(caller.scope, ask) if ask else ([], [])
    errors = {**(errors or {}), **invalid}
    status = 422 if invalid else 409 if errors else 200
    return caller.render(
        "forget.html", status, user_id=user_id, form=form, errors=errors, ask=ask, facts=facts, episodes=episodes
    )


@router.post("/users/{user_id}/forget")
async def forget(caller: Caller, fields: Form, user_id: Identifier) -> Response:
    """Delete what the preview showed: when something else matches by now, the preview is shown again instead."""
    form = ForgetQuery.model_validate(fields)
    ask, _ = _ask(user_id, form)
    if ask is None:  # the preview checked the form: only a hand-made post gets here
        return redirect(f"/users/{user_id}/forget")
    previewed = Previewed(
        frozenset(fields.get("fact_ids", "").split()),
        frozenset(n for n in map(row_number, fields.get("message_ids", "").split()) if n is not None),
    )
    try:
        await caller.service.delete_by_query(caller.scope, ask, previewed)
    except Conflict as exc:
        return await _preview(caller, user_id, form, {"query": exc.message})
    return redirect(f"/users/{user_id}")


@router.get("/users/{user_id}/export")
async def export(caller: Caller, user_id: Identifier) -> Response:
    """The user's portable export (as `memory-server export` writes it), downloaded as a file."""
    data = await caller.service.export_user(caller.scope, user_id)
    disposition = f"attachment; filename*=UTF-8''{quote(user_id, safe='')}.json"
    return Response(
        data.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/users/{user_id}/purge")
async def purge(caller: Caller, fields: Form, user_id: Identifier) -> Response:
    """Purge only when the operator typed the user's id: the one action that cannot be undone."""
    caller.scope.require("admin")
    if fields.get("confirm", "") != user_id:
        return await _page(caller, user_id, "type the user's id exactly to purge them")
    await caller.service.purge_user(caller.scope, user_id)
    return redirect("/users")
