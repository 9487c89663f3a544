"""The overview and the users list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from memory_server.console.web import PREFIX, Caller, ConsoleRoute, pages_of, to_last_page
from memory_server.schemas import UserFilter

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 20


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
    pages = pages_of(found.total, PAGE_SIZE)
    if query.page > pages:
        return to_last_page(caller, pages)
    return caller.render("users.html", found=found, query=query, segments=segments, pages=pages)
