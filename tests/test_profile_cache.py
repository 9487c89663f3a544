"""The per-user profile cache (`memory_server.profile_cache`): a kept answer is the one a fresh build gives, every
write to the user's facts (whichever door or path makes it) makes the next profile a fresh build while other writes
to the user keep it, a fact's expiry is never served late, and no other space (tenant or project) ever gets
another's entry."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import numpy as np
import pytest

from memory_server import profile_cache, timeutil
from memory_server.context import Scope
from memory_server.schemas import (
    ConsentIn,
    DeleteByQueryIn,
    EpisodeFilter,
    FactIn,
    ProfileIn,
    RetrievalFilter,
    UserAttributesIn,
)
from memory_server.service import MemoryService
from memory_server.store import vectors as vectorsql
from tests.conftest import publish

USER = "ana"


def _count(result: str) -> float:
    return profile_cache.LOOKUPS.labels(result)._value.get()


async def _profile_json(service: MemoryService, scope: Scope, user: str = USER, **extra) -> dict:
    return json.loads(await service.profile_json(scope, ProfileIn(user_id=user, **extra), "req"))


async def _served_from_cache(service: MemoryService, scope: Scope, user: str = USER) -> tuple[bool, dict]:
    """Ask for the profile once: whether the cache answered, and the answer."""
    hits = _count("hit")
    answer = await _profile_json(service, scope, user)
    return _count("hit") == hits + 1, answer


def _contents(answer: dict) -> list[str]:
    return [f["content"] for part in ("static", "dynamic") for f in answer["profile"][part]]


async def _state(service: MemoryService, scope: Scope, *facts: str) -> None:
    for content in facts:
        await service.add_fact(scope, FactIn(user_id=USER, content=content))


async def test_a_kept_answer_is_the_fresh_one_byte_for_byte_and_for_every_door(service, scope, client):
    await _state(service, scope, "User lives in Lisbon", "User is a nurse")
    await service.add_fact(scope, FactIn(user_id=USER, content="User is reading Piranesi", kind="dynamic"))
    fresh = await service.profile_json(scope, ProfileIn(user_id=USER), "a")
    hit, _ = await _served_from_cache(service, scope)
    assert hit
    kept = await service.profile_json(scope, ProfileIn(user_id=USER), "b")
    assert kept == fresh
    answer = json.loads(kept)
    assert sorted(_contents(answer)) == ["User is a nurse", "User is reading Piranesi", "User lives in Lisbon"]
    assert "searchResults" not in answer and "tokens" not in answer
    absent = {"searchResults": None, "tokens": None}
    assert (await service.profile(scope, ProfileIn(user_id=USER))).model_dump(mode="json") == {**answer, **absent}
    r = await client.post("/v1/profile", json={"user_id": USER})
    assert r.status_code == 200 and r.json() == answer
    service.profile_cache._entries.clear()  # the model built from scratch says the same
    assert (await service.profile(scope, ProfileIn(user_id=USER))).model_dump(mode="json") == {**answer, **absent}


async def test_each_token_budget_is_its_own_answer(service, scope):
    await _state(service, scope, "User lives in Lisbon", "User is a nurse", "User has a dog named Rex")
    whole = await _profile_json(service, scope)
    small = await _profile_json(service, scope, max_tokens=8)
    assert len(_contents(small)) < len(_contents(whole)) and small["tokens"] <= 8
    assert await _profile_json(service, scope, max_tokens=8) == small
    assert await _profile_json(service, scope) == whole


async def test_answers_with_q_are_built_each_time(service, scope):
    await _state(service, scope, "User lives in Lisbon")
    misses, hits = _count("miss"), _count("hit")
    for _ in range(2):
        answer = await _profile_json(service, scope, q="where does the user live?")
        assert answer["searchResults"]["results"][0]["content"] == "User lives in Lisbon"
    assert (_count("miss"), _count("hit")) == (misses, hits)


Write = Callable[[MemoryService, Scope, object], Awaitable[object]]


async def _fact_id(service: MemoryService, scope: Scope, content: str) -> str:
    return (await service.live_fact_saying(scope, USER, content)).id


def _raw_sql(statement: str) -> Write:
    """A write no service method makes (on the user's rows of one table): the triggers see it all the same."""

    async def write(service: MemoryService, scope: Scope, _client) -> None:
        async with service.core.db.transaction() as conn:
            await conn.execute(f"{statement} WHERE tenant_id = ? AND user_id = ?", (scope.space, USER))

    return write


async def _revise(service, scope, _client):
    await service.revise_fact(scope, await _fact_id(service, scope, "User lives in Lisbon"), "User lives in Porto")


async def _delete_fact(service, scope, _client):
    await service.delete_fact(scope, await _fact_id(service, scope, "User lives in Lisbon"))


async def _import(service, scope, _client):
    exported = await service.export_user(scope, USER)
    await service.purge_user(scope, USER)
    await _served_from_cache(service, scope)  # an answer for the purged user, which the import must replace
    await service.import_user(scope, exported)


async def _episode_deleted(service, scope, _client):
    [episode] = (await service.episodes(scope, USER, EpisodeFilter())).items
    await service.delete_episode(scope, episode.message_id)


async def _vector_rewritten(service, scope, _client):
    """What a reindex under another embedding model does to each stale vector."""
    fact_id = await _fact_id(service, scope, "User lives in Lisbon")
    async with service.core.db.transaction() as conn:
        await vectorsql.put(
            conn, [(fact_id, service.core.embedder.model_id, np.ones(service.core.embedder.dim, dtype=np.float32))]
        )


#: Writes that change the user's live facts (or the config their answer is built with): the next profile is built.
FACT_WRITES: dict[str, Write] = {
    "fact added": lambda s, sc, c: s.add_fact(sc, FactIn(user_id=USER, content="User has a cat named Miso")),
    "fact superseded": _revise,
    "fact deleted": _delete_fact,
    "all facts deleted": lambda s, sc, c: s.delete_user_facts(sc, USER),
    "deleted by meaning": lambda s, sc, c: s.delete_by_query(
        sc, DeleteByQueryIn(user_id=USER, query="User lives in Lisbon", threshold=0.5)
    ),
    "purged": lambda s, sc, c: s.purge_user(sc, USER),
    "messages published (facts, episodes, signals)": lambda s, sc, c: publish(c, USER, "I have a dog named Rex"),
    "imported": _import,
    "config changed": lambda s, sc, c: s.update_config(sc, {"min_confidence": 0.1}),
    "a fact's vector rewritten": _vector_rewritten,
    "raw SQL: facts": _raw_sql("UPDATE facts SET confidence = 0.5"),
}

#: Writes to the user that leave their facts as they were: a chat turn with nothing to remember keeps the entry.
OTHER_WRITES: dict[str, Write] = {
    "messages with nothing to extract": lambda s, sc, c: publish(c, USER, "Honestly, the weather is awful."),
    "episode deleted": _episode_deleted,
    "consent withdrawn": lambda s, sc, c: s.consent.set(sc, USER, ConsentIn(remember=False)),
    "user attributes": lambda s, sc, c: s.users.set_attributes(sc, USER, UserAttributesIn(attributes={"plan": "pro"})),
    "re-extraction that finds what is known": lambda s, sc, c: _reextract(s, sc),
    "raw SQL: messages": _raw_sql("UPDATE messages SET content = 'I live in Porto'"),
    "raw SQL: signals": _raw_sql("UPDATE message_signals SET sentiment = 0.9"),
    "raw SQL: the user's record": _raw_sql('UPDATE users SET attributes = \'{"plan": "pro"}\''),
}


async def _reextract(service, scope):
    job = await service.reextract(scope, USER)
    await service.wait(scope, job.request_id)


WRITES = {**FACT_WRITES, **OTHER_WRITES}


@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
async def test_a_kept_profile_is_served_only_while_the_users_facts_are_unchanged(service, scope, client, write):
    await publish(client, USER, "I live in Lisbon")
    await _state(service, scope, "User is a nurse")
    await _served_from_cache(service, scope)
    hit, before = await _served_from_cache(service, scope)
    assert hit and "User lives in Lisbon" in _contents(before)

    await WRITES[write](service, scope, client)

    hit, after = await _served_from_cache(service, scope)
    if write in FACT_WRITES:
        assert not hit, f"{write}: the profile kept before the write was served after it"
    else:
        assert hit, f"{write}: the user's facts did not change, yet the kept profile was dropped"
    service.profile_cache._entries.clear()
    assert after == await _profile_json(service, scope)  # and it is what a build from scratch says


async def test_another_users_write_leaves_the_entry_kept(service, scope, client):
    await _state(service, scope, "User lives in Lisbon")
    await _served_from_cache(service, scope)
    await service.add_fact(scope, FactIn(user_id="bob", content="User lives in Oslo"))
    await publish(client, "bob", "I have a cat")
    hit, answer = await _served_from_cache(service, scope)
    assert hit and _contents(answer) == ["User lives in Lisbon"]


async def test_a_dynamic_fact_is_never_served_after_its_expiry(service, scope, monkeypatch):
    await _state(service, scope, "User lives in Lisbon")
    await service.add_fact(scope, FactIn(user_id=USER, content="User is in Osaka", kind="dynamic", ttl_seconds=600))
    await service.add_fact(scope, FactIn(user_id=USER, content="User reads Piranesi", kind="dynamic", ttl_seconds=9000))
    assert sorted(_contents(await _profile_json(service, scope, max_tokens=4000))) == [
        "User is in Osaka",
        "User lives in Lisbon",
        "User reads Piranesi",
    ]
    assert len(_contents(await _profile_json(service, scope))) == 3
    real_now = timeutil.now
    monkeypatch.setattr(timeutil, "now", lambda: real_now() + timedelta(seconds=601))
    for asked in ({}, {"max_tokens": 4000}):
        assert sorted(_contents(await _profile_json(service, scope, **asked))) == [
            "User lives in Lisbon",
            "User reads Piranesi",
        ]


async def test_an_entry_is_kept_no_longer_than_its_age_limit(service, scope, monkeypatch):
    await _state(service, scope, "User lives in Lisbon")
    await _served_from_cache(service, scope)
    assert (await _served_from_cache(service, scope))[0]
    monkeypatch.setattr(service.profile_cache.settings, "seconds", 0.000001)
    assert not (await _served_from_cache(service, scope))[0]


async def test_no_other_tenant_or_project_gets_an_entry(service, scope):
    other_tenant = Scope("other", "test")
    project = await service.projects.create(scope, "second")
    in_project = Scope(scope.tenant_id, "test", project_id=project.id)
    await _state(service, scope, "User lives in Lisbon")
    await service.add_fact(other_tenant, FactIn(user_id=USER, content="User lives in Oslo"))
    for _ in range(2):
        assert _contents(await _profile_json(service, scope)) == ["User lives in Lisbon"]
        assert _contents(await _profile_json(service, other_tenant)) == ["User lives in Oslo"]
        assert _contents(await _profile_json(service, in_project)) == []
    await service.add_fact(in_project, FactIn(user_id=USER, content="User lives in Kyoto"))
    assert _contents(await _profile_json(service, in_project)) == ["User lives in Kyoto"]
    assert _contents(await _profile_json(service, scope)) == ["User lives in Lisbon"]


async def test_the_least_recently_served_user_goes_first(service, scope, monkeypatch):
    monkeypatch.setattr(service.profile_cache.settings, "users", 2)
    for user in ("u1", "u2", "u3"):
        await service.add_fact(scope, FactIn(user_id=user, content=f"User is called {user}"))
    await _profile_json(service, scope, "u1")
    await _profile_json(service, scope, "u2")
    assert (await _served_from_cache(service, scope, "u1"))[0]
    await _profile_json(service, scope, "u3")  # drops u2, served longest ago
    assert len(service.profile_cache) == 2
    assert (await _served_from_cache(service, scope, "u1"))[0]
    assert not (await _served_from_cache(service, scope, "u2"))[0]


async def test_the_retrieval_log_records_a_kept_answer_like_a_fresh_one(service, scope):
    await _state(service, scope, "User lives in Lisbon")
    await service.profile_json(scope, ProfileIn(user_id=USER), "first")
    await service.profile_json(scope, ProfileIn(user_id=USER), "second")
    await service.core.retrievals.write(service.core.db)
    entries = {e.request_id: e.memories for e in (await service.retrievals.page(scope, USER, RetrievalFilter())).items}
    assert entries["first"] == entries["second"] != []
