"""Publishing conversations: durable jobs, wait, retries, idempotency, reconciliation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from memory_server import timeutil
from memory_server.api.app import create_app
from memory_server.context import Scope
from memory_server.schemas import InteractionIn
from memory_server.service import MemoryService
from tests.conftest import indexed, publish, running, until_finished, use_extractor
from tests.fakes import fact


async def test_publish_answers_202_with_request_id_then_job_completes(client, fake):
    await use_extractor(client, "fake")
    fake.queue([fact("User is a nurse")])
    r = await client.post(
        "/v1/interactions", json={"user_id": "ana", "messages": [{"role": "user", "content": "I'm a nurse"}]}
    )
    assert r.status_code == 202
    [job] = await until_finished(client, r.json()["request_id"])
    assert job["status"] == "done"
    assert job["attempts"] == 1
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]
    assert fake.calls[-1][0].content == "I'm a nurse"


async def test_wait_true_returns_the_changes(client, fake):
    await use_extractor(client, "fake")
    fake.queue([fact("User lives in Oslo", topic="location"), fact("User likes tea")])
    job = await publish(client, "ana", "I live in Oslo and like tea")
    assert job["status"] == "done"
    added = sorted(f["content"] for f in job["changes"]["added"])
    assert added == ["User likes tea", "User lives in Oslo"]
    for f in job["changes"]["added"]:
        assert f["request_id"] == job["request_id"]
        assert len(f["message_ids"]) == 0 or all(isinstance(i, int) for i in f["message_ids"])


async def test_same_messages_published_twice_do_not_duplicate(client, fake):
    await use_extractor(client, "fake")
    fake.queue([fact("User is a nurse")], [fact("User is a nurse")])
    first = await publish(client, "ana", "I'm a nurse")
    second = await publish(client, "ana", "I'm a nurse")
    assert second["request_id"] == first["request_id"]
    assert len(fake.calls) == 1
    facts = (await client.get("/v1/users/ana/facts")).json()["items"]
    assert [f["content"] for f in facts] == ["User is a nurse"]


async def test_repeated_fact_from_a_new_conversation_is_a_noop(client, fake):
    await use_extractor(client, "fake")
    fake.queue([fact("User is a nurse")], [fact("user is a nurse.")])
    await publish(client, "ana", "I'm a nurse")
    second = await publish(client, "ana", "As I said, I'm a nurse")
    assert second["changes"] == {"request_id": second["request_id"], "added": [], "updated": [], "removed": []}
    facts = (await client.get("/v1/users/ana/facts")).json()["items"]
    assert len(facts) == 1


async def test_newer_value_on_same_topic_supersedes_old_fact(client, fake):
    await use_extractor(client, "fake")
    fake.queue([fact("User lives in Berlin", topic="location")], [fact("User lives in Lisbon", topic="location")])
    first = await publish(client, "ana", "I live in Berlin")
    old_id = first["changes"]["added"][0]["id"]
    second = await publish(client, "ana", "I moved to Lisbon")
    [update] = second["changes"]["updated"]
    assert update["before"]["content"] == "User lives in Berlin"
    assert update["after"]["content"] == "User lives in Lisbon"

    old = (await client.get(f"/v1/facts/{old_id}")).json()
    assert old["status"] == "superseded"
    assert old["superseded_by"] == update["after"]["id"]
    profile = (await client.post("/v1/profile", json={"user_id": "ana"})).json()["profile"]
    assert [f["content"] for f in profile["static"]] == ["User lives in Lisbon"]
    found = (await client.post("/v1/search", json={"user_id": "ana", "query": "Berlin", "threshold": 0})).json()
    assert old_id not in [h["id"] for h in found["results"]]
    history = (await client.get("/v1/users/ana/facts", params={"status": "superseded"})).json()["items"]
    assert [f["content"] for f in history] == ["User lives in Berlin"]
    events = [c["event"] for c in (await client.get("/v1/changelog", params={"user_id": "ana"})).json()["items"]]
    assert events == ["update", "supersede", "add"]


async def test_failing_job_is_retried_then_marked_failed_and_can_be_rerun(client, fake):
    await use_extractor(client, "fake")
    fake.queue(RuntimeError("model down"), RuntimeError("model still down"))
    job = await publish(client, "ana", "I'm a nurse")
    assert job["status"] == "failed"
    assert job["attempts"] == 2
    assert "model still down" in job["error"]
    assert (await client.get("/v1/users/ana/facts")).json()["items"] == []

    fake.queue([fact("User is a nurse")])
    r = await client.post(f"/v1/requests/{job['request_id']}/retry")
    assert r.status_code == 202
    [job] = await until_finished(client, job["request_id"])
    assert job["status"] == "done"
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]


async def test_retry_of_a_request_that_did_not_fail_is_a_conflict(client, fake):
    await use_extractor(client, "fake")
    job = await publish(client, "ana", "hello")
    r = await client.post(f"/v1/requests/{job['request_id']}/retry")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"


async def test_jobs_of_one_user_run_in_order(client, fake):
    await use_extractor(client, "fake")
    fake.queue(
        [fact("User lives in Paris", topic="location")],
        [fact("User lives in Rome", topic="location")],
        [fact("User lives in Madrid", topic="location")],
    )
    ids = []
    for text in ("I live in Paris", "Now Rome", "Now Madrid"):
        ids.append((await publish(client, "ana", text, wait=False))["request_id"])
    assert [j["status"] for j in await until_finished(client, *ids)] == ["done"] * 3
    live = (await client.get("/v1/users/ana/facts")).json()["items"]
    assert [f["content"] for f in live] == ["User lives in Madrid"]


async def test_sources_in_config_limit_which_interactions_are_extracted(client, fake):
    await use_extractor(client, "fake")
    assert (await client.put("/v1/config", json={"sources": ["chat"]})).status_code == 200
    fake.queue([fact("User is a nurse")])
    job = await publish(client, "ana", "I'm a nurse", source="email")
    assert job["status"] == "done"
    assert fake.calls == []
    job = await publish(client, "ana", "I'm a nurse", source="chat")
    assert [f["source"] for f in job["changes"]["added"]] == ["chat"]


async def test_dynamic_fact_gets_expiry_and_leaves_profile_when_expired(client, fake, service, scope):
    await use_extractor(client, "fake")
    fake.queue([fact("User is in Tokyo this week", kind="dynamic", ttl_seconds=1), fact("User is a nurse")])
    job = await publish(client, "ana", "I'm a nurse in Tokyo this week")
    dynamic = next(f for f in job["changes"]["added"] if f["kind"] == "dynamic")
    assert dynamic["expires_at"] is not None
    await asyncio.sleep(1.1)
    profile = (await client.post("/v1/profile", json={"user_id": "ana"})).json()["profile"]
    assert profile["dynamic"] == []
    assert [f["content"] for f in profile["static"]] == ["User is a nurse"]
    assert (await client.get(f"/v1/facts/{dynamic['id']}")).json()["status"] == "expired"
    await service.expire_due()  # the housekeeping task may have got there first; either way one row
    events = (await client.get("/v1/changelog", params={"user_id": "ana"})).json()["items"]
    assert [e["event"] for e in events].count("expire") == 1
    assert dynamic["id"] not in await indexed(service, scope.tenant_id, "ana")


async def test_ttl_from_config_applies_when_fact_has_none(client, fake):
    await use_extractor(client, "fake")
    assert (await client.put("/v1/config", json={"dynamic_ttl_seconds": 3600})).status_code == 200
    fake.queue([fact("User is moving house", kind="dynamic")])
    job = await publish(client, "ana", "I'm moving house")
    added = job["changes"]["added"][0]
    from datetime import datetime

    lifetime = datetime.fromisoformat(added["expires_at"]) - datetime.fromisoformat(added["created_at"])
    assert 3590 <= lifetime.total_seconds() <= 3610
    assert added["config_version"] == 2


async def test_rules_extractor_end_to_end_builds_a_profile_and_follows_a_move(client):
    sent = datetime.now(UTC)  # "this month" is dated from the message's own time
    texts = ("Hi! I'm a nurse and I live in Berlin.", "I'm learning Rust this month.")
    messages = [{"role": "user", "content": text, "created_at": sent.isoformat()} for text in texts]
    first = (await client.post("/v1/interactions", json={"user_id": "ana", "messages": messages, "wait": True})).json()
    rust = f"User is learning Rust in {sent:%B %Y}"
    assert first["status"] == "done"
    assert sorted(f["content"] for f in first["changes"]["added"]) == ["User is a nurse", rust, "User lives in Berlin"]
    assert all(f["config_version"] == 0 for f in first["changes"]["added"])
    chit_chat = await publish(client, "ana", "thanks, that's great lol")
    assert chit_chat["changes"]["added"] == []
    moved = await publish(client, "ana", "I just moved to Lisbon")
    [update] = moved["changes"]["updated"]
    assert (update["before"]["content"], update["after"]["content"]) == ("User lives in Berlin", "User lives in Lisbon")
    profile = (await client.post("/v1/profile", json={"user_id": "ana"})).json()["profile"]
    assert sorted(f["content"] for f in profile["static"]) == ["User is a nurse", "User lives in Lisbon"]
    assert [f["content"] for f in profile["dynamic"]] == [rust]
    assert profile["dynamic"][0]["expires_at"] is not None
    changes = (await client.get("/v1/changelog", params={"request_id": moved["request_id"]})).json()["items"]
    assert {c["actor"] for c in changes} == {"local/extractor:rules"}


async def test_assistant_messages_are_not_attributed_to_the_user(client):
    body = {
        "user_id": "ana",
        "messages": [
            {"role": "assistant", "content": "I'm a large language model and I live in the cloud."},
            {"role": "user", "content": "I'm a pilot."},
        ],
        "wait": True,
    }
    job = (await client.post("/v1/interactions", json=body)).json()
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a pilot"]
    assert job["changes"]["added"][0]["message_ids"] != []


async def test_a_batch_that_moves_away_and_back_keeps_history_and_one_live_fact(client):
    await publish(client, "ana", "I live in Krakow.")
    job = await publish(client, "ana", "I live in Montreal.", "I live in Krakow.")
    assert job["status"] == "done", job["error"]
    live = [f["content"] for f in (await client.get("/v1/users/ana/facts")).json()["items"]]
    assert live == ["User lives in Krakow"]
    history = (await client.get("/v1/users/ana/facts", params={"status": "superseded"})).json()["items"]
    assert sorted(f["content"] for f in history) == ["User lives in Krakow", "User lives in Montreal"]
    montreal = next(f for f in history if f["content"] == "User lives in Montreal")
    assert montreal["superseded_by"] == (await client.get("/v1/users/ana/facts")).json()["items"][0]["id"]


@pytest.mark.parametrize(
    ("said", "live"),
    [
        (["I live in Berlin.", "I moved to Paris.", "I moved back to Berlin."], ["User lives in Berlin"]),
        (["I have 2 kids.", "I have 3 kids."], ["User has 3 kids"]),
        (["I have two children.", "I don't have kids."], ["User doesn't have kids"]),
    ],
)
async def test_a_later_statement_on_the_same_slot_replaces_the_earlier_one(client, said, live):
    for text in said:
        await publish(client, "ana", text)
    assert [f["content"] for f in (await client.get("/v1/users/ana/facts")).json()["items"]] == live


async def test_an_accepted_publish_answers_the_job_exactly_as_stored(settings):
    """A publish without `wait` is answered without reading its job back: the answer must be what a read gives."""
    scope = Scope(settings.tenant, "test")
    service = await MemoryService.open(settings)  # no workers: the job stays queued
    try:
        body = InteractionIn(
            user_id="ana",
            session_id="s-1",
            source="web",
            messages=[{"role": "user", "content": "I'm a nurse"}, {"role": "assistant", "content": "Nice!"}],
        )
        job, duplicate = await service.ingest(scope, body)
        stored = await service.request(scope, job.request_id)
        assert not duplicate and job.status == "queued"
        assert job == stored
        again, duplicate = await service.ingest(scope, body)
        assert duplicate and again == stored
    finally:
        await service.close()


async def test_jobs_queued_while_the_clock_ran_ahead_run_once_it_is_set_back(settings, monkeypatch):
    """A run_after further ahead than any retry puts it was stamped by a wrong clock: the job is due, and the user's
    later publish does not wait behind it."""
    real_now = timeutil.now
    monkeypatch.setattr(timeutil, "now", lambda: real_now() + timedelta(hours=2))
    service = await MemoryService.open(settings)  # no workers: the job stays queued
    try:
        body = InteractionIn(user_id="ana", messages=[{"role": "user", "content": "I'm a beekeeper"}])
        early, _ = await service.ingest(Scope(settings.tenant, "test"), body)
    finally:
        await service.close()
    monkeypatch.setattr(timeutil, "now", real_now)
    settings.workers = settings.workers.model_copy(update={"wait_timeout_seconds": 5})
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            later = await publish(client, "ana", "I'm a nurse")
            assert later["status"] == "done"
            [first] = await until_finished(client, early.request_id, tries=1)
            assert first["status"] == "done"
