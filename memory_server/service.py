"""The service layer: the one place every door (HTTP, MCP, CLI, adapters) calls.

Doors parse and authorise; every rule about memory lives here or in the modules it composes:
ingest and jobs, the extraction pipeline, reading (retrieval), deleting, the change log, config.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import uuid
from typing import Any

from extractors.base import CandidateFact, ExtractionContext, Extractor, Message, create_extractor
from memory_server import changelog as changesql
from memory_server import facts as factsql
from memory_server import jobs, portability, retrieval, timeutil
from memory_server.config import ExtractionConfig, Settings
from memory_server.context import Core, Scope
from memory_server.datalock import DataDirLock
from memory_server.db import Database
from memory_server.embedder import create_embedder
from memory_server.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from memory_server.models import (
    Change,
    ConfigVersion,
    Fact,
    FactUpdate,
    Job,
    Page,
    ProfileResponse,
    RequestChanges,
    SearchResults,
)
from memory_server.pipeline import Origin, apply_candidates
from memory_server.reconcile import Reconciler, RulesReconciler
from memory_server.schemas import (
    ChangelogFilter,
    DeleteByQueryIn,
    FactFilter,
    FactIn,
    InteractionIn,
    ProfileIn,
    SearchIn,
)
from memory_server.vectors import ChromaIndex, VectorSync

log = logging.getLogger(__name__)
EXPIRY_ACTOR = "system:expiry"


class MemoryService:
    def __init__(self, core: Core, lock: DataDirLock | None = None) -> None:
        self.core = core
        self._lock = lock
        self._workers: jobs.WorkerPool | None = None
        self._config_cache: dict[str, tuple[int, ExtractionConfig]] = {}

    @classmethod
    async def open(cls, settings: Settings) -> MemoryService:
        """Lock the data directory, migrate SQLite, open the index and replay pending vector operations."""
        lock = DataDirLock(settings.data_dir)
        lock.acquire()
        try:
            db = Database(settings.db_path)
            await db.open()
            embedder = create_embedder(settings.embedder)
            if settings.embedder.provider == "onnx-minilm":
                await embedder.embed(["warm-up"])  # load the local model now, not on a user's first request
            index = ChromaIndex(settings.chroma_path, embedder.model_id)
            core = Core(settings, db, embedder, index, VectorSync(db, index))
            service = cls(core, lock)
            await core.vectors.flush()
        except BaseException:
            lock.release()
            raise
        return service

    async def _check_vector_model(self) -> None:
        row = await self.core.db.fetchone(
            "SELECT model_id FROM fact_vectors WHERE model_id != ? LIMIT 1", (self.core.embedder.model_id,)
        )
        if row is not None:
            raise Conflict(
                f"stored vectors were made by {row[0]}, but the embedder is now {self.core.embedder.model_id}: "
                "run `memory-server reindex` to re-embed them, or switch the embedder back"
            )

    async def start(self) -> None:
        """Refuse to serve vectors of another model, then start the extraction workers."""
        await self._check_vector_model()
        self._workers = jobs.WorkerPool(self.core.db, self.core.settings.workers, self._run_job, self.expire_due)
        await self._workers.start()

    async def close(self) -> None:
        if self._workers is not None:
            await self._workers.stop()
        await self.core.db.close()
        if self._lock is not None:
            self._lock.release()

    # ---- config -------------------------------------------------------------------------------

    async def config(self, scope: Scope) -> ConfigVersion:
        """The tenant's current extraction config; version 0 is the one from the settings file."""
        row = await self.core.db.fetchone(
            "SELECT version, body, actor, created_at FROM config_versions WHERE tenant_id = ? "
            "ORDER BY version DESC LIMIT 1",
            (scope.tenant_id,),
        )
        if row is None:
            return ConfigVersion(
                version=0,
                config=self.core.settings.extraction.model_dump(),
                actor="settings",
                created_at=timeutil.now(),
            )
        return ConfigVersion(
            version=row[0], config=json.loads(row[1]), actor=row[2], created_at=timeutil.from_db(row[3])
        )

    async def config_history(self, scope: Scope, limit: int = 50) -> list[ConfigVersion]:
        rows = await self.core.db.fetchall(
            "SELECT version, body, actor, created_at FROM config_versions WHERE tenant_id = ? "
            "ORDER BY version DESC LIMIT ?",
            (scope.tenant_id, min(limit, self.core.settings.limits.max_page_size)),
        )
        return [
            ConfigVersion(version=r[0], config=json.loads(r[1]), actor=r[2], created_at=timeutil.from_db(r[3]))
            for r in rows
        ]

    async def update_config(self, scope: Scope, changes: dict[str, Any]) -> ConfigVersion:
        """Merge `changes` into the current config, validate the whole, and store it as a new version."""
        current = await self.config(scope)
        unknown = sorted(set(changes) - set(ExtractionConfig.model_fields))
        if unknown:
            raise InvalidInput(f"unknown setting {unknown[0]!r}", field=unknown[0])
        merged = ExtractionConfig.model_validate({**current.config, **changes})
        _check_extractor(merged.extractor)
        now = timeutil.now()
        async with self.core.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO config_versions (tenant_id, version, body, actor, created_at) VALUES (?, ?, ?, ?, ?)",
                (
                    scope.tenant_id,
                    current.version + 1,
                    merged.model_dump_json(),
                    scope.actor,
                    timeutil.to_db(now),
                ),
            )
        self._config_cache.pop(scope.tenant_id, None)
        return ConfigVersion(version=current.version + 1, config=merged.model_dump(), actor=scope.actor, created_at=now)

    async def _extraction_config(self, tenant_id: str) -> tuple[int, ExtractionConfig]:
        cached = self._config_cache.get(tenant_id)
        if cached is None:
            current = await self.config(Scope(tenant_id, "system"))
            cached = (current.version, ExtractionConfig.model_validate(current.config))
            self._config_cache[tenant_id] = cached
        return cached

    # ---- ingest -------------------------------------------------------------------------------

    def _check_interaction(self, body: InteractionIn) -> None:
        limits = self.core.settings.limits
        if len(body.messages) > limits.max_messages:
            raise PayloadTooLarge(f"at most {limits.max_messages} messages per request", field="messages")
        for i, message in enumerate(body.messages):
            if len(message.content) > limits.max_content_chars:
                raise PayloadTooLarge(
                    f"message content must be at most {limits.max_content_chars} characters",
                    field=f"messages.{i}.content",
                )
        _check_attributes_size(body.attributes, limits.max_attributes_bytes)

    async def ingest(self, scope: Scope, body: InteractionIn) -> tuple[Job, bool]:
        """Store the messages and a job in one transaction; return the job and whether it already existed."""
        self._check_interaction(body)
        now = timeutil.now()
        stamped = [(m.role, m.content, timeutil.to_db(m.created_at or now)) for m in body.messages]
        payload_hash = hashlib.sha256(
            json.dumps(
                [
                    body.session_id,
                    body.source,
                    [(m.role, m.content, m.created_at and m.created_at.isoformat()) for m in body.messages],
                ],
                ensure_ascii=False,
            ).encode()
        ).hexdigest()
        request_id = await self._existing_request(scope, body.user_id, payload_hash)
        duplicate = request_id is not None
        if request_id is None:
            request_id = str(uuid.uuid4())
            try:
                async with self.core.db.transaction() as conn:
                    await conn.executemany(
                        "INSERT INTO messages (tenant_id, user_id, request_id, session_id, position, role, content, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            (scope.tenant_id, body.user_id, request_id, body.session_id, i, role, content, at)
                            for i, (role, content, at) in enumerate(stamped)
                        ],
                    )
                    await jobs.enqueue(
                        conn,
                        request_id=request_id,
                        tenant_id=scope.tenant_id,
                        user_id=body.user_id,
                        kind="extract",
                        actor=scope.actor,
                        at=now,
                        source=body.source,
                        session_id=body.session_id,
                        attributes=body.attributes,
                        payload_hash=payload_hash,
                    )
            except sqlite3.IntegrityError:  # the same payload raced in
                request_id = await self._existing_request(scope, body.user_id, payload_hash)
                if request_id is None:
                    raise
                duplicate = True
            if self._workers is not None:
                self._workers.notify()
        if body.wait:
            await self.wait(scope, request_id)
        return await self.request(scope, request_id), duplicate

    async def _existing_request(self, scope: Scope, user_id: str, payload_hash: str) -> str | None:
        row = await self.core.db.fetchone(
            "SELECT request_id FROM jobs WHERE tenant_id = ? AND user_id = ? AND payload_hash = ?",
            (scope.tenant_id, user_id, payload_hash),
        )
        return None if row is None else row[0]

    async def wait(self, scope: Scope, request_id: str) -> None:
        """Hold until the job is done or failed for good, up to the configured timeout."""
        if self._workers is None:
            return

        async def is_final() -> bool:
            return (await self.request(scope, request_id)).status in ("done", "failed")

        await self._workers.wait_for(request_id, self.core.settings.workers.wait_timeout_seconds, is_final)

    async def request(self, scope: Scope, request_id: str) -> Job:
        row = await self.core.db.fetchone(
            f"SELECT {jobs.COLUMNS} FROM jobs WHERE tenant_id = ? AND request_id = ?",
            (scope.tenant_id, request_id),
        )
        if row is None:
            raise NotFound(f"no request {request_id}", field="request_id")
        job = jobs.to_job(row)
        job.changes = await self.request_changes(scope, request_id)
        return job

    async def retry(self, scope: Scope, request_id: str) -> Job:
        job = await self.request(scope, request_id)
        if job.status != "failed":
            raise Conflict(f"request {request_id} is {job.status}; only a failed request can be retried")
        async with self.core.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET status = 'queued', attempts = 0, run_after = ?, finished_at = NULL "
                "WHERE tenant_id = ? AND request_id = ?",
                (timeutil.to_db(timeutil.now()), scope.tenant_id, request_id),
            )
        if self._workers is not None:
            self._workers.notify()
        return await self.request(scope, request_id)

    async def _run_job(self, job: jobs.ClaimedJob) -> None:
        scope = Scope(job.tenant_id, job.actor)
        async with self.core.user_lock(job.tenant_id, job.user_id):
            version, config = await self._extraction_config(job.tenant_id)
            rows = await self.core.db.fetchall(
                "SELECT id, role, content, created_at FROM messages WHERE tenant_id = ? AND request_id = ? "
                "ORDER BY position",
                (job.tenant_id, job.request_id),
            )
            messages = [Message(role=r[1], content=r[2], created_at=timeutil.from_db(r[3])) for r in rows]
            extractor = create_extractor(config.extractor)
            candidates: list[CandidateFact] = []
            if not config.sources or job.source in config.sources:
                candidates = await extractor.extract(messages, self._context(job.user_id, config))
            origin = Origin(
                request_id=job.request_id,
                user_id=job.user_id,
                source=job.source,
                attributes=job.attributes,
                message_ids=[r[0] for r in rows],
                message_times=[m.created_at for m in messages],
                config_version=version,
                finishes_job=True,
            )
            await apply_candidates(
                self.core,
                scope,
                candidates,
                origin,
                config,
                self._reconciler(config),
                f"{job.actor}/extractor:{extractor.name}",
            )

    def _context(self, user_id: str, config: ExtractionConfig) -> ExtractionContext:
        return ExtractionContext(user_id=user_id, now=timeutil.now(), options={"roles": list(config.roles)})

    def _reconciler(self, config: ExtractionConfig) -> Reconciler:
        return RulesReconciler(config.duplicate_threshold)

    async def add_fact(self, scope: Scope, body: FactIn) -> tuple[Fact | None, str]:
        """Store one explicitly stated fact (reconciled like extracted ones); return it, or None if it was known."""
        limits = self.core.settings.limits
        if len(body.content) > limits.max_content_chars:
            raise PayloadTooLarge(f"content must be at most {limits.max_content_chars} characters", field="content")
        _check_attributes_size(body.attributes, limits.max_attributes_bytes)
        candidate = CandidateFact(
            content=body.content, kind=body.kind, ttl_seconds=body.ttl_seconds, confidence=body.confidence
        )
        version, config = await self._extraction_config(scope.tenant_id)
        origin = Origin(
            request_id=str(uuid.uuid4()),
            user_id=body.user_id,
            source=body.source,
            attributes=body.attributes,
            config_version=version,
        )
        async with self.core.user_lock(scope.tenant_id, body.user_id):
            [(decision, fact)] = await apply_candidates(
                self.core,
                scope,
                [candidate],
                origin,
                config.model_copy(update={"min_confidence": 0.0}),
                self._reconciler(config),
                scope.actor,
            )
        if fact is None and decision.target_ids:
            fact = await self.fact(scope, decision.target_ids[0])
        return fact, origin.request_id

    # ---- reading --------------------------------------------------------------------------------

    async def profile(self, scope: Scope, body: ProfileIn) -> ProfileResponse:
        return await retrieval.profile(self.core, scope, body)

    async def search(self, scope: Scope, body: SearchIn) -> SearchResults:
        return (await retrieval.run_search(self.core, scope, body))[1]

    async def fact(self, scope: Scope, fact_id: str) -> Fact:
        row = await self.core.db.fetchone(
            f"SELECT {factsql.COLUMNS} FROM facts WHERE tenant_id = ? AND id = ?", (scope.tenant_id, fact_id)
        )
        if row is None:
            raise NotFound(f"no fact {fact_id}", field="fact_id")
        return _effective(factsql.to_fact(row))

    async def facts(self, scope: Scope, user_id: str, flt: FactFilter) -> Page[Fact]:
        """One user's facts, newest first; status 'active' means live (not yet expired)."""
        self._check_page(flt.limit)
        where, params = ["f.tenant_id = ?", "f.user_id = ?"], [scope.tenant_id, user_id]
        now = timeutil.to_db(timeutil.now())
        if flt.status == "active":
            where.append(factsql.LIVE)
            params.append(now)
        elif flt.status == "expired":
            where.append("(f.status = 'expired' OR (f.status = 'active' AND f.expires_at <= ?))")
            params.append(now)
        elif flt.status != "all":
            where.append("f.status = ?")
            params.append(flt.status)
        extra, extra_params = factsql.filters_sql(flt.kind, flt.source)
        if flt.cursor is not None:
            where.append("f.rowid < ?")
            params.append(_cursor(flt.cursor))
        rows = await self.core.db.fetchall(
            f"SELECT {factsql.F_COLUMNS}, f.rowid FROM facts f WHERE {' AND '.join(where)}{extra} "
            "ORDER BY f.rowid DESC LIMIT ?",
            (*params, *extra_params, flt.limit + 1),
        )
        more = len(rows) > flt.limit
        rows = rows[: flt.limit]
        return Page[Fact](
            items=[_effective(factsql.to_fact(r)) for r in rows],
            next_cursor=str(rows[-1][16]) if more else None,
        )

    def _check_page(self, limit: int) -> None:
        if limit > self.core.settings.limits.max_page_size:
            raise InvalidInput(f"limit must be at most {self.core.settings.limits.max_page_size}", field="limit")

    # ---- deleting -----------------------------------------------------------------------------

    async def delete_fact(self, scope: Scope, fact_id: str) -> Fact:
        fact = await self.fact(scope, fact_id)
        async with self.core.user_lock(scope.tenant_id, fact.user_id):
            return (await self._delete(scope, fact.user_id, [fact]))[0]

    async def delete_by_query(self, scope: Scope, body: DeleteByQueryIn) -> list[Fact]:
        """Delete the user's live facts that match `query` at or above `threshold`."""
        async with self.core.user_lock(scope.tenant_id, body.user_id):
            found, _ = await retrieval.run_search(
                self.core,
                scope,
                SearchIn(user_id=body.user_id, query=body.query, threshold=body.threshold, top_k=body.top_k),
            )
            return await self._delete(scope, body.user_id, found)

    async def _delete(self, scope: Scope, user_id: str, targets: list[Fact]) -> list[Fact]:
        now = timeutil.now()
        done = []
        async with self.core.db.transaction() as conn:
            for fact in targets:
                if fact.status == "deleted":
                    done.append(fact)
                    continue
                after = await factsql.set_status(conn, fact, "deleted", now)
                await changesql.record(
                    conn,
                    changesql.ChangeEvent("delete", scope.tenant_id, user_id, scope.actor, now, fact.id, fact, after),
                )
                done.append(after)
        await self.core.vectors.flush()
        return done

    async def purge_user(self, scope: Scope, user_id: str) -> dict[str, int]:
        """Remove the user's messages, facts, vectors and jobs, and blank their change-log contents."""
        now = timeutil.now()
        async with self.core.user_lock(scope.tenant_id, user_id), self.core.db.transaction() as conn:
            counts = {}
            ids = [
                r[0]
                for r in await conn.execute_fetchall(
                    "SELECT id FROM facts WHERE tenant_id = ? AND user_id = ?", (scope.tenant_id, user_id)
                )
            ]
            await factsql.mark_vector_dirty(conn, ids)
            counts["facts"] = len(ids)
            for table in ("messages", "jobs"):
                cur = await conn.execute(
                    f"DELETE FROM {table} WHERE tenant_id = ? AND user_id = ?", (scope.tenant_id, user_id)
                )
                counts[table] = cur.rowcount
            await conn.execute("DELETE FROM facts WHERE tenant_id = ? AND user_id = ?", (scope.tenant_id, user_id))
            cur = await conn.execute(
                "UPDATE changelog SET before = NULL, after = NULL WHERE tenant_id = ? AND user_id = ?",
                (scope.tenant_id, user_id),
            )
            counts["changes_blanked"] = cur.rowcount
            await changesql.record(conn, changesql.ChangeEvent("purge", scope.tenant_id, user_id, scope.actor, now))
        await self.core.vectors.flush()
        return counts

    async def expire_due(self) -> int:
        """Mark dynamic facts past their expiry as expired, with a change-log row each."""
        now = timeutil.now()
        rows = await self.core.db.fetchall(
            f"SELECT {factsql.COLUMNS}, tenant_id FROM facts WHERE status = 'active' AND expires_at <= ? LIMIT 500",
            (timeutil.to_db(now),),
        )
        if not rows:
            return 0
        async with self.core.db.transaction() as conn:
            for row in rows:
                fact = factsql.to_fact(row)
                after = await factsql.set_status(conn, fact, "expired", now)
                await changesql.record(
                    conn,
                    changesql.ChangeEvent("expire", row[16], fact.user_id, EXPIRY_ACTOR, now, fact.id, fact, after),
                )
        await self.core.vectors.flush()
        return len(rows)

    # ---- portability ----------------------------------------------------------------------------

    async def export_user(self, scope: Scope, user_id: str) -> portability.UserExport:
        return await portability.export_user(self.core, scope, user_id)

    async def import_user(self, scope: Scope, data: portability.UserExport) -> dict[str, int]:
        try:
            return await portability.import_user(self.core, scope, data)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None

    async def reindex(self, progress: portability.Progress | None = None) -> int:
        return await portability.reindex(self.core, progress)

    # ---- change log -----------------------------------------------------------------------------

    async def changes(self, scope: Scope, flt: ChangelogFilter) -> Page[Change]:
        self._check_page(flt.limit)
        where, params = ["tenant_id = ?"], [scope.tenant_id]
        for column, value in (("user_id", flt.user_id), ("request_id", flt.request_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if flt.since is not None:
            where.append("created_at >= ?")
            params.append(timeutil.to_db(flt.since))
        if flt.cursor is not None:
            where.append("id < ?")
            params.append(_cursor(flt.cursor))
        rows = await self.core.db.fetchall(
            f"SELECT {changesql.COLUMNS} FROM changelog WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, flt.limit + 1),
        )
        more = len(rows) > flt.limit
        rows = rows[: flt.limit]
        return Page[Change](
            items=[changesql.to_change(r) for r in rows], next_cursor=str(rows[-1][0]) if more else None
        )

    async def request_changes(self, scope: Scope, request_id: str) -> RequestChanges:
        rows = await self.core.db.fetchall(
            f"SELECT {changesql.COLUMNS} FROM changelog WHERE tenant_id = ? AND request_id = ? ORDER BY id",
            (scope.tenant_id, request_id),
        )
        view = RequestChanges(request_id=request_id)
        for change in map(changesql.to_change, rows):
            if change.event == "add" and change.after:
                view.added.append(Fact.model_validate(change.after))
            elif change.event == "update" and change.before and change.after:
                view.updated.append(
                    FactUpdate(before=Fact.model_validate(change.before), after=Fact.model_validate(change.after))
                )
            elif change.event in ("delete", "expire") and change.after:
                view.removed.append(Fact.model_validate(change.after))
        return view


def _effective(fact: Fact) -> Fact:
    """An active fact past its expiry reads as expired even before the sweeper marks it."""
    if fact.status == "active" and fact.expires_at is not None and fact.expires_at <= timeutil.now():
        return fact.model_copy(update={"status": "expired"})
    return fact


def _cursor(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput("cursor is not one this server returned", field="cursor") from None


def _check_attributes_size(attributes: dict[str, Any], limit: int) -> None:
    if len(json.dumps(attributes, ensure_ascii=False).encode()) > limit:
        raise PayloadTooLarge(f"attributes must be at most {limit} bytes as JSON", field="attributes")


def _check_extractor(name: str) -> Extractor | None:
    try:
        return create_extractor(name)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="extractor") from None
