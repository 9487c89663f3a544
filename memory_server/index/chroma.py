"""The vector indexes: rebuildable copies of the live facts' and the episodes' vectors, in Chroma.

SQLite holds every vector (tables fact_vectors and message_vectors); an index only needs to answer
nearest-neighbour queries where scoring a user's memory exactly would be too slow, so it holds only the users
above `search.exact_max_facts` (`store.indexed`). `index.sync` keeps them in line.

Whatever Chroma raises (a corrupt or truncated file, a server that does not answer) becomes `IndexUnavailable`, so
the callers can decide what a broken copy costs: the outbox keeps its operations queued, a search scores exactly,
`reindex` builds the copy again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import numpy as np

from memory_server.errors import Unavailable
from memory_server.store.vectors import IndexEntry
from memory_server.throttle import Throttle

log = logging.getLogger(__name__)

Family = Literal["facts", "episodes"]
T = TypeVar("T")


class IndexUnavailable(Unavailable):
    """The vector index could not be read or written. The database is whole: the index is a copy to rebuild."""

    code = "index_unavailable"


class VectorIndex(Protocol):
    """Nearest-neighbour index over one family of vectors. Implementations must make upsert/delete idempotent."""

    #: Queries it failed (`nearest` then scores exactly), and when that is worth logging again.
    failed_queries: Throttle

    async def upsert(self, items: Sequence[IndexEntry]) -> None: ...

    async def delete(self, ids: Sequence[str]) -> None: ...

    async def delete_user(self, tenant_id: str, user_id: str) -> None:
        """Remove every entry of one user (before the user is filled from the database)."""
        ...

    async def query(
        self, vector: np.ndarray, tenant_id: str, user_id: str, n: int, kinds: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Ids and cosine similarity of the user's nearest vectors (of those kinds, when given), best first."""
        ...

    async def scan(self, offset: int, limit: int) -> list[IndexEntry]:
        """A page of every entry with its vector and metadata, in a stable order (to verify the index)."""
        ...

    async def reset(self) -> None: ...

    async def close(self) -> None:
        """Let go of the index; the next call opens it again."""
        ...


def _client(location: Path | str) -> Any:
    """Chroma's embedded PersistentClient in a directory, or an HttpClient for a Chroma server's URL (`index.url`,
    which several processes can share); telemetry off either way."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if isinstance(location, str):
        url = urlsplit(location)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=settings,
        )
    return chromadb.PersistentClient(path=str(location), settings=settings)


class ChromaIndex:
    """One Chroma collection per family and embedding model, in the data directory or on a Chroma server.

    Opened on first use, in the thread of that call: a server whose users are all scored exactly from SQLite
    never imports chromadb nor loads a collection until something is written to the index (~50 MB less).
    """

    def __init__(self, location: Path | str, model_id: str, family: Family = "facts") -> None:
        if isinstance(location, Path):
            location.mkdir(parents=True, exist_ok=True)
        self._location = location
        self._name = collection_name(model_id, family)
        self.failed_queries = Throttle()  # searches scored exactly without it: logged once a minute, however many
        self._client: Any = None
        self._collection: Any = None
        self._opening = threading.Lock()

    def _ready(self) -> Any:
        """The collection, opened (and the client created) by the first call that needs it."""
        with self._opening:
            if self._collection is None:
                self._client = _client(self._location)
                self._collection = self._open()
            return self._collection

    def _open(self) -> Any:
        return self._client.get_or_create_collection(
            self._name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    async def _run(self, work: Callable[[Any], T]) -> T:
        """`work` on the collection, in a thread. Chroma's errors have no common base (its own, sqlite's, httpx's,
        AttributeError from a half-opened client), so any of them is the index's failure."""

        def call() -> T:
            try:
                return work(self._ready())
            except Exception as exc:
                raise IndexUnavailable(self._failed(exc)) from exc

        return await asyncio.to_thread(call)

    def _failed(self, exc: Exception) -> str:
        if isinstance(self._location, Path):
            return (
                f"the vector index in {self._location} cannot be used ({type(exc).__name__}: {exc}); "
                "run `memory-server reindex` (with the server stopped) to rebuild it from the database"
            )
        return f"the Chroma server at {self._location} cannot be used ({type(exc).__name__}: {exc})"

    async def upsert(self, items: Sequence[IndexEntry]) -> None:
        if not items:
            return
        embeddings = np.stack([i.vector for i in items]).astype(np.float32)
        metadatas = [{"tenant_id": i.tenant_id, "user_id": i.user_id, "kind": i.kind} for i in items]
        await self._run(lambda c: c.upsert(ids=[i.id for i in items], embeddings=embeddings, metadatas=metadatas))

    async def delete(self, ids: Sequence[str]) -> None:
        if ids:
            await self._run(lambda c: c.delete(ids=list(ids)))

    async def delete_user(self, tenant_id: str, user_id: str) -> None:
        where = {"$and": [{"tenant_id": tenant_id}, {"user_id": user_id}]}
        await self._run(lambda c: c.delete(where=where))

    async def query(
        self, vector: np.ndarray, tenant_id: str, user_id: str, n: int, kinds: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        where: list[dict] = [{"tenant_id": tenant_id}, {"user_id": user_id}]
        if kinds:
            where.append({"kind": {"$in": list(kinds)}})
        embedding = np.asarray([vector], dtype=np.float32)
        res = await self._run(
            lambda c: c.query(query_embeddings=embedding, n_results=n, where={"$and": where}, include=["distances"])
        )
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    async def scan(self, offset: int, limit: int) -> list[IndexEntry]:
        res = await self._run(lambda c: c.get(offset=offset, limit=limit, include=["embeddings", "metadatas"]))
        return [
            IndexEntry(i, m.get("tenant_id", ""), m.get("user_id", ""), m.get("kind", ""), np.asarray(e, np.float32))
            for i, m, e in zip(res["ids"], res["metadatas"], res["embeddings"], strict=True)
        ]

    async def reset(self) -> None:
        def _reset(_: Any) -> None:  # opened first: the client to delete through
            with self._opening:
                self._client.delete_collection(self._name)
                self._collection = self._open()

        await self._run(_reset)

    async def close(self) -> None:
        def _close() -> None:
            with self._opening:
                client, self._client, self._collection = self._client, None, None
            if client is not None:
                with contextlib.suppress(Exception):  # a client that never opened fully fails to close too
                    client.close()
            if isinstance(self._location, Path):
                _forget(self._location)

        await asyncio.to_thread(_close)


def _forget(path: Path) -> None:
    """Chroma keeps one system per directory for the life of the process, also one that failed to open, and hands
    it to the next client of that directory, broken; dropping it lets the directory be opened afresh."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)


def set_aside(path: Path) -> Path | None:
    """Move an embedded index that cannot be used out of the way (kept beside it, for a look or to delete), so a
    new one can be made in its place; return where it went (None: there was nothing to move)."""
    if not path.exists():
        return None
    moved = path.with_name(f"{path.name}.unusable-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    path.rename(moved)
    return moved


def collection_name(model_id: str, family: Family = "facts") -> str:
    """Chroma allows [a-zA-Z0-9._-], 3-512 characters, starting and ending alphanumeric."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", model_id).strip("-._")
    return f"{family}-{slug}"[:500]


async def nearest(
    index: VectorIndex, vector: np.ndarray, tenant_id: str, user_id: str, n: int, kinds: Sequence[str] | None = None
) -> list[tuple[str, float]] | None:
    """`index.query`, or None when the index cannot answer: the caller then scores the user exactly from the
    database, as until the index held them (slower for a user this large, but whole, where a 503 would fail a
    read the database can answer)."""
    try:
        found = await index.query(vector, tenant_id, user_id, n, kinds)
    except IndexUnavailable as exc:
        if index.failed_queries.due():
            log.warning("searches are scored exactly, without the index: %s", exc)
        return None
    index.failed_queries.reset()
    return found
