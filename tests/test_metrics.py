"""GET /metrics: the Prometheus text format, latency per route template (never per id), the job queue and the
outboxes read at scrape time, and the same access rules as every other route."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence

import pytest
from prometheus_client.parser import text_string_to_metric_families

from extractors.base import CandidateFact, ExtractionContext, Message
from extractors.registry import EXTRACTORS
from memory_server import keys
from memory_server.metrics import MULTIPROC_ENV
from tests.conftest import publish, until_finished, use_extractor


class BlockingExtractor:
    """Holds every extraction until released, so later jobs of the same user stay queued."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> list[CandidateFact]:
        self.started.set()
        await self.release.wait()
        return []


@pytest.fixture
def blocking() -> BlockingExtractor:
    extractor = BlockingExtractor()
    EXTRACTORS.register("blocking", lambda: extractor)
    return extractor


async def scrape(client, **headers: str) -> dict[str, list]:
    """Samples by family name."""
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def value(samples: list, name: str, **labels: str) -> float:
    [found] = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return found


async def test_latency_is_labelled_by_route_template_never_by_id(client):
    for user in ("ana-7f3a", "bob-91c2"):
        assert (await client.get(f"/v1/users/{user}/facts")).status_code == 200
    assert (await client.post("/v1/profile", json={"user_id": "ana-7f3a"})).status_code == 200
    assert (await client.get("/no/such/route")).status_code == 404
    families = await scrape(client)
    latency = families["memory_server_request_duration_seconds"]
    routes = {s.labels["route"] for s in latency}
    assert {"/v1/users/{user_id}/facts", "/v1/profile", "unmatched"} <= routes
    assert not any("ana" in r or "bob" in r or "no/such" in r for r in routes)
    count = "memory_server_request_duration_seconds_count"
    assert value(latency, count, method="GET", route="/v1/users/{user_id}/facts", status="200") >= 2
    assert value(latency, count, method="POST", route="/v1/profile", status="200") >= 1
    assert value(latency, count, method="GET", route="unmatched", status="404") >= 1


async def test_queue_depth_and_oldest_age_reflect_queued_jobs(client, blocking):
    await use_extractor(client, "blocking")
    first = await publish(client, "ana", "one", wait=False)
    await asyncio.wait_for(blocking.started.wait(), 10)
    later = [await publish(client, "ana", text, wait=False) for text in ("two", "three")]
    await asyncio.sleep(0.05)
    families = await scrape(client)
    assert value(families["memory_server_queue_depth"], "memory_server_queue_depth") == 2
    jobs = families["memory_server_jobs"]
    assert value(jobs, "memory_server_jobs", status="queued") == 2
    assert value(jobs, "memory_server_jobs", status="running") == 1
    age = value(families["memory_server_queue_oldest_age_seconds"], "memory_server_queue_oldest_age_seconds")
    assert 0.04 <= age < 60

    blocking.release.set()
    done = await until_finished(client, *(j["request_id"] for j in (first, *later)))
    assert [j["status"] for j in done] == ["done"] * 3
    families = await scrape(client)
    assert value(families["memory_server_queue_depth"], "memory_server_queue_depth") == 0
    assert value(families["memory_server_jobs"], "memory_server_jobs", status="done") == 3
    assert value(families["memory_server_queue_oldest_age_seconds"], "memory_server_queue_oldest_age_seconds") == 0


async def test_both_outboxes_are_reported_empty_once_applied(client):
    families = await scrape(client)
    pending = families["memory_server_outbox_pending"]
    assert value(pending, "memory_server_outbox_pending", outbox="vectors") == 0
    assert value(pending, "memory_server_outbox_pending", outbox="webhooks") == 0
    oldest = families["memory_server_outbox_oldest_age_seconds"]
    assert {s.labels["outbox"]: s.value for s in oldest} == {"vectors": 0, "webhooks": 0}


async def test_metrics_need_an_admin_key_of_the_operators_tenant_once_keys_exist(client, service):
    open_mode = await client.get("/metrics")  # open mode, on loopback: like every other route
    assert open_mode.status_code == 200
    admin = await keys.create(service.core.db, "default", "admin")
    editor = await keys.create(service.core.db, "default", "editor")
    assert (await client.get("/metrics")).status_code == 401
    refused = await client.get("/metrics", headers={"X-API-Key": editor.key})
    assert refused.status_code == 403 and "admin" in refused.json()["error"]["message"]
    assert "memory_server_queue_depth" in await scrape(client, **{"X-API-Key": admin.key})
    other = await keys.create(service.core.db, "acme", "admin")
    refused = await client.get("/metrics", headers={"X-API-Key": other.key})
    assert refused.status_code == 403 and "operator's tenant" in refused.json()["error"]["message"]
    pinned = await keys.create(service.core.db, "default", "admin", project_id=1)
    assert (await client.get("/metrics", headers={"X-API-Key": pinned.key})).status_code == 403


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    spend = "metrics.count_model_usage('llm', 'm', Usage(llm_calls=2, prompt_tokens=5, completion_tokens=1))"
    for _ in range(2):  # two processes counting, as two servers would
        code = f"from extractors.base import Usage; from memory_server import metrics; {spend}"
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
    read = "from prometheus_client import generate_latest; from memory_server import metrics; "
    read += "print(generate_latest(metrics.counted_registry()).decode())"
    text = subprocess.run([sys.executable, "-c", read], env=env, check=True, capture_output=True, text=True).stdout
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert value(samples, "memory_server_model_calls_total", extractor="llm", model="m") == 4
    assert value(samples, "memory_server_model_tokens_total", kind="prompt") == 10
