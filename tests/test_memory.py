"""Reading and deleting memory: profile, search, facts, delete by id and by meaning, purge."""

from __future__ import annotations

from memory_server.store import indexed as indexedsql
from tests.conftest import index_users, indexed, publish, until_finished, use_extractor
from tests.fakes import fact

FACTS = [
    fact("User is a nurse", confidence=0.95),
    fact("User lives in Oslo", topic="location"),
    fact("User's daughter is 4 years old"),
    fact("User hates long meetings", confidence=0.6),
    fact("User is learning Rust this month", kind="dynamic"),
    fact("User's employee number is 48213"),
]


async def seed(client, fake, user: str = "ana") -> dict:
    await use_extractor(client, "fake")
    fake.queue(list(FACTS))
    return await publish(client, user, "lots about me")


async def test_profile_splits_static_and_dynamic(client, fake):
    await seed(client, fake)
    body = (await client.post("/v1/profile", json={"user_id": "ana"})).json()
    assert set(body) == {"profile"}
    static = [f["content"] for f in body["profile"]["static"]]
    assert sorted(static) == sorted(f.content for f in FACTS if f.kind == "static")
    assert static[0] == "User is a nurse"  # highest confidence first
    assert [f["content"] for f in body["profile"]["dynamic"]] == ["User is learning Rust this month"]


async def test_profile_with_q_adds_search_results(client, fake):
    await seed(client, fake)
    body = (await client.post("/v1/profile", json={"user_id": "ana", "q": "what programming language"})).json()
    results = body["searchResults"]
    assert results["results"][0]["content"] == "User is learning Rust this month"
    assert results["total"] == len(results["results"])
    assert results["timing"] >= 0
    hit = results["results"][0]
    assert set(hit) >= {"id", "content", "kind", "score", "source", "created_at", "updated_at"}


async def test_profile_max_tokens_keeps_most_useful_facts_within_budget(client, fake):
    await seed(client, fake)
    body = (await client.post("/v1/profile", json={"user_id": "ana", "max_tokens": 12})).json()
    kept = [f["content"] for f in body["profile"]["static"] + body["profile"]["dynamic"]]
    assert body["tokens"] <= 12
    assert "User is a nurse" in kept
    assert len(kept) < len(FACTS)
    q = (await client.post("/v1/profile", json={"user_id": "ana", "max_tokens": 12, "q": "Rust"})).json()
    assert "User is learning Rust this month" in [f["content"] for f in q["profile"]["dynamic"]]


async def test_search_finds_exact_numbers_through_keywords(client, fake):
    await seed(client, fake)
    body = (await client.post("/v1/search", json={"user_id": "ana", "query": "48213"})).json()
    assert body["results"][0]["content"] == "User's employee number is 48213"


async def test_search_by_meaning_and_filters(client, fake):
    await seed(client, fake)
    body = (await client.post("/v1/search", json={"user_id": "ana", "query": "where does she live"})).json()
    assert body["results"][0]["content"] == "User lives in Oslo"
    body = (await client.post("/v1/search", json={"user_id": "ana", "query": "Rust", "kind": "static"})).json()
    assert "User is learning Rust this month" not in [r["content"] for r in body["results"]]
    body = (
        await client.post("/v1/search", json={"user_id": "ana", "query": "nurse", "top_k": 1, "threshold": 0})
    ).json()
    assert len(body["results"]) == 1


async def test_search_filters_on_attributes_and_source(client, fake):
    await use_extractor(client, "fake")
    fake.queue([fact("User likes jazz")], [fact("User likes opera")])
    await publish(client, "ana", "jazz", source="chat", attributes={"app": "radio", "tags": ["music"]})
    await publish(client, "ana", "opera", source="email", attributes={"app": "mail"})
    q = {"user_id": "ana", "query": "music taste", "threshold": 0}
    by_email = (await client.post("/v1/search", json={**q, "source": "email"})).json()["results"]
    assert {r["content"] for r in by_email} == {"User likes opera", "opera"}  # the fact and its message
    only_radio = (await client.post("/v1/search", json={**q, "attributes": {"app": "radio"}})).json()["results"]
    assert {r["content"] for r in only_radio} == {"User likes jazz", "jazz"}
    assert [r["attributes"] for r in only_radio] == [{"app": "radio", "tags": ["music"]}] * 2
    tagged = (await client.post("/v1/search", json={**q, "attributes": {"tags": "music"}})).json()["results"]
    assert {r["content"] for r in tagged} == {"User likes jazz", "jazz"}


async def test_users_do_not_see_each_others_facts(client, fake):
    await seed(client, fake, "ana")
    fake.queue([fact("User is a pilot")])
    await publish(client, "bob", "pilot")
    body = (await client.post("/v1/search", json={"user_id": "bob", "query": "nurse", "threshold": 0})).json()
    assert {r["content"] for r in body["results"]} == {"User is a pilot", "pilot"}
    bob = (await client.post("/v1/profile", json={"user_id": "bob"})).json()["profile"]
    assert [f["content"] for f in bob["static"]] == ["User is a pilot"]


async def test_list_facts_paginates(client, fake):
    await seed(client, fake)
    seen, cursor = [], None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/users/ana/facts", params=params)).json()
        seen += [f["id"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(FACTS)
    statics = (await client.get("/v1/users/ana/facts", params={"kind": "dynamic"})).json()["items"]
    assert [f["content"] for f in statics] == ["User is learning Rust this month"]


async def test_delete_fact_removes_it_everywhere_and_logs_it(client, fake, service, scope):
    job = await seed(client, fake)
    await index_users(service, scope.tenant_id, "ana")
    target = next(f for f in job["changes"]["added"] if f["content"] == "User is a nurse")
    assert target["id"] in await indexed(service, scope.tenant_id, "ana")
    r = await client.delete(f"/v1/facts/{target['id']}")
    assert r.status_code == 200
    assert r.json()["status"] == "deleted"
    assert target["id"] not in await indexed(service, scope.tenant_id, "ana")
    profile = (await client.post("/v1/profile", json={"user_id": "ana"})).json()["profile"]
    assert "User is a nurse" not in [f["content"] for f in profile["static"]]
    [change] = (await client.get("/v1/changelog", params={"user_id": "ana", "limit": 1})).json()["items"]
    assert change["event"] == "delete"
    assert change["before"]["status"] == "active"
    assert change["after"]["status"] == "deleted"
    assert (await client.delete("/v1/facts/nope")).status_code == 404


async def test_delete_by_meaning_returns_what_it_deleted(client, fake, service, scope):
    await seed(client, fake)
    await index_users(service, scope.tenant_id, "ana")
    assert len(await indexed(service, scope.tenant_id, "ana")) == len(FACTS)
    r = await client.post("/v1/facts/delete", json={"user_id": "ana", "query": "User's job is nurse", "threshold": 0.7})
    body = r.json()
    assert [f["content"] for f in body["deleted"]] == ["User is a nurse"]
    assert body["count"] == 1
    remaining = await _live(client, "ana")
    assert "User is a nurse" not in remaining
    assert len(remaining) == len(FACTS) - 1
    assert body["deleted"][0]["id"] not in await indexed(service, scope.tenant_id, "ana")


async def test_purge_user_removes_messages_facts_vectors_and_log_contents(client, fake, service, scope):
    await seed(client, fake)
    fake.queue([fact("User is a pilot")])
    await publish(client, "bob", "pilot")
    await index_users(service, scope.tenant_id, "ana", "bob")
    assert len(await indexed(service, scope.tenant_id, "ana")) == len(FACTS)
    r = await client.delete("/v1/users/ana")
    assert r.status_code == 200
    assert r.json()["purged"]["facts"] == len(FACTS)
    assert (await client.get("/v1/users/ana/facts", params={"status": "all"})).json()["items"] == []
    assert await indexed(service, scope.tenant_id, "ana") == set()
    assert len(await indexed(service, scope.tenant_id, "bob")) == 1
    rows = await service.core.db.fetchall("SELECT count(*) FROM messages WHERE user_id = 'ana'")
    assert rows[0][0] == 0
    log = (await client.get("/v1/changelog", params={"user_id": "ana"})).json()["items"]
    assert log[0]["event"] == "purge"
    assert all(c["before"] is None and c["after"] is None for c in log)
    assert "nurse" not in (await client.get("/v1/changelog", params={"user_id": "ana"})).text
    assert await indexedsql.users(service.core.db, "facts") == {(scope.tenant_id, "bob")}  # no trace of ana's id
    assert await indexedsql.users(service.core.db, "episodes") == {(scope.tenant_id, "bob")}

    r = await client.delete("/v1/users/ana")  # nothing of theirs is left: no user to purge, no row to log
    assert r.status_code == 404 and r.json()["error"]["field"] == "user_id"
    assert (await client.delete("/v1/users/nobody")).status_code == 404
    assert [c["event"] for c in (await client.get("/v1/changelog", params={"user_id": "ana"})).json()["items"]].count(
        "purge"
    ) == 1
    assert (await client.get("/v1/changelog", params={"user_id": "nobody"})).json()["items"] == []


async def test_changelog_per_request_view(client, fake):
    job = await seed(client, fake)
    view = (await client.get(f"/v1/requests/{job['request_id']}/changes")).json()
    assert len(view["added"]) == len(FACTS)
    assert view["updated"] == view["removed"] == []
    by_request = (await client.get("/v1/changelog", params={"request_id": job["request_id"]})).json()["items"]
    assert {c["event"] for c in by_request} == {"add"}
    assert all(c["actor"] == "local/extractor:fake" for c in by_request)


async def test_explicit_fact_is_stored_once(client):
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User's favourite colour is green"})
    assert r.status_code == 201
    again = await client.post("/v1/facts", json={"user_id": "ana", "content": "user's favourite colour is green"})
    assert again.status_code == 200
    assert again.json()["id"] == r.json()["id"]


async def test_re_extracting_never_undoes_what_a_person_deleted_or_corrected(client, service, scope):
    await publish(client, "rex", "I live in Berlin. I work as a chef. I have a cat named Tom.")

    async def live() -> dict[str, str]:
        return {f["content"]: f["id"] for f in (await client.get("/v1/users/rex/facts")).json()["items"]}

    said = await live()
    assert set(said) == {"User lives in Berlin", "User works as a chef", "User has a cat named Tom"}
    assert (await client.delete(f"/v1/facts/{said['User has a cat named Tom']}")).status_code == 200
    await service.revise_fact(scope, said["User works as a chef"], "User works as a pilot")
    job = (await client.post("/v1/users/rex/reextract")).json()
    [done] = await until_finished(client, job["request_id"])
    assert done["status"] == "done"
    assert set(await live()) == {"User lives in Berlin", "User works as a pilot"}

    await publish(client, "rex", "I have a cat named Tom.")  # said again after the deletion: that counts
    assert set(await live()) == {"User lives in Berlin", "User works as a pilot", "User has a cat named Tom"}


async def test_re_extracting_with_the_same_config_leaves_the_history_as_it_was(client, service, scope):
    for text in ("I live in Rome.", "I live in Milan now.", "I am a chef."):
        await publish(client, "rio", text)

    async def history() -> list[tuple[str, str, str | None]]:
        facts = (await client.get("/v1/users/rio/facts", params={"status": "all"})).json()["items"]
        return sorted((f["id"], f["status"], f["superseded_by"]) for f in facts)

    before = await history()
    assert [s for _, s, _ in before].count("superseded") == 1
    for _ in range(2):
        job = (await client.post("/v1/users/rio/reextract")).json()
        [done] = await until_finished(client, job["request_id"])
        assert done["status"] == "done", done
        assert (done["changes"]["added"], done["changes"]["updated"], done["changes"]["removed"]) == ([], [], []), done
    assert await history() == before


async def _say_at(client, user_id: str, content: str, at: str) -> dict:
    """Publish one user message sent at `at`, and wait for its extraction."""
    said = {"user_id": user_id, "messages": [{"role": "user", "content": content, "created_at": at}], "wait": True}
    r = await client.post("/v1/interactions", json=said)
    assert r.status_code == 200, r.text
    return r.json()


async def _live(client, user_id: str) -> list[str]:
    return [f["content"] for f in (await client.get(f"/v1/users/{user_id}/facts")).json()["items"]]


async def test_a_backfilled_older_conversation_does_not_override_what_was_said_since(client):
    await publish(client, "sol", "I live in Milan.")
    await _say_at(client, "sol", "I live in Rome.", "2020-01-01T09:00:00+00:00")
    assert await _live(client, "sol") == ["User lives in Milan"]


async def test_a_message_dated_in_the_future_does_not_freeze_the_users_memory(client):
    await _say_at(client, "fut", "I live in Oslo.", "2031-01-01T00:00:00Z")
    await publish(client, "fut", "I live in Bergen.")
    assert await _live(client, "fut") == ["User lives in Bergen"]


async def test_a_dynamic_fact_from_a_future_dated_message_lives_from_now(client):
    await _say_at(client, "fut2", "I'm in Tokyo this week.", "2031-01-01T00:00:00Z")
    [fact] = (await client.get("/v1/users/fut2/facts")).json()["items"]
    assert fact["kind"] == "dynamic" and fact["expires_at"] < "2030-01-01"


async def test_a_fact_whose_message_was_deleted_is_still_replaced_by_what_is_said_later(client):
    job = await _say_at(client, "nat", "I live in Delhi.", "2026-11-20T09:00:00Z")
    [episode] = (await client.get("/v1/users/nat/episodes")).json()["items"]
    assert (await client.delete(f"/v1/episodes/{episode['message_id']}")).status_code == 200
    await _say_at(client, "nat", "I live in Lima.", "2026-11-24T09:00:00Z")
    assert await _live(client, "nat") == ["User lives in Lima"], job["status"]
