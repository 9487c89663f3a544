"""The vector indexes: rebuildable copies of the live facts' and the episodes' vectors, in Chroma.

SQLite holds every vector (tables fact_vectors and message_vectors); an index only needs to answer
nearest-neighbour queries where scoring a user's memory exactly would be too slow, so it holds only the users
above `search.exact_max_facts` (`store.indexed`). `index.sync` keeps them in line.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import numpy as np

from memory_server.store.vectors import IndexEntry

Family = Literal["facts", "episodes"]


class VectorIndex(Protocol):
    """Nearest-neighbour index over one family of vectors. Implementations must make upsert/delete idempotent."""

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

    async def upsert(self, items: Sequence[IndexEntry]) -> None:
        if not items:
            return
        await asyncio.to_thread(
            lambda **kw: self._ready().upsert(**kw),
            ids=[i.id for i in items],
            embeddings=np.stack([i.vector for i in items]).astype(np.float32),
            metadatas=[{"tenant_id": i.tenant_id, "user_id": i.user_id, "kind": i.kind} for i in items],
        )

    async def delete(self, ids: Sequence[str]) -> None:
        if ids:
            await asyncio.to_thread(lambda: self._ready().delete(ids=list(ids)))

    async def delete_user(self, tenant_id: str, user_id: str) -> None:
        where = {"$and": [{"tenant_id": tenant_id}, {"user_id": user_id}]}
        await asyncio.to_thread(lambda: self._ready().delete(where=where))

    async def query(
        self, vector: np.ndarray, tenant_id: str, user_id: str, n: int, kinds: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        where: list[dict] = [{"tenant_id": tenant_id}, {"user_id": user_id}]
        if kinds:
            where.append({"kind": {"$in": list(kinds)}})
        res = await asyncio.to_thread(
            lambda **kw: self._ready().query(**kw),
            query_embeddings=np.asarray([vector], dtype=np.float32),
            n_results=n,
            where={"$and": where},
            include=["distances"],
        )
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    async def scan(self, offset: int, limit: int) -> list[IndexEntry]:
        res = await asyncio.to_thread(
            lambda: self._ready().get(offset=offset, limit=limit, include=["embeddings", "metadatas"])
        )
        return [
            IndexEntry(i, m.get("tenant_id", ""), m.get("user_id", ""), m.get("kind", ""), np.asarray(e, np.float32))
            for i, m, e in zip(res["ids"], res["metadatas"], res["embeddings"], strict=True)
        ]

    async def reset(self) -> None:
        def _reset() -> None:
            self._ready()  # the client, to delete through
            with self._opening:
                self._client.delete_collection(self._name)
                self._collection = self._open()

        await asyncio.to_thread(_reset)


def collection_name(model_id: str, family: Family = "facts") -> str:
    """Chroma allows [a-zA-Z0-9._-], 3-512 characters, starting and ending alphanumeric."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", model_id).strip("-._")
    return f"{family}-{slug}"[:500]
