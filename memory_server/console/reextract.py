"""Re-extracting a user, or everyone, through the current config, and a page that follows how far it has got.

The progress page counts the re-extraction requests accepted since the moment the operator started (of one user,
when one was named) and reloads itself with `<meta http-equiv="refresh">` until none is queued or running: no
script runs, so the console's content policy stays as strict as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from memory_server import timeutil
from memory_server.console.web import PREFIX, Caller, ConsoleRoute, Form, errors_by_field, redirect
from memory_server.errors import InvalidInput, ServiceError
from memory_server.schemas import Identifier

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
REFRESH_SECONDS = 2


class Started(BaseModel):
    """A re-extraction started at `since` (of `user`, when one was named); none yet without `since`."""

    model_config = ConfigDict(extra="ignore")

    since: datetime | None = None
    user: Identifier | None = None


@router.get("/reextract")
async def reextract_page(caller: Caller, started: Annotated[Started, Query()]) -> Response:
    progress = None
    if started.since is not None:
        progress = await caller.service.operations.progress(caller.scope, "reextract", started.since, started.user)
    return caller.render(
        "reextract.html", started=started, progress=progress, refresh=REFRESH_SECONDS, errors={}, shown=""
    )


@router.post("/reextract")
async def reextract(caller: Caller, fields: Form) -> Response:
    """Queue one user's re-extraction (`user_id`) or everyone's (`everyone`), then follow it."""
    caller.scope.require("editor")
    since = timeutil.now()
    user_id = fields.get("user_id", "").strip()
    try:
        if "everyone" in fields:
            await caller.service.reextract_everyone(caller.scope)
        elif not user_id:
            raise InvalidInput("user_id: name the user to re-extract, or re-extract everyone", field="user_id")
        else:
            await caller.service.reextract(caller.scope, user_id)
    except ServiceError as exc:
        errors = errors_by_field(exc, ["user_id"])
        return caller.render(
            "reextract.html", exc.status, started=Started(), progress=None, refresh=0, errors=errors, shown=user_id
        )
    query = {"since": timeutil.to_db(since)} | ({} if "everyone" in fields else {"user": user_id})
    return redirect(f"/reextract?{urlencode(query)}")
