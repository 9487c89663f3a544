"""Per-message signals and what they add up to per user.

Every processed message of the configured roles gets signals: from the extractor when it gave them (the llm one
rates messages in the same call as the facts), else offline (`extractors.signals.SignalAnalyzer`) from the vector
the message already has for search, so signals cost no extra embedding. The signals and the user's recomputed
aggregates are written in one transaction (an extraction job's, with its facts); a retried job rewrites the same
rows.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from extractors.signals import MessageSignals, SignalAnalyzer, Taxonomy, prototype_texts
from memory_server import aggregates, heap, segments, timeutil
from memory_server.config import ExtractionConfig
from memory_server.context import Core
from memory_server.cpu import off_loop
from memory_server.store import episodes as episodesql
from memory_server.store import signals as signalsql
from memory_server.store import users as usersql
from memory_server.store import vectors
from memory_server.store.db import Connection
from memory_server.store.messages import StoredMessage

#: Above this many messages, analysing a request runs in a thread (about 0.2-0.4 ms a message).
INLINE_MESSAGES = 50


async def analyzer_for(core: Core, taxonomy: Taxonomy) -> SignalAnalyzer:
    """The analyzer of a taxonomy, built once per taxonomy and embedder (its prototypes embedded once)."""
    key = hashlib.sha256(f"{core.embedder.model_id}\n{taxonomy.model_dump_json()}".encode()).hexdigest()
    async with core.analyzer_lock:
        analyzer = core.analyzers.get(key)
        if analyzer is None:
            prototypes = await core.embedder.embed(prototype_texts(taxonomy))
            analyzer = await asyncio.to_thread(SignalAnalyzer, taxonomy, prototypes)
            core.analyzers[key] = analyzer
            await asyncio.to_thread(heap.give_back)  # ~40 MB the prototypes' batches left in the embedder's threads
        return analyzer


async def _vectors(core: Core, tenant_id: str, messages: Sequence[StoredMessage]) -> np.ndarray:
    """The messages' vectors: the stored episode vectors, and an embedding for any message without one."""
    rows = await episodesql.vectors_by_id(core.db, tenant_id, [m.id for m in messages])
    stored = {r["id"]: r["vector"] for r in rows if len(r["vector"]) == 4 * core.embedder.dim}
    missing = [m for m in messages if m.id not in stored]
    fresh = dict(zip((m.id for m in missing), await core.embedder.embed([m.content for m in missing]), strict=True))
    out = np.empty((len(messages), core.embedder.dim), dtype=np.float32)
    for i, m in enumerate(messages):
        out[i] = fresh[m.id] if m.id in fresh else vectors.matrix([stored[m.id]])[0]
    return out


@dataclass(frozen=True)
class Analysed:
    """A request's message signals, stored by the caller in a transaction of its choosing (an extraction job's is
    the one that writes its facts, so that a job takes the write lock once)."""

    tenant_id: str
    user_id: str
    config: ExtractionConfig
    rows: list[tuple[int, datetime, str | None, MessageSignals]]

    async def store(self, core: Core, conn: Connection) -> None:
        """Write the signals and the user's recomputed aggregates (nothing when no message qualified)."""
        if self.rows:
            await signalsql.put(conn, self.tenant_id, self.user_id, self.rows)
            await refresh(core, conn, self.tenant_id, self.user_id, self.config)


async def analyse(
    core: Core,
    tenant_id: str,
    user_id: str,
    config: ExtractionConfig,
    messages: Sequence[StoredMessage],
    source: str | None,
    known: Mapping[int, MessageSignals] | None = None,
    sources: Mapping[int, str | None] | None = None,
) -> Analysed:
    """Analyse the request's messages of the configured roles (none when signals are off).

    `known` holds signals the extractor already gave, by message id: they are stored as they are, and only the
    other messages are analysed offline. `sources` holds the source of messages that came in other requests than
    the first (an import's), by message id; the others are `source`'s.
    """
    settings = config.signals
    chosen = [m for m in messages if m.role in settings.roles]
    if not settings.enabled or not chosen:
        return Analysed(tenant_id, user_id, config, [])
    known = known or {}
    todo = [m for m in chosen if m.id not in known]
    offline: dict[int, MessageSignals] = {}
    if todo:
        analyzer = await analyzer_for(core, settings.taxonomy)
        matrix = await _vectors(core, tenant_id, todo)
        texts = [m.content for m in todo]
        analysed = await off_loop(len(todo) > INLINE_MESSAGES, analyzer.analyze_many, texts, matrix)
        offline = dict(zip((m.id for m in todo), analysed, strict=True))
    sources = sources or {}
    rows = [
        (m.id, m.created_at, sources.get(m.id, source), known[m.id] if m.id in known else offline[m.id]) for m in chosen
    ]
    return Analysed(tenant_id, user_id, config, rows)


async def refresh(core: Core, conn: Connection, tenant_id: str, user_id: str, config: ExtractionConfig) -> None:
    """Recompute the user's aggregates from their stored signals (after new signals, or deleted messages), then
    the segments they are in."""
    settings = config.signals
    now = timeutil.now()
    window, analysed = await signalsql.window(conn, tenant_id, user_id, settings.aggregates.window_size)
    summary = aggregates.compute(window, settings.aggregates, settings.taxonomy.neutral_band)
    await usersql.save_aggregates(conn, tenant_id, user_id, summary, analysed, now)
    await segments.reevaluate(core, conn, tenant_id, user_id, now)
