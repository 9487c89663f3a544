"""Hybrid scoring, and the index path for users with more facts than exact scoring covers."""

from __future__ import annotations

import numpy as np
import pytest

from memory_server import search
from memory_server.config import SearchSettings
from memory_server.context import Scope
from memory_server.schemas import FactIn, InteractionIn, SearchIn
from memory_server.service import MemoryService
from tests.conftest import index_users, indexed


def test_keyword_scores_weight_rare_terms_and_ignore_stopwords():
    docs = ["User lives in Oslo", "User likes Oslo and Bergen", "User is a nurse"]
    scores = search.keyword_scores("the Bergen trip", docs)
    assert scores[1] > 0 and scores[0] == 0 and scores[2] == 0
    assert search.keyword_scores("the and of", docs).tolist() == [0, 0, 0]


def test_hybrid_score_only_ever_lifts_cosine_and_stays_in_range():
    matrix = np.eye(3, dtype=np.float32)
    query_vector = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    docs = ["alpha", "beta 48213", "gamma"]
    plain = search.hybrid_scores("nothing shared", query_vector, docs, matrix, 0.35)
    assert np.allclose(plain, search.calibrate(np.array([0.6, 0.8, 0.0])))
    lifted = search.hybrid_scores("48213", query_vector, docs, matrix, 0.35)
    assert lifted[1] == pytest.approx(search.calibrate(np.array([0.8 + 0.35 * 0.2]))[0])
    assert lifted[0] == pytest.approx(plain[0])
    assert (lifted <= 1).all()


def test_calibration_keeps_order_and_ends_and_lifts_typical_matches():
    raw = np.linspace(0, 1, 101)
    calibrated = search.calibrate(raw)
    assert calibrated[0] == 0 and calibrated[-1] == 1
    assert (np.diff(calibrated) > 0).all()
    assert search.calibrate(np.array([0.2, 0.4])).tolist() == pytest.approx([0.4, 0.7])


def test_top_indexes_orders_and_applies_threshold():
    scores = np.array([0.1, 0.9, 0.5, 0.7], dtype=np.float32)
    assert search.top_indexes(scores, 3, 0.0) == [1, 3, 2]
    assert search.top_indexes(scores, 10, 0.6) == [1, 3]
    assert search.top_indexes(np.zeros(0, dtype=np.float32), 5, 0.0) == []


@pytest.fixture
def small(settings):
    """Settings under which a user of more than three facts is searched through the vector index."""
    return settings.model_copy(update={"search": SearchSettings(exact_max_facts=3)})


@pytest.fixture
async def indexing(small):
    """An open service on `small` settings, and a scope in it."""
    service = await MemoryService.open(small)
    try:
        yield service, Scope(small.tenant, "test")
    finally:
        await service.close()


async def test_only_a_user_beyond_the_exact_limit_is_indexed_once_a_search_finds_them_so(indexing):
    service, scope = indexing
    queries = []
    query = service.core.index.query

    async def counted(*args, **kwargs):
        queries.append(args[2])
        return await query(*args, **kwargs)

    service.core.index.query = counted
    ids = [
        (await service.add_fact(scope, FactIn(user_id="ana", content=text))).fact.id
        for text in [
            "User keeps bees",
            "User owns a boat",
            "User plays the cello",
            "User speaks Finnish",
            "User is allergic to peanuts",
        ]
    ]
    await service.add_fact(scope, FactIn(user_id="bob", content="User keeps bees too"))
    assert await indexed(service, scope.tenant_id) == set()  # nobody is large enough to have been asked for

    found = await service.search(scope, SearchIn(user_id="ana", query="honey and bees"))
    assert found.results[0].content == "User keeps bees"  # scored exactly while the index fills
    assert all(r.content != "User keeps bees too" for r in found.results)
    assert queries == []
    await service.core.vectors.flush()
    assert await indexed(service, scope.tenant_id) == set(ids)  # ana, whole; not bob

    found = await service.search(scope, SearchIn(user_id="ana", query="musical instrument", top_k=1))
    assert [r.content for r in found.results] == ["User plays the cello"]
    assert queries == ["ana"]  # now through the index
    await service.search(scope, SearchIn(user_id="bob", query="bees"))
    assert queries == ["ana"]

    later = (await service.add_fact(scope, FactIn(user_id="ana", content="User sails on weekends"))).fact.id
    await service.add_fact(scope, FactIn(user_id="bob", content="User sails too"))
    await service.delete_fact(scope, ids[1])
    assert await indexed(service, scope.tenant_id) == {*ids, later} - {ids[1]}  # the outbox follows ana only


async def test_a_filtered_or_dated_search_of_an_indexed_user_finds_what_the_indexs_nearest_leave_out(indexing):
    service, scope = indexing
    for text in ["User owns a red bicycle", "User owns a blue bicycle", "User rides a bicycle to work",
                 "User repairs bicycles", "User collects bicycle bells"]:  # fmt: skip
        await service.add_fact(scope, FactIn(user_id="big", content=text))
    crm = {  # more of them than the exact limit: their search goes through the index
        (await service.add_fact(scope, FactIn(user_id="big", content=f"User likes {music}", source="crm"))).fact.id
        for music in ("jazz", "opera", "techno", "blues")
    }
    said = [(f"2026-03-0{d}T10:00:00Z", f"talking about the weather again, day {d}") for d in range(1, 7)]
    said.append(("2026-03-09T10:00:00Z", "I planted tulips in the garden"))
    body = InteractionIn(user_id="big", messages=[{"role": "user", "content": t, "created_at": at} for at, t in said])
    await service.ingest(scope, body.model_copy(update={"wait": True}))
    await index_users(service, scope.tenant_id, "big")

    found = await service.search(
        scope, SearchIn(user_id="big", query="bicycle", source="crm", threshold=0.01, types=["facts"])
    )
    assert found.results and {r.id for r in found.results} <= crm
    dated = await service.search(
        scope,
        SearchIn(user_id="big", query="the weather, what did I do on 2026-03-09?", types=["episodes"], top_k=1),
    )
    assert [r.content for r in dated.results] == ["I planted tulips in the garden"]


async def test_an_indexed_users_top_k_above_the_exact_limit_is_all_scored_not_padded(indexing):
    service, scope = indexing
    bicycles = ["User owns a red bicycle", "User rides a bicycle to work", "User repairs bicycles",
                "User collects bicycle bells", "User races road bicycles", "User sells used bicycles"]  # fmt: skip
    for text in [*bicycles, "User is allergic to peanuts", "User speaks Finnish"]:
        await service.add_fact(scope, FactIn(user_id="big", content=text))
    await index_users(service, scope.tenant_id, "big")
    found = await service.search(
        scope, SearchIn(user_id="big", query="bicycle", top_k=6, threshold=0.0, types=["facts"])
    )
    assert sorted(r.content for r in found.results) == sorted(bicycles)
    assert all(r.score > 0 for r in found.results)  # each scored, none a zero from outside the index's nearest


@pytest.mark.sqlite
async def test_a_lost_index_directory_is_filled_again_at_the_next_start(small):
    settings, scope = small, Scope(small.tenant, "test")
    service = await MemoryService.open(settings)
    try:
        for text in ["User keeps bees", "User owns a boat", "User plays the cello", "User speaks Finnish"]:
            await service.add_fact(scope, FactIn(user_id="ana", content=text))
        await index_users(service, scope.tenant_id, "ana")
        assert len(await indexed(service, scope.tenant_id, "ana")) == 4
        await service.core.index.reset()  # as a deleted directory leaves it (Chroma caches an open one per process)
    finally:
        await service.close()

    service = await MemoryService.open(settings)
    try:
        assert len(await indexed(service, scope.tenant_id, "ana")) == 4  # filled again as it opened
        found = await service.search(scope, SearchIn(user_id="ana", query="Finnish language"))
        assert found.results[0].content == "User speaks Finnish"
    finally:
        await service.close()
