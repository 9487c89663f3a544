"""The retrieval log: which memories each profile and search returned, with their scores, for which request,
query and caller, so that "why did the assistant say that?" has an answer.

Recording never touches SQLite on the request path (the profile is the call made before every turn): entries wait
in memory (`Core.retrievals`) and a background task writes them in batches every `flush_seconds`, and once more on
shutdown. The trade-off: a crash (not a clean shutdown) loses the entries of the last interval, about a second of
them; the log explains answers, it is not the source of truth. Entries are kept `retention_days` and then swept by
the workers' tick; purging a user removes theirs. Every door's profile and search (HTTP, MCP, compatibility
routes) goes through the service, which records here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_core import to_json

from memory_server import timeutil
from memory_server.context import Core, Scope
from memory_server.errors import check_page_size
from memory_server.models import Page, SearchResults
from memory_server.schemas import RetrievalFilter
from memory_server.store import retrievals as retrievalsql
from memory_server.store.db import Row
from memory_server.store.retrievals import Entry
from memory_server.throttle import Throttle, worth_a_traceback

log = logging.getLogger(__name__)


class RetrievedMemory(BaseModel):
    type: Literal["fact", "episode"]
    id: str
    score: float | None = Field(description="The search score as returned; null for profile facts (not scored).")
    section: Literal["static", "dynamic", "search"] = Field(
        description="Where the answer showed it: the profile's static or dynamic facts, or the search results."
    )


class Retrieval(BaseModel):
    id: int
    user_id: str
    request_id: str
    kind: Literal["profile", "search"]
    query: str | None
    actor: str
    memories: list[RetrievedMemory]
    created_at: datetime


def _hits(results: SearchResults | None) -> list[dict[str, Any]]:
    """Plain dicts in `RetrievedMemory`'s shape: built on the request path, so no model per memory."""
    hits = results.results if results is not None else []
    return [{"type": h.type, "id": h.id, "score": h.score, "section": "search"} for h in hits]


def encode(memories: list[dict[str, Any]]) -> str:
    """The JSON a retrieval-log row stores of what an answer returned (pydantic-core's encoder: a third of
    json.dumps's time, and this runs on every profile built and every search)."""
    return to_json(memories).decode()


def _to_retrieval(row: Row) -> Retrieval:
    created_at = timeutil.from_db(row["created_at"])
    assert created_at is not None
    memories = [RetrievedMemory.model_validate(m) for m in json.loads(row["memories"])]
    return Retrieval(**{**dict(row), "memories": memories, "created_at": created_at})


class RetrievalLog:
    """The part of the service facade for the retrieval log (`MemoryService.retrievals`)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.settings = core.settings.retrieval_log
        self._writer: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._failures = Throttle()  # a batch that cannot be written, each round while the database is away

    def profile(self, scope: Scope, user_id: str, query: str | None, memories: str, request_id: str) -> None:
        """Record a profile answer's memories, as JSON (`profile_cache.logged_memories`: its facts in order, then
        its search results with their scores)."""
        if self.settings.enabled:
            self._record(scope, user_id, "profile", query, memories, request_id)

    def search(self, scope: Scope, user_id: str, query: str, results: SearchResults, request_id: str) -> None:
        if self.settings.enabled:
            self._record(scope, user_id, "search", query, encode(_hits(results)), request_id)

    def _record(
        self,
        scope: Scope,
        user_id: str,
        kind: str,
        query: str | None,
        memories: str,
        request_id: str,
    ) -> None:
        at = timeutil.to_db(timeutil.now())
        self.core.retrievals.add(Entry(scope.space, user_id, request_id, kind, query, scope.actor, memories, at))

    @staticmethod
    def new_request_id() -> str:
        return str(uuid.uuid4())

    async def page(self, scope: Scope, user_id: str, flt: RetrievalFilter) -> Page[Retrieval]:
        """One user's retrievals, newest first (entries still buffered appear after the next flush)."""
        scope.require("viewer")
        check_page_size(flt.limit, self.core.settings.limits.max_page_size)
        before = None if flt.cursor is None else int(flt.cursor)
        rows, next_id = await retrievalsql.page(self.core.db, scope.space, user_id, before, flt.limit)
        return Page[Retrieval](
            items=[_to_retrieval(r) for r in rows], next_cursor=None if next_id is None else str(next_id)
        )

    async def start(self) -> None:
        self._stopping.clear()
        self._writer = asyncio.create_task(self._write_every(), name="retrieval-log")

    async def stop(self) -> None:
        """Let the writer write what is left and end (a clean shutdown loses nothing). It is told, not cancelled:
        a cancel during a write would roll back a batch already taken from the buffer."""
        self._stopping.set()
        if self._writer is None:
            await self.flush()
            return
        await self._writer
        self._writer = None

    async def flush(self) -> int:
        buffer = self.core.retrievals
        if buffer.dropped:
            log.warning("retrieval log: %d entries dropped while the writer fell behind", buffer.dropped)
            buffer.dropped = 0
        return await buffer.write(self.core.db)

    async def _write_every(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.flush_seconds):
                    await self._stopping.wait()
            try:
                await self.flush()
            except Exception as exc:  # a busy database must not end the writer; the next round tries again
                if self._failures.due():
                    log.warning("retrieval log: could not write a batch: %s", exc, exc_info=worth_a_traceback(exc))
            else:
                self._failures.reset()

    async def sweep(self) -> int:
        """Delete entries older than the retention (one batch; the workers' tick calls it again)."""
        before = timeutil.now() - timedelta(days=self.settings.retention_days)
        return await retrievalsql.sweep(self.core.db, before)
