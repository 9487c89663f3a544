"""An extraction job calls its model before it takes the user's lock: the user's other writes do not wait for a
slow model, and what they did meanwhile (a purge, a "do not remember" mark) decides what the job may still write."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import psycopg
import pytest

from memory_server.api.app import create_app
from memory_server.config import LLMSettings
from memory_server.context import Scope
from memory_server.store import pg_session
from tests import postgres
from tests.conftest import running, until_finished
from tests.store.test_lost_connections import cut


@pytest.fixture
async def app(settings, llm):
    llm_settings = LLMSettings(model="openai/fake-chat", api_base=llm.api_base, api_key="sk-test", max_retries=0)
    async with running(create_app(settings.model_copy(update={"llm": llm_settings}))) as started:
        yield started


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        assert (await c.put("/v1/config", json={"extractor": "llm"})).status_code == 200
        yield c


@pytest.fixture
def gate():
    """Holds the model's reply until the test lets it go (and lets it go at the end, whatever happened)."""
    event = threading.Event()
    yield event
    event.set()


NURSE = json.dumps({"facts": [{"content": "User is a nurse", "kind": "static", "confidence": 0.9, "message": 0}]})


async def _in_model_call(client, llm, gate) -> str:
    """Publish a request whose model call blocks on `gate`; return its request id once the call is under way."""
    llm.queue({"until": gate, "content": NURSE})
    body = {"user_id": "ana", "messages": [{"role": "user", "content": "I'm a nurse and I love this app"}]}
    r = await client.post("/v1/interactions", json=body)
    assert r.status_code == 202, r.text
    for _ in range(500):
        if llm.requests:
            return r.json()["request_id"]
        await asyncio.sleep(0.01)
    raise AssertionError("the model was never called")


async def _status(client, request_id: str) -> str:
    return (await client.get(f"/v1/requests/{request_id}")).json()["status"]


async def _contents(client) -> list[str]:
    return [f["content"] for f in (await client.get("/v1/users/ana/facts")).json()["items"]]


async def test_a_users_writes_do_not_wait_for_their_jobs_model_call(client, llm, gate):
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User likes green tea", "kind": "static"})
    assert r.status_code in (200, 201), r.text
    tea = r.json()["id"]
    request_id = await _in_model_call(client, llm, gate)
    r = await client.delete(f"/v1/facts/{tea}")
    assert r.status_code == 200, r.text
    assert llm.answered == 0 and await _status(client, request_id) == "running"  # the DELETE did not wait for it
    gate.set()
    [job] = await until_finished(client, request_id)
    assert job["status"] == "done", job
    assert await _contents(client) == ["User is a nurse"]


async def test_a_purge_during_the_model_call_leaves_nothing_of_the_job(client, llm, gate, caplog):
    request_id = await _in_model_call(client, llm, gate)
    r = await client.delete("/v1/users/ana")
    assert r.status_code == 200, r.text
    assert llm.answered == 0  # the purge did not wait for the model
    assert (await client.get(f"/v1/requests/{request_id}")).status_code == 404
    gate.set()
    await _model_call_counted(client)  # the job ended without writing anything
    assert await _contents(client) == []
    assert (await client.get("/v1/users/ana")).status_code == 404
    assert not [r for r in caplog.records if r.name == "memory_server.jobs"]  # it stopped; it did not fail


async def test_do_not_remember_during_the_model_call_drops_what_the_model_found(client, llm, gate):
    request_id = await _in_model_call(client, llm, gate)
    r = await client.put("/v1/users/ana/consent", json={"remember": False, "reason": "asked to"})
    assert r.status_code == 200, r.text
    assert llm.answered == 0
    gate.set()
    [job] = await until_finished(client, request_id)
    assert job["status"] == "done", job
    assert await _contents(client) == []
    user = (await client.get("/v1/users/ana")).json()
    assert (user["message_count"], user["analysed_count"]) == (1, 0)  # kept as said, not read for signals


async def _model_call_counted(client) -> None:
    """Wait until the job's attempt has ended (its model call is counted in the metrics once it has)."""
    for _ in range(500):
        if 'memory_server_model_calls_total{extractor="llm"' in (await client.get("/metrics")).text:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the job never finished")


@pytest.mark.skipif(postgres.ADMIN_URL is None, reason="needs PostgreSQL: MEMORY_SERVER_TEST_POSTGRES")
async def test_a_job_taken_over_while_its_process_was_cut_off_is_left_to_the_other_process(
    client, llm, gate, storage_url
):
    request_id = await _in_model_call(client, llm, gate)
    assert cut(storage_url, pg_session.APPLICATION) == 1  # the session holding the job's claim is gone
    with psycopg.connect(storage_url, autocommit=True) as other:  # another process claims the job meanwhile
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"job:{request_id}",))
        gate.set()
        await _model_call_counted(client)
        assert await _status(client, request_id) == "running"  # the other process's to finish, not ours
        assert await _contents(client) == []


async def _state(client, content: str) -> httpx.Response:
    return await client.post("/v1/facts", json={"user_id": "ana", "content": content, "kind": "static"})


async def _until_asked(llm, calls: int) -> None:
    for _ in range(500):
        if len(llm.requests) >= calls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the model was asked {len(llm.requests)} times, not {calls}")


def _decision(action: str, ids: list[int]) -> str:
    return json.dumps({"decisions": [{"new": 0, "action": action, "ids": ids}]})


async def test_a_stated_fact_the_model_reconciles_is_planned_again_when_the_users_facts_changed_meanwhile(
    client, llm, gate
):
    lyon = (await _state(client, "User lives in Lyon")).json()["id"]
    assert (await _state(client, "User likes green tea")).status_code == 201
    assert llm.requests == []  # nothing related to either: no model asked
    llm.queue({"until": gate, "content": _decision("UPDATE", [0])})  # Paris replaces Lyon, as first planned
    stating = asyncio.ensure_future(_state(client, "User lives in Paris"))
    await _until_asked(llm, 1)
    r = await client.delete(f"/v1/facts/{lyon}")  # meanwhile, Lyon is deleted by hand
    assert r.status_code == 200, r.text
    assert llm.answered == 0  # the DELETE did not wait for the model
    gate.set()
    r = await stating
    assert r.status_code == 201, r.text  # planned again without Lyon: nothing related, added
    assert sorted(await _contents(client)) == ["User likes green tea", "User lives in Paris"]
    assert (await client.get(f"/v1/facts/{lyon}")).json()["status"] == "deleted"
    assert len(llm.requests) == 1


async def test_a_plan_made_before_the_lock_is_kept_when_nothing_changed(client, llm):
    assert (await _state(client, "User lives in Lyon")).status_code == 201
    llm.queue(_decision("UPDATE", [0]))
    r = await _state(client, "User lives in Paris")
    assert r.status_code == 201, r.text
    assert await _contents(client) == ["User lives in Paris"]
    assert len(llm.requests) == 1  # asked once: the plan held


async def test_a_request_retracted_during_its_model_call_is_gone_at_once_and_leaves_nothing(client, llm, gate, service):
    request_id = await _in_model_call(client, llm, gate)
    scope = Scope(service.core.settings.tenant, "test")
    retracted = await service.published.retract(scope, "ana", [request_id])  # at once: not after the model
    assert retracted.request_ids == [request_id] and llm.answered == 0
    assert (await client.get(f"/v1/requests/{request_id}")).status_code == 404
    gate.set()
    await _model_call_counted(client)
    assert await _contents(client) == []
    assert (await client.get("/v1/users/ana/episodes")).json()["items"] == []


async def test_a_retraction_takes_the_facts_a_reextraction_drew_from_its_messages(client, llm, service):
    said = {"user_id": "ana", "messages": [{"role": "user", "content": "I own a kayak; I am a nurse"}], "wait": True}
    llm.queue(json.dumps({"facts": [{"content": "User owns a kayak", "kind": "static", "message": 0}]}))
    request_id = (await client.post("/v1/interactions", json=said)).json()["request_id"]
    llm.queue(NURSE)  # a later config reads more in the same message
    reextract = (await client.post("/v1/users/ana/reextract")).json()["request_id"]
    [job] = await until_finished(client, reextract)
    assert job["status"] == "done", job
    assert sorted(await _contents(client)) == ["User is a nurse", "User owns a kayak"]
    scope = Scope(service.core.settings.tenant, "test")
    retracted = await service.published.retract(scope, "ana", [request_id])
    assert sorted(f.content for f in retracted.facts) == ["User is a nurse", "User owns a kayak"]
    assert await _contents(client) == []


async def test_a_waiting_publish_whose_user_is_purged_meanwhile_is_answered_without_waiting_for_the_model(
    client, llm, gate
):
    llm.queue({"until": gate, "content": NURSE})
    body = {"user_id": "ana", "messages": [{"role": "user", "content": "I'm a nurse"}], "wait": True}
    waiting = asyncio.ensure_future(client.post("/v1/interactions", json=body))
    await _until_asked(llm, 1)
    assert (await client.delete("/v1/users/ana")).status_code == 200
    r = await waiting  # within a poll of the workers, not at the model's answer (or the wait's timeout)
    assert llm.answered == 0
    assert r.status_code == 409 and r.json()["error"]["field"] == "request_id"
    assert "deleted while it was processed" in r.json()["error"]["message"]
