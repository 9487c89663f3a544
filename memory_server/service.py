"""The service layer: the one place every door (HTTP, MCP, CLI, adapters) calls.

Doors parse and authorise (through `self.access`); every rule about memory lives here or in the modules
this facade composes: ingest and jobs, the extraction pipeline, retrieval, forgetting, the change log, the
config store, portability and the index. Limits that depend on settings are checked here, so every door
enforces the same ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from memory_server import (
    changelog,
    consent,
    episodes,
    extraction,
    forgetting,
    ingest,
    jobs,
    lifecycle,
    metrics,
    operations,
    portability,
    published,
    retrieval,
    revisions,
    segments,
    tasks,
    timeutil,
    webhooks,
)
from memory_server.access import Access
from memory_server.config import ExtractionConfig, Settings
from memory_server.consent import Consents
from memory_server.context import Core, Scope
from memory_server.datalock import DataDirLock
from memory_server.errors import Conflict, InvalidInput, NotFound, ServiceError, check_page_size
from memory_server.index import check as index_check
from memory_server.index import rebuild
from memory_server.models import (
    Change,
    ConfigVersion,
    Episode,
    Fact,
    Job,
    Page,
    ProfileResponse,
    RequestChanges,
    RequestLog,
    SearchResults,
    StatedFact,
    UnifiedProfile,
)
from memory_server.profile_cache import Answer, ProfileCache
from memory_server.retrieval_log import RetrievalLog
from memory_server.schemas import (
    ChangelogFilter,
    DeleteByQueryIn,
    EpisodeFilter,
    FactFilter,
    FactIn,
    InteractionIn,
    ProfileIn,
    SearchIn,
)
from memory_server.sections import Profiles
from memory_server.segments import Segments
from memory_server.store import jobs as jobsql
from memory_server.store import messages as messagesql
from memory_server.store.db import Connection
from memory_server.store.jobs import ClaimedJob
from memory_server.users import Users


class MemoryService:
    def __init__(self, core: Core, lock: DataDirLock | None = None) -> None:
        self.core = core
        self.configs = core.configs
        self._lock = lock
        self._workers: jobs.WorkerPool | None = None
        self.access = Access(core.db, core.settings)
        self.projects = self.access.projects
        self.users = Users(core)
        self.consent = Consents(core)
        self.profiles = Profiles(core)
        self.segments = Segments(core)
        self.webhooks = webhooks.Webhooks(core)
        self.published = published.Publications(core)
        self.operations = operations.Operations(core)
        self.retrievals = RetrievalLog(core)
        self.metrics = metrics.Metrics(core)
        self.profile_cache = ProfileCache(core, core.settings.profile_cache)

    @classmethod
    async def open(cls, settings: Settings, *, rebuilding: bool = False) -> MemoryService:
        """Open the deployment's parts (`lifecycle.open_core`); nothing runs until `start`."""
        core, lock = await lifecycle.open_core(settings, rebuilding=rebuilding)
        return cls(core, lock)

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, settings: Settings, *, listening: bool = True) -> AsyncIterator[MemoryService]:
        """Open, refuse unsafe exposure (when `listening` on the network), start the workers; close on the way
        out, also when start-up fails. Every process that serves (HTTP app, CLI, stdio MCP) goes through here.
        """
        service = await cls.open(settings)
        try:
            if listening:
                await service.access.check_exposure()
            await service.start()
            yield service
        finally:
            await tasks.finish(service.close())

    async def start(self) -> None:
        """Start the extraction workers and the webhook dispatcher (which first makes the deliveries a crash
        interrupted due again)."""
        self._workers = jobs.WorkerPool(
            self.core.db, self.core.settings.workers, self._run_job, self.tick, self.core.webhooks.notify
        )
        await self._workers.start()
        await self.core.webhooks.start()
        await self.retrievals.start()

    def stopping(self) -> None:
        """The process began to stop: its workers take no new job and every `wait: true` answers now."""
        if self._workers is not None:
            self._workers.drain()

    async def close(self) -> None:
        if self._workers is not None:
            await self._workers.stop()
        await self.core.webhooks.stop()
        await self.retrievals.stop()
        await self.core.cpu.close()
        await self.core.db.close()
        if self._lock is not None:
            self._lock.release()

    # ---- config ---------------------------------------------------------------------------------

    async def config(self, scope: Scope) -> ConfigVersion:
        """The tenant's current extraction config; version 0 is the one from the settings file."""
        scope.require("admin")
        return await self.configs.current(scope.space)

    async def config_history(self, scope: Scope, limit: int = 50) -> list[ConfigVersion]:
        scope.require("admin")
        self._check_page(limit)
        return await self.configs.history(scope.space, limit)

    async def config_initial(self, scope: Scope) -> ConfigVersion:
        """Version 0, the config of the settings file, which the stored history starts from."""
        scope.require("admin")
        return self.configs.initial()

    async def update_config(self, scope: Scope, changes: dict[str, Any]) -> ConfigVersion:
        """Merge `changes` into the current config; settings left out keep their value. A config whose extractor
        cannot be built, or whose taxonomy drops a label a segment names, is refused."""
        scope.require("admin")

        async def check(conn: Connection, config: ExtractionConfig) -> None:
            extraction.check_config(self.core.settings, config)
            await segments.check_taxonomy(conn, scope.space, config)

        return await self.configs.update(scope.space, scope.actor, changes, check)

    async def restore_config(self, scope: Scope, version: int) -> ConfigVersion:
        """A new version whose config equals version `version`'s (history is never rewritten)."""
        scope.require("admin")
        old = await self.configs.version(scope.space, version)
        return await self.update_config(scope, old.config)

    # ---- ingest ---------------------------------------------------------------------------------

    async def ingest(self, scope: Scope, body: InteractionIn) -> tuple[Job, bool]:
        """Store the messages and a job in one transaction; return the job and whether it already existed.

        The same messages (same session, source, roles, contents and times) published again return the
        first request instead of a new one, so a retried publish never duplicates anything. For a user marked
        "do not remember" nothing is stored, and the answer says so (`skipped: "consent"`).
        """
        scope.require("editor")
        ingest.check(self.core.settings.limits, body)
        now = timeutil.now()
        try:
            request_id, duplicate = await ingest.store(self.core, scope, body, now)
        except ingest.NotRemembered:
            return consent.skipped(body), False
        if not duplicate and self._workers is not None:
            self._workers.notify()
        if body.wait:
            await self.wait(scope, request_id)
        elif not duplicate:  # answered as stored, without reading it back (a publish waits behind busy workers)
            return ingest.accepted(request_id, body, now), False
        try:
            return await self.request(scope, request_id), duplicate
        except NotFound:
            raise Conflict(
                f"request_id: {request_id} was deleted while it was processed (its user purged, or the request "
                "retracted): nothing of it is kept",
                field="request_id",
            ) from None

    async def publish_batch(self, scope: Scope, bodies: list[InteractionIn], field: str) -> list[str | None]:
        """Interactions of many users accepted together, all or none (a batch import): each one's request id, or
        None when its user is marked "do not remember". `field` names the list in errors (`users.3.…`)."""
        scope.require("editor")
        limit = self.core.settings.limits.max_batch_users
        if not bodies or len(bodies) > limit:
            raise InvalidInput(f"{field}: from 1 to {limit} items (limits.max_batch_users)", field=field)
        for i, body in enumerate(bodies):
            try:
                ingest.check(self.core.settings.limits, body)
            except ServiceError as exc:
                raise type(exc)(f"{field}.{i}.{exc.message}", field=f"{field}.{i}.{exc.field}") from None
        stored = await ingest.store_many(self.core, scope, bodies, timeutil.now())
        if self._workers is not None and any(s is not None and not s[1] for s in stored):
            self._workers.notify()
        return [None if s is None else s[0] for s in stored]

    async def wait(self, scope: Scope, request_id: str) -> None:
        """Hold until the job is done or failed for good, up to the configured timeout."""
        if self._workers is None:
            return

        async def is_final() -> bool:
            job = await jobsql.get(self.core.db, scope.space, request_id)
            return job is None or job.status in ("done", "failed")  # None: deleted meanwhile

        await self._workers.wait_for(request_id, self.core.settings.workers.wait_timeout_seconds, is_final)

    async def request(self, scope: Scope, request_id: str) -> Job:
        """A request's status, attempts, error and the changes it made."""
        scope.require("viewer")
        job = await jobsql.get(self.core.db, scope.space, request_id)
        if job is None:
            raise NotFound(f"request_id: no request {request_id}", field="request_id")
        if job.status == "done":  # another process may have run it: the next profile here must see what it wrote
            await self.core.db.catch_up()
        job.changes = await changelog.request_view(self.core.db, scope.space, request_id)
        return job

    async def request_changes(self, scope: Scope, request_id: str) -> RequestChanges:
        """What one request (a published interaction, a stated fact, a re-extraction) changed."""
        scope.require("viewer")
        view = await changelog.request_view(self.core.db, scope.space, request_id)
        if not (view.added or view.updated or view.removed):
            await self.request(scope, request_id)  # a request that changed nothing must still exist
        return view

    async def retry(self, scope: Scope, request_id: str) -> Job:
        """Queue a failed request again."""
        scope.require("editor")
        job = await self.request(scope, request_id)
        if job.status != "failed":
            raise Conflict(f"request {request_id} is {job.status}; only a failed request can be retried")
        await jobsql.requeue_failed(self.core.db, scope.space, request_id)
        if self._workers is not None:
            self._workers.notify()
        return await self.request(scope, request_id)

    async def _run_job(self, job: ClaimedJob) -> None:
        await extraction.run_job(self.core, self.configs, job)

    async def reextract(self, scope: Scope, user_id: str) -> Job:
        """Queue a replay of all the user's stored messages through the current config."""
        scope.require("editor")
        if not await messagesql.has_user(self.core.db, scope.space, user_id):
            raise NotFound(f"user_id: no stored messages for user {user_id}", field="user_id")
        await self.consent.check(scope, user_id)
        request_id = await ingest.queue_reextract(self.core, scope, user_id, timeutil.now())
        if self._workers is not None:
            self._workers.notify()
        return await self.request(scope, request_id)

    async def reextract_everyone(self, scope: Scope) -> int:
        """Queue a re-extraction of every user with stored messages but those marked "do not remember"; how many."""
        scope.require("editor")
        queued = 0
        for user_id in await self.users_with_messages(scope):
            with contextlib.suppress(Conflict):
                await self.reextract(scope, user_id)
                queued += 1
        return queued

    async def users_with_messages(self, scope: Scope) -> list[str]:
        return await messagesql.users(self.core.db, scope.space)

    async def add_fact(self, scope: Scope, body: FactIn) -> StatedFact:
        """Store one explicitly stated fact (`revisions.state`)."""
        scope.require("editor")
        await self.consent.check(scope, body.user_id)
        return await revisions.state(self.core, self.configs, scope, body)

    async def revise_fact(
        self, scope: Scope, fact_id: str, content: str | None, attributes: dict[str, Any] | None = None
    ) -> Fact:
        """Supersede a live fact with one that says `content` (and carries `attributes`), logged as an update."""
        scope.require("editor")
        return await revisions.revise(self.core, self.configs, scope, fact_id, content, attributes)

    # ---- reading --------------------------------------------------------------------------------

    async def profile(self, scope: Scope, body: ProfileIn, request_id: str | None = None) -> ProfileResponse:
        """The per-turn profile, recorded in the retrieval log under `request_id` (a new one when None)."""
        return (await self._profile(scope, body, request_id)).response

    async def profile_json(self, scope: Scope, body: ProfileIn, request_id: str) -> bytes:
        """`profile` as the JSON the HTTP door sends (null `searchResults` and `tokens` left out), encoded once
        per answer the cache keeps."""
        return (await self._profile(scope, body, request_id)).json

    async def _profile(self, scope: Scope, body: ProfileIn, request_id: str | None) -> Answer:
        scope.require("viewer")
        answer = await self.profile_cache.answer(scope, body)
        self.retrievals.profile(
            scope, body.user_id, body.q, answer.memories, request_id or RetrievalLog.new_request_id()
        )
        return answer

    async def profile_sections(self, scope: Scope, user_id: str, sections: list[str] | None = None) -> UnifiedProfile:
        """The unified profile's sections `sections` (all when None); see `memory_server.sections`."""
        return await self.profiles.build(scope, user_id, sections)

    async def search(self, scope: Scope, body: SearchIn, request_id: str | None = None) -> SearchResults:
        """Hybrid search, recorded in the retrieval log under `request_id` (a new one when None)."""
        scope.require("viewer")
        results = (await retrieval.run_search(self.core, scope, body)).results
        self.retrievals.search(scope, body.user_id, body.query, results, request_id or RetrievalLog.new_request_id())
        return results

    async def episodes(self, scope: Scope, user_id: str, flt: EpisodeFilter) -> Page[Episode]:
        """One user's episodes (stored messages that are searchable), newest first."""
        scope.require("viewer")
        self._check_page(flt.limit)
        return await episodes.page(self.core, scope, user_id, flt)

    async def fact(self, scope: Scope, fact_id: str) -> Fact:
        scope.require("viewer")
        return await retrieval.get_fact(self.core, scope.space, fact_id)

    async def live_fact_saying(self, scope: Scope, user_id: str, content: str) -> Fact:
        """The user's live fact that says `content` (case, spacing and closing punctuation aside): for doors that
        name a memory by its text."""
        scope.require("viewer")
        return await retrieval.live_fact_saying(self.core, scope.space, user_id, content)

    async def facts(self, scope: Scope, user_id: str, flt: FactFilter) -> Page[Fact]:
        scope.require("viewer")
        self._check_page(flt.limit)
        return await retrieval.fact_page(self.core, scope.space, user_id, flt)

    async def fact_history(self, scope: Scope, fact_id: str) -> list[Change]:
        """The change-log rows of every version of a fact (what it superseded and what superseded it)."""
        scope.require("viewer")
        return await revisions.history(self.core, scope, fact_id)

    async def fact_histories(self, scope: Scope, user_id: str, fact_ids: list[str]) -> dict[str, list[Change]]:
        """`fact_history` of many of one user's facts at once (a page of them), in a few queries."""
        scope.require("viewer")
        self._check_page(len(fact_ids))
        return await revisions.histories(self.core, scope, user_id, fact_ids)

    async def changes(self, scope: Scope, flt: ChangelogFilter) -> Page[Change]:
        scope.require("viewer")
        self._check_page(flt.limit)
        return await changelog.page(self.core.db, scope.space, flt, admin=scope.allows("admin"))

    async def request_logs(self, scope: Scope, rows: int) -> list[RequestLog]:
        """The fact changes of the latest `rows` change-log rows, one entry per request, oldest first."""
        scope.require("viewer")
        self._check_page(rows)
        return await changelog.by_request(self.core.db, scope.space, rows)

    def _check_page(self, limit: int) -> None:
        check_page_size(limit, self.core.settings.limits.max_page_size)

    # ---- forgetting -----------------------------------------------------------------------------

    async def delete_fact(
        self, scope: Scope, fact_id: str, user_id: str | None = None, *, with_sources: bool = False
    ) -> tuple[Fact, list[Episode]]:
        """Delete one fact (and, `with_sources`, the messages it came from); with `user_id`, only if it is that
        user's (another user's fact reads as not found)."""
        scope.require("editor")
        return await forgetting.delete_fact(self.core, scope, fact_id, user_id, with_sources)

    async def delete_user_facts(self, scope: Scope, user_id: str) -> list[Fact]:
        """Delete all the user's live facts (not their messages: see purge_user)."""
        scope.require("editor")
        return await forgetting.delete_user_facts(self.core, scope, user_id)

    async def episode(self, scope: Scope, message_id: int) -> Episode:
        scope.require("viewer")
        return await episodes.get(self.core, scope, message_id)

    async def delete_episode(self, scope: Scope, message_id: int, user_id: str | None = None) -> Episode:
        """Delete one episode (its message); with `user_id`, only if it is that user's."""
        scope.require("editor")
        return await forgetting.delete_episode(self.core, scope, message_id, user_id)

    async def delete_by_query(
        self, scope: Scope, body: DeleteByQueryIn, previewed: forgetting.Previewed | None = None
    ) -> tuple[list[Fact], list[Episode]]:
        """Delete the user's facts and episodes that match a query (each type as `types` asks); with `previewed`,
        only if they are still the ones a preview showed (Conflict otherwise)."""
        scope.require("editor")
        return await forgetting.delete_by_query(self.core, scope, body, previewed)

    async def preview_delete_by_query(self, scope: Scope, body: DeleteByQueryIn) -> tuple[list[Fact], list[Episode]]:
        """What `delete_by_query` would delete now, deleting nothing (it needs the same role)."""
        scope.require("editor")
        return await forgetting.matching(self.core, scope, body)

    async def purge_user(self, scope: Scope, user_id: str) -> dict[str, int]:
        scope.require("admin")
        return await forgetting.purge_user(self.core, scope, user_id)

    async def tick(self) -> None:
        """The workers' periodic tick: expiry and retention, the vector outbox, then segment backfills."""
        await self.expire_due()
        await self.retrievals.sweep()
        await self.access.sweep()
        await segments.backfill_step(self.core)

    async def expire_due(self) -> int:
        """The workers' periodic tick: expire due facts and episodes, then index the episodes writes left queued."""
        expired = await forgetting.expire_due(self.core)
        await self.core.vectors.flush()
        return expired

    # ---- portability ----------------------------------------------------------------------------

    async def export_user(self, scope: Scope, user_id: str) -> portability.UserExport:
        scope.require("admin")
        return await portability.export_user(self.core, scope, user_id)

    async def import_user(self, scope: Scope, data: portability.UserExport) -> dict[str, int]:
        scope.require("admin")
        return await portability.import_user(self.core, scope, data)

    async def reindex(self, progress: rebuild.Progress | None = None) -> int:
        return await rebuild.reindex(self.core, progress)

    async def check_index(self, repair: bool = False) -> index_check.IndexReport:
        """Compare the vector index with SQLite; with `repair`, replay what disagrees."""
        return await index_check.check_and_repair(self.core, repair)
