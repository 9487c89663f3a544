"""CPU-bound work runs off the event loop: a worst-case publish must not hold up anyone else's request.

The assertions are about order, not time: other requests answer while the heavy job is still running.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import publish, until_finished, use_extractor

# 200 messages of 9,000 characters that the rules extractor has to read clause by clause (~5 s of CPU),
# yet that state only three facts, so reconciling them afterwards is quick.
SENTENCE = "I live in Lisbon and I work as a nurse, but my sister is a teacher. Can you suggest a good book? "
WORST_CASE = [(SENTENCE * 100)[:9_000]] * 200


@pytest.fixture
def small_budget(settings):
    settings.workers.extraction_budget_seconds = 1.0


async def test_a_worst_case_publish_does_not_stall_other_requests(client):
    await publish(client, "bob", "I live in Porto.")
    heavy = (await publish(client, "ana", *WORST_CASE, wait=False))["request_id"]
    for _ in range(10):
        assert (await client.get("/healthz")).status_code == 200
        profile = (await client.post("/v1/profile", json={"user_id": "bob"})).json()
        assert [f["content"] for f in profile["profile"]["static"]] == ["User lives in Porto"]
        await asyncio.sleep(0.05)
    assert (await client.get(f"/v1/requests/{heavy}")).json()["status"] in ("queued", "running")
    [job] = await until_finished(client, heavy, tries=3_000)
    assert job["status"] == "done", job
    assert {c["content"] for c in job["changes"]["added"]} == {
        "User lives in Lisbon",
        "User works as a nurse",
        "User's sister is a teacher",
    }


async def test_extraction_over_its_budget_fails_with_a_clear_error_and_the_next_one_runs(small_budget, client):
    heavy = (await publish(client, "ana", *WORST_CASE, wait=False))["request_id"]
    [job] = await until_finished(client, heavy, tries=3_000)
    assert job["status"] == "failed"
    assert "budget of 1 s" in job["error"] and "workers.extraction_budget_seconds" in job["error"]
    after = await publish(client, "ana", "I live in Porto.")
    assert after["status"] == "done"
    assert [c["content"] for c in after["changes"]["added"]] == ["User lives in Porto"]


async def test_a_dead_extraction_process_fails_only_its_job(client):
    await use_extractor(client, "exits")
    crashed = await publish(client, "ana", "I live in Lisbon. " * 100)  # big enough for a worker process
    assert crashed["status"] == "failed"
    assert "died" in crashed["error"]
    await use_extractor(client, "rules")
    after = await publish(client, "ana", "I live in Porto.")
    assert after["status"] == "done"
    assert [c["content"] for c in after["changes"]["added"]] == ["User lives in Porto"]


async def test_signals_an_extractor_returns_from_a_worker_process_are_stored_and_the_rest_analysed_offline(client):
    await use_extractor(client, "rating")
    rated, other = ("My invoice is wrong. " * 60).strip(), "I love how fast the new release is, great job!"
    job = await publish(client, "ana", rated, other)  # over INLINE_CHARS: extracted in a worker process
    assert job["status"] == "done", job
    assert [c["content"] for c in job["changes"]["added"]] == ["User was rated"]
    timeline = {e["content"]: e for e in (await client.get("/v1/users/ana/timeline")).json()["timeline"]}
    assert (timeline[rated]["sentiment"], timeline[rated]["topics"]) == (-0.42, {"billing": 1.0})
    assert timeline[other]["sentiment"] > 0.1  # offline
