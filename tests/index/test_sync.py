"""The vector outbox under many writers: flushes shared, each message embedded once, small users' operations batched."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np

from memory_server.context import Scope
from memory_server.index.embedders import EmbedderError
from memory_server.retrieval import live_facts
from memory_server.schemas import FactIn, InteractionIn
from memory_server.service import MemoryService
from memory_server.store import episodes as episodesql
from memory_server.store import messages as messagesql


async def _queued_facts(service: MemoryService) -> int:
    row = await service.core.db.fetchone("SELECT count(*) AS n FROM vector_ops WHERE fact_id IS NOT NULL")
    return row["n"]


async def test_a_small_users_fact_operations_wait_for_the_workers_flush(settings):
    """The index never serves a user exact scoring covers, so a write to them does not wait for the outbox's lock."""
    service = await MemoryService.open(settings)
    scope = Scope(settings.tenant, "test")
    try:
        await service.add_fact(scope, FactIn(user_id="ana", content="User keeps bees"))
        assert await _queued_facts(service) == 1
        await service.expire_due()  # the workers' periodic tick
        assert await _queued_facts(service) == 0
    finally:
        await service.close()


async def test_writers_asking_while_a_flush_runs_share_the_next_one(settings):
    service = await MemoryService.open(settings)
    scope = Scope(settings.tenant, "test")
    sync = service.core.vectors
    try:
        for text in ("User keeps bees", "User owns a boat", "User plays the cello"):
            await service.add_fact(scope, FactIn(user_id="ana", content=text))
        started = sync._started
        async with service.core.db.exclusive("vector-outbox"):  # a flush of another task is running
            writers = [asyncio.create_task(sync.flush(index_episodes=False)) for _ in range(5)]
            await asyncio.sleep(0.05)
            assert not any(w.done() for w in writers)
        await asyncio.gather(*writers)
        assert sync._started == started + 1  # one flush, begun after all five asked, served them all
        assert await _queued_facts(service) == 0
        await sync.flush(index_episodes=False)  # nothing running: a writer gets a flush of its own
        assert sync._started == started + 2
    finally:
        await service.close()


async def test_each_message_is_embedded_once_however_many_tasks_ask(settings):
    service = await MemoryService.open(settings)  # no workers: nothing else embeds meanwhile
    scope = Scope(settings.tenant, "test")
    embedded: Counter[str] = Counter()
    embed = service.core.embedder.embed

    async def counted(texts):
        embedded.update(texts)
        await asyncio.sleep(0.02)  # long enough for every caller to ask while the first embeds
        return await embed(texts)

    service.core.embedder.embed = counted
    try:
        texts = ["I moved to Lisbon last week", "My sister is visiting in May", "I started learning the cello"]
        body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": t} for t in texts])
        job, _ = await service.ingest(scope, body)
        ids = [m.id for m in await messagesql.of_request(service.core.db, scope.space, job.request_id)]
        sync = service.core.vectors
        await asyncio.gather(sync.embed_messages(ids), sync.embed_messages(ids[:2]), sync.flush(index_episodes=False))
        assert embedded == Counter(texts)
        assert await episodesql.lacking_vectors(service.core.db, ids, service.core.embedder.model_id) == []
    finally:
        await service.close()


def _record_calls(service: MemoryService) -> list[list[str]]:
    """From now on, the texts of each (non-empty) embedder call of the service, in order."""
    calls: list[list[str]] = []
    embed = service.core.embedder.embed

    async def recorded(texts):
        if texts:
            calls.append(list(texts))
        return await embed(texts)

    service.core.embedder.embed = recorded
    return calls


async def test_a_jobs_messages_and_candidate_facts_are_embedded_in_one_model_call(settings):
    """A model call's cost for a few short texts is mostly fixed, so an extraction job pays it once."""
    service = await MemoryService.open(settings)
    scope = Scope(settings.tenant, "test")
    embed = service.core.embedder.embed
    try:
        calls = _record_calls(service)
        await service.start()
        said = ["I'm a nurse and I live in Lisbon.", "My sister Anna is 34 years old."]
        body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": t} for t in said], wait=True)
        job, _ = await service.ingest(scope, body)
        assert job.status == "done"
        added = job.changes.added
        assert len(added) >= 2
        mine = sorted([*said, *(f.content for f in added)])
        [call] = [c for c in calls if set(c) & set(mine)]  # the other one embeds the signals' prototypes, once
        assert sorted(call) == mine
        ids = [m.id for m in await messagesql.of_request(service.core.db, scope.space, job.request_id)]
        assert await episodesql.lacking_vectors(service.core.db, ids, service.core.embedder.model_id) == []
        live = await live_facts(service.core, scope.space, "ana", with_vectors=True)
        alone = await embed([f.content for f in live.facts])
        assert np.allclose(live.matrix, alone, atol=1e-5)  # batched with the messages, the vectors are the same
    finally:
        await service.close()


async def test_a_text_that_is_also_a_messages_content_is_embedded_once_and_returned(settings):
    """A job that shows its extractor the user's related facts embeds what the user said first, as its messages."""
    service = await MemoryService.open(settings)
    scope = Scope(settings.tenant, "test")
    embed = service.core.embedder.embed
    try:
        said = ["I keep bees.", "Nice weather today."]
        body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": t} for t in said])
        job, _ = await service.ingest(scope, body)
        ids = [m.id for m in await messagesql.of_request(service.core.db, scope.space, job.request_id)]
        calls = _record_calls(service)
        got = await service.core.vectors.embed_messages(ids, also=[said[0], "User keeps bees", said[0]])
        assert calls == [[*said, "User keeps bees"]]
        assert sorted(got) == sorted([said[0], "User keeps bees"])
        assert np.allclose(got[said[0]], (await embed([said[0]]))[0], atol=1e-5)
        assert await episodesql.lacking_vectors(service.core.db, ids, service.core.embedder.model_id) == []
    finally:
        await service.close()


async def test_a_failing_embedder_leaves_the_messages_queued_and_returns_no_vectors(settings):
    service = await MemoryService.open(settings)
    scope = Scope(settings.tenant, "test")

    async def failing(texts):
        raise EmbedderError("embedding model 'x' failed: connection refused")

    try:
        body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I keep bees."}])
        job, _ = await service.ingest(scope, body)
        ids = [m.id for m in await messagesql.of_request(service.core.db, scope.space, job.request_id)]
        service.core.embedder.embed = failing
        assert await service.core.vectors.embed_messages(ids, also=["User keeps bees"]) == {}
        lacking = await episodesql.lacking_vectors(service.core.db, ids, service.core.embedder.model_id)
        assert [r["id"] for r in lacking] == ids
    finally:
        await service.close()


async def test_a_job_whose_embedder_fails_is_retried_and_done_once_it_answers(settings):
    """The job's one model call fails, then the candidates' own call too (the embedder is down): nothing is
    written, the job is retried, and the next attempt stores the facts and the messages' vectors."""
    service = await MemoryService.open(settings)
    scope = Scope(settings.tenant, "test")
    embed = service.core.embedder.embed
    failures = [1, 2]

    async def flaky(texts):
        if texts and failures:
            failures.pop()
            raise EmbedderError("embedding model 'x' failed: connection refused")
        return await embed(texts)

    try:
        service.core.embedder.embed = flaky
        await service.start()
        body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I'm a nurse."}], wait=True)
        job, _ = await service.ingest(scope, body)
        assert job.status == "done"
        assert job.attempts == 2
        assert [f.content for f in job.changes.added] == ["User is a nurse"]
        live = await live_facts(service.core, scope.space, "ana", with_vectors=True)
        assert np.allclose(live.matrix, await embed(["User is a nurse"]), atol=1e-5)
        ids = [m.id for m in await messagesql.of_request(service.core.db, scope.space, job.request_id)]
        assert await episodesql.lacking_vectors(service.core.db, ids, service.core.embedder.model_id) == []
    finally:
        await service.close()
