"""What every part of the service shares: settings, storage, embedder, index, and who is asking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from extractors.signals import SignalAnalyzer
from memory_server.config import Settings
from memory_server.configstore import ConfigStore
from memory_server.cpu import CpuPool
from memory_server.errors import Forbidden
from memory_server.index.chroma import VectorIndex
from memory_server.index.embedders import Embedder
from memory_server.index.sync import VectorSync
from memory_server.models import Role
from memory_server.store.db import Database
from memory_server.store.retrievals import RetrievalBuffer
from memory_server.terms import DocumentCounts
from memory_server.webhook_delivery import WebhookDispatcher

_RANK: dict[str, int] = {"viewer": 0, "editor": 1, "admin": 2}


DEFAULT_PROJECT = 1
SPACE_SEPARATOR = "/"  # never part of an id (schemas.ID_PUNCTUATION), so a space names one tenant and project


@dataclass(frozen=True)
class Scope:
    """The tenant and project a call acts in, the actor recorded in the change log, and what it may do.

    Operators at the console (CLI) and the server's own jobs act as admin of their tenant. `pinned`: the key is
    limited to this project.
    """

    tenant_id: str
    actor: str
    role: Role = "admin"
    project_id: int = DEFAULT_PROJECT
    pinned: bool = False

    @property
    def space(self) -> str:
        """The key the store files this project's memory under (its `tenant_id` columns): the tenant id itself
        for the default project, where everything stored before projects existed stays, `tenant/N` for project N.
        Everything about memory (users, facts, messages, signals, segments, webhooks, config, change log) is
        scoped by it; keys and projects themselves belong to the tenant."""
        if self.project_id == DEFAULT_PROJECT:
            return self.tenant_id
        return f"{self.tenant_id}{SPACE_SEPARATOR}{self.project_id}"

    @classmethod
    def of_space(cls, space: str, actor: str) -> Scope:
        """The admin scope of a stored space (a job's, a retention sweep's)."""
        tenant_id, _, project = space.partition(SPACE_SEPARATOR)
        return cls(tenant_id, actor, "admin", int(project) if project else DEFAULT_PROJECT)

    def allows(self, role: Role) -> bool:
        """Whether this scope's role is at least `role`."""
        return _RANK[self.role] >= _RANK[role]

    def require(self, role: Role) -> None:
        """Raise Forbidden unless this scope's role is at least `role`."""
        if not self.allows(role):
            raise Forbidden(f"this needs the {role} role; the key used has the {self.role} role")


@dataclass
class Core:
    settings: Settings
    db: Database
    embedder: Embedder
    index: VectorIndex  # facts
    episodes: VectorIndex
    vectors: VectorSync
    cpu: CpuPool
    configs: ConfigStore
    webhooks: WebhookDispatcher
    term_counts: DocumentCounts = field(default_factory=DocumentCounts)
    retrievals: RetrievalBuffer = field(default_factory=RetrievalBuffer)  # retrieval-log entries not yet written
    analyzers: dict[str, SignalAnalyzer] = field(default_factory=dict)  # by taxonomy and embedder
    analyzer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    segment_cache: dict[str, tuple[Any, list[Any]]] = field(default_factory=dict)  # tenant -> (stamp, compiled)

    @asynccontextmanager
    async def user_lock(self, tenant_id: str, user_id: str) -> AsyncIterator[None]:
        """Serialise writes to one user's facts, so reconciliation always sees the latest state: within this process
        and, on a shared database, across every process on it."""
        async with self.db.exclusive(f"user:{tenant_id}:{user_id}"):
            yield
