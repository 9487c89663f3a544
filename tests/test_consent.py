"""Consent: a user marked "do not remember" has nothing of a later publish stored or extracted, over every door
(HTTP, MCP, the compatibility routes), and the answer says so; what was remembered before stays."""

from __future__ import annotations

from mcp import Client

from memory_server import keys
from memory_server.context import Scope
from memory_server.schemas import ConsentIn, InteractionIn, MessageIn
from memory_server.service import MemoryService
from tests.conftest import publish
from tests.mcp.scenarios import error, ok


async def _forbid(client, user: str, reason: str | None = "asked by email") -> dict:
    r = await client.put(f"/v1/users/{user}/consent", json={"remember": False, "reason": reason})
    assert r.status_code == 200, r.text
    return r.json()


async def _facts(client, user: str) -> list[str]:
    return sorted(f["content"] for f in (await client.get(f"/v1/users/{user}/facts")).json()["items"])


async def test_a_publish_after_the_mark_stores_nothing_and_says_so_while_earlier_memory_stays(client):
    await publish(client, "ana", "I live in Lisbon")
    before = (await client.get("/v1/users/ana")).json()
    mark = await _forbid(client, "ana")
    assert mark["remember"] is False and mark["reason"] == "asked by email" and mark["updated_by"] == "local"

    r = await client.post(
        "/v1/interactions",
        json={"user_id": "ana", "messages": [{"role": "user", "content": "I have a dog named Rex"}], "wait": True},
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["skipped"] == "consent" and answer["status"] == "done"
    assert answer["changes"] == {"request_id": answer["request_id"], "added": [], "updated": [], "removed": []}
    assert (await client.get(f"/v1/requests/{answer['request_id']}")).status_code == 404
    assert await _facts(client, "ana") == ["User lives in Lisbon"]
    after = (await client.get("/v1/users/ana")).json()
    assert after["message_count"] == before["message_count"] == 1
    episodes = (await client.get("/v1/users/ana/episodes")).json()["items"]
    assert [e["content"] for e in episodes] == ["I live in Lisbon"]

    # the same payload as the first publish is not answered as a duplicate of it either
    again = await publish(client, "ana", "I live in Lisbon")
    assert again["skipped"] == "consent"

    [change] = (await client.get("/v1/changelog", params={"user_id": "ana"})).json()["items"][:1]
    assert change["event"] == "consent" and change["fact_id"] is None
    assert change["before"]["remember"] is True and change["after"]["remember"] is False


async def test_a_user_can_be_marked_before_their_first_message_and_marked_back(client):
    await _forbid(client, "new", reason=None)
    assert (await client.get("/v1/users/new/consent")).json()["remember"] is False
    assert (await publish(client, "new", "I live in Porto"))["skipped"] == "consent"
    assert (await client.get("/v1/users/new")).status_code == 404  # no record, no messages
    assert (await client.put("/v1/users/new/consent", json={"remember": True})).status_code == 200
    job = await publish(client, "new", "I live in Porto")
    assert job["skipped"] is None and await _facts(client, "new") == ["User lives in Porto"]


async def test_a_stated_fact_for_a_marked_user_is_refused(client):
    await _forbid(client, "ana")
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"})
    assert r.status_code == 409 and r.json()["error"]["field"] == "user_id"
    assert await _facts(client, "ana") == []


async def test_consent_needs_an_editor_and_a_valid_body(client, service):
    viewer = await keys.create(service.core.db, "default", "viewer")
    r = await client.put("/v1/users/ana/consent", json={"remember": False}, headers={"X-API-Key": viewer.key})
    assert r.status_code == 403
    editor = await keys.create(service.core.db, "default", "editor")
    r = await client.put("/v1/users/ana/consent", json={"remember": "maybe"}, headers={"X-API-Key": editor.key})
    assert r.status_code == 422 and r.json()["error"]["field"] == "remember"


async def test_mcp_remember_for_a_marked_user_is_skipped(app, client):
    await publish(client, "ana", "I live in Lisbon")
    await _forbid(client, "ana")
    async with Client(app.state.mcp) as mcp:
        said = [{"role": "user", "content": "I have a dog named Rex"}]
        remembered = ok(await mcp.call_tool("remember", {"user_id": "ana", "messages": said}))
        assert remembered["skipped"] == "consent" and remembered["added"] == []
        refused = error(await mcp.call_tool("remember", {"user_id": "ana", "fact": "User keeps bees"}))
        assert refused["code"] == "conflict" and "do not remember" in refused["message"]
        profile = ok(await mcp.call_tool("profile_sections", {"user_id": "ana", "sections": ["facts", "consent"]}))
        data = {s["name"]: s["data"] for s in profile["sections"]}
        assert [f["content"] for f in data["facts"]["static"]] == ["User lives in Lisbon"]
        assert data["consent"]["remember"] is False
    assert await _facts(client, "ana") == ["User lives in Lisbon"]


async def test_the_compatibility_doors_answer_a_skipped_publish(client):
    await _forbid(client, "ana")
    r = await client.post(
        "/v3/memories/add/",
        json={"messages": [{"role": "user", "content": "I live in Lisbon"}], "user_id": "ana", "async_mode": True},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"results": [], "skipped": "consent"}
    r = await client.post(
        "/api/publish_interaction",
        json={"user_id": "ana", "interaction_data_list": [{"role": "User", "content": "I live in Lisbon"}]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and r.json()["skipped"] == "consent"
    r = await client.post("/ns/ana/document", json={"content": "I live in Lisbon", "id": "doc1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "doc1", "status": "done", "skipped": "consent"}
    assert await _facts(client, "ana") == []
    assert (await client.get("/v1/users/ana")).status_code == 404


async def test_a_request_queued_before_the_mark_extracts_nothing(settings):
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(settings)  # not started: the publish stays queued
    try:
        said = InteractionIn(user_id="ana", messages=[MessageIn(role="user", content="I have a dog named Rex")])
        job, _ = await service.ingest(scope, said)
        await service.consent.set(scope, "ana", ConsentIn(remember=False))
        await service.start()
        await service.wait(scope, job.request_id)
        done = await service.request(scope, job.request_id)
        assert done.status == "done" and done.changes.added == []
        assert (await service.users.get(scope, "ana")).analysed_count == 0
    finally:
        await service.close()


async def test_reextracting_a_marked_user_is_refused(client):
    await publish(client, "ana", "I live in Lisbon")
    await _forbid(client, "ana")
    r = await client.post("/v1/users/ana/reextract")
    assert r.status_code == 409 and r.json()["error"]["field"] == "user_id"
    assert "do not remember" in r.json()["error"]["message"]
