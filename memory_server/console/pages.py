"""The overview, the users list and a user's page, with deleting a fact and purging a user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from memory_server.console.chart import sentiment_chart
from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, redirect
from memory_server.errors import InvalidInput
from memory_server.schemas import ChangelogFilter, FactFilter, Identifier, TimelineFilter, UserFilter

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 20
SHOWN = 100  # facts, messages and changes shown on a user's page


@router.get("")
async def overview(caller: Caller) -> Response:
    return caller.render("overview.html", overview=await caller.service.operations.overview(caller.scope))


class UsersQuery(BaseModel):
    """The users list's filters as the form sends them: empty fields mean no filter."""

    model_config = ConfigDict(extra="ignore")

    q: str = Field("", max_length=256)
    churn_risk_gte: str = ""
    sentiment_trend: str = ""
    segment: str = ""
    page: int = Field(1, ge=1, le=10_000)

    def to_filter(self) -> UserFilter:
        return UserFilter.model_validate(
            {
                "id_prefix": self.q.strip() or None,
                "churn_risk_gte": self.churn_risk_gte or None,
                "sentiment_trend": self.sentiment_trend or None,
                "segment": self.segment or None,
                "limit": PAGE_SIZE,
                "offset": (self.page - 1) * PAGE_SIZE,
            }
        )


@router.get("/users")
async def users(caller: Caller, query: Annotated[UsersQuery, Query()]) -> Response:
    found = await caller.service.users.list(caller.scope, query.to_filter(), {})
    # Listing segments takes an admin; others filter by a segment's id.
    segments = await caller.service.segments.list(caller.scope) if caller.is_admin else []
    pages = max(1, -(-found.total // PAGE_SIZE))
    return caller.render("users.html", found=found, query=query, segments=segments, pages=pages)


@router.get("/users/{user_id}")
async def user(caller: Caller, user_id: Identifier) -> Response:
    service, scope = caller.service, caller.scope
    record = await service.users.get(scope, user_id)
    facts = (await service.facts(scope, user_id, FactFilter(limit=SHOWN))).items
    histories = {fact.id: await service.fact_history(scope, fact.id) for fact in facts}
    timeline = (await service.users.timeline(scope, user_id, TimelineFilter(limit=SHOWN))).timeline
    changes = (await service.changes(scope, ChangelogFilter(user_id=user_id, limit=SHOWN))).items
    return caller.render(
        "user.html",
        user=record,
        facts=facts,
        histories=histories,
        timeline=timeline,
        chart=sentiment_chart(timeline),
        changes=changes,
    )


@router.post("/users/{user_id}/facts/{fact_id}/delete")
async def delete_fact(caller: Caller, _: Form, user_id: Identifier, fact_id: Identifier) -> Response:
    await caller.service.delete_fact(caller.scope, fact_id, user_id)
    return redirect(f"/users/{user_id}")


@router.post("/users/{user_id}/purge")
async def purge(caller: Caller, fields: Form, user_id: Identifier) -> Response:
    """Purge only when the operator typed the user's id: the one action that cannot be undone."""
    if fields.get("confirm", "") != user_id:
        raise InvalidInput("confirm: type the user's id exactly to purge them", field="confirm")
    await caller.service.purge_user(caller.scope, user_id)
    return redirect("/users")
