"""What an operator watches: counts of a memory space and its requests by status.

`Operations` is the part of the service facade for them (`MemoryService.operations`); the console's overview
and requests pages call it.
"""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from pydantic import BaseModel, Field

from memory_server import changelog, timeutil
from memory_server.context import Core, Scope
from memory_server.errors import InvalidInput, check_page_size
from memory_server.models import Change, Job, JobStatus
from memory_server.schemas import ChangelogFilter
from memory_server.store import jobs as jobsql
from memory_server.store import overview as overviewsql

RECENT = 10


class Overview(BaseModel):
    users: int
    live_facts: int
    messages: int
    requests: dict[str, int] = Field(description="Requests by status (queued, running, done, failed).")
    failed: list[Job] = Field(description="The latest failed requests.")
    changes: list[Change] = Field(description="The latest change-log rows.")


class RequestList(BaseModel):
    requests: list[Job]
    total: int


class Progress(BaseModel):
    """Requests of one kind accepted since a moment (a batch an operator started), by status."""

    requests: dict[str, int] = Field(description="Requests by status (queued, running, done, failed).")
    total: int
    finished: bool = Field(description="None is queued or running.")
    latest: list[Job]


class Operations:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def overview(self, scope: Scope) -> Overview:
        scope.require("viewer")
        counts = await overviewsql.counts(self.core.db, scope.space, timeutil.now())
        by_status = await overviewsql.requests_by_status(self.core.db, scope.space)
        failed, _ = await jobsql.page(self.core.db, scope.space, "failed", RECENT, 0)
        changes = await changelog.page(
            self.core.db, scope.space, ChangelogFilter(limit=RECENT), admin=scope.allows("admin")
        )
        return Overview(
            **counts,
            requests={status: by_status.get(status, 0) for status in get_args(JobStatus)},
            failed=failed,
            changes=changes.items,
        )

    async def requests(self, scope: Scope, status: str | None, limit: int, offset: int) -> RequestList:
        """The space's requests, newest first, with `status` when given."""
        scope.require("viewer")
        check_page_size(limit, self.core.settings.limits.max_page_size)
        if status is not None and status not in get_args(JobStatus):
            raise InvalidInput(f"status: one of {', '.join(get_args(JobStatus))}", field="status")
        jobs, total = await jobsql.page(self.core.db, scope.space, status, limit, offset)
        return RequestList(requests=jobs, total=total)

    async def progress(self, scope: Scope, kind: str, since: datetime, user_id: str | None = None) -> Progress:
        """How far the requests of `kind` accepted since `since` (of `user_id`, when given) have got."""
        scope.require("viewer")
        counts, latest = await jobsql.since(self.core.db, scope.space, kind, since, user_id, RECENT)
        by_status = {status: counts.get(status, 0) for status in get_args(JobStatus)}
        waiting = by_status["queued"] + by_status["running"]
        return Progress(requests=by_status, total=sum(by_status.values()), finished=waiting == 0, latest=latest)
