"""Consent: a user marked "do not remember" has nothing of later publishes stored or extracted.

`Consents` is the part of the service facade for it (`MemoryService.consent`). The mark is checked where every
door's publish goes through (`ingest.store`), so no door can get around it; what was remembered before the mark
stays until it is purged. A purge keeps the mark: forgetting someone must not start remembering them again.
"""

from __future__ import annotations

import uuid

from memory_server import ingest, timeutil
from memory_server.context import Core, Scope
from memory_server.errors import Conflict
from memory_server.models import Consent, Job
from memory_server.schemas import ConsentIn, InteractionIn
from memory_server.store import changelog as changesql
from memory_server.store import consent as consentsql
from memory_server.store.changelog import ChangeEvent


class Consents:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def get(self, scope: Scope, user_id: str) -> Consent:
        """The user's mark; a user never marked (or never seen) may be remembered."""
        scope.require("viewer")
        return await consentsql.get(self.core.db, scope.space, user_id) or Consent()

    async def check(self, scope: Scope, user_id: str) -> None:
        """Refuse a write that would remember something of a user marked "do not remember" (a fact stated
        outright, a re-extraction): a 409, as the state of the user, not the request, is in the way."""
        if not (await self.get(scope, user_id)).remember:
            raise Conflict(
                f'user_id: {user_id} is marked "do not remember" (PUT /v1/users/{{id}}/consent); nothing was stored',
                field="user_id",
            )

    async def set(self, scope: Scope, user_id: str, body: ConsentIn) -> Consent:
        """Mark the user (editor), with a change-log row holding the mark before and after in the same transaction."""
        scope.require("editor")
        now = timeutil.now()
        after = Consent(remember=body.remember, reason=body.reason, updated_by=scope.actor, updated_at=now)
        async with self.core.db.transaction() as conn:
            before = await consentsql.get(conn, scope.space, user_id) or Consent()
            await consentsql.put(conn, scope.space, user_id, after)
            await changesql.record(
                conn, ChangeEvent("consent", scope.space, user_id, scope.actor, now, before=before, after=after)
            )
        return after


def skipped(body: InteractionIn) -> Job:
    """The answer to a publish for a user marked "do not remember": done, nothing stored, and why."""
    now = timeutil.now()
    job = ingest.accepted(str(uuid.uuid4()), body, now)
    return job.model_copy(update={"status": "done", "finished_at": now, "skipped": "consent"})
