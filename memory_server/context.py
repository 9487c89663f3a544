"""What every part of the service shares: settings, storage, embedder, index, and who is asking."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from memory_server.config import Settings
from memory_server.db import Database
from memory_server.embedder import Embedder
from memory_server.vectors import VectorIndex, VectorSync


@dataclass(frozen=True)
class Scope:
    """The tenant a call acts in and the actor recorded in the change log."""

    tenant_id: str
    actor: str


@dataclass
class Core:
    settings: Settings
    db: Database
    embedder: Embedder
    index: VectorIndex
    vectors: VectorSync
    _user_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    @asynccontextmanager
    async def user_lock(self, tenant_id: str, user_id: str) -> AsyncIterator[None]:
        """Serialise writes to one user's facts, so reconciliation always sees the latest state."""
        key = (tenant_id, user_id)
        lock = self._user_locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._user_locks[key] = lock
        async with lock:
            yield
