"""Webhooks: signed events from the outbox to a real receiver, retries, failure and redelivery, SSRF refusal,
bad input, and delivery after a kill -9."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import httpx
import pytest

from memory_server import timeutil, webhooks
from memory_server.api.app import create_app
from memory_server.config import Settings, WebhookSettings
from memory_server.models import Webhook
from memory_server.service import MemoryService
from memory_server.store import webhooks as hooksql
from memory_server.store.sqlite import SqliteDatabase
from memory_server.webhook_delivery import WebhookDispatcher
from tests import postgres
from tests.conftest import publish, running, use_extractor
from tests.servers import child_env
from tests.webhook_receiver import Receiver


def hooks_settings(settings: Settings, **changes: Any) -> Settings:
    """Fast retries, and private addresses allowed (the receiver is on 127.0.0.1) unless told otherwise."""
    values = {
        "allow_private": True,
        "backoff_base_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        "timeout_seconds": 5,
        "max_attempts": 3,
        **changes,
    }
    return settings.model_copy(update={"webhooks": WebhookSettings(**values)})


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryService]]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client, app.state.service


@pytest.fixture
async def hooks(settings) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryService]]:
    async with served(hooks_settings(settings)) as both:
        yield both


async def create_hook(client: httpx.AsyncClient, url: str, *events: str) -> dict:
    r = await client.post("/v1/webhooks", json={"url": url, "events": list(events)})
    assert r.status_code == 201, r.text
    return r.json()


async def deliveries_until(
    client: httpx.AsyncClient, hook_id: str, done: Callable[[list[dict]], bool], tries: int = 500
) -> list[dict]:
    """Poll the webhook's deliveries until `done(items)` holds (or tries run out)."""
    for _ in range(tries):
        items = (await client.get(f"/v1/webhooks/{hook_id}/deliveries")).json()["items"]
        if done(items):
            break
        await asyncio.sleep(0.02)
    return items


def settled(items: list[dict]) -> bool:
    return bool(items) and all(d["status"] != "pending" for d in items)


async def fail_a_request(client: httpx.AsyncClient, fake, user_id: str = "ana") -> dict:
    """Publish a request whose extraction fails on every attempt; answers once it failed for good."""
    await use_extractor(client, "fake")
    fake.queue(RuntimeError("model down"), RuntimeError("model down"))  # workers.max_attempts is 2 in tests
    job = await publish(client, user_id, "hello", wait=True)
    assert job["status"] == "failed", job
    return job


async def test_a_request_failing_for_good_fires_exactly_one_signed_event(hooks, fake):
    client, _ = hooks
    with Receiver() as receiver:
        hook = await create_hook(client, receiver.url, "request.failed")
        assert hook["secret"].startswith("whsec_")
        job = await fail_a_request(client, fake)
        [got] = await receiver.wait_for(1)
        await asyncio.sleep(0.3)  # nothing else arrives: the first failed attempt was retried, not announced
        assert len(receiver.received) == 1
    payload = got.verified(hook["secret"])
    assert payload["type"] == "request.failed"
    assert payload["data"] == {"user_id": "ana", "request_id": job["request_id"], "error": "RuntimeError: model down"}
    assert payload["timestamp"].endswith("Z")
    assert "tenant" not in got.body.decode()
    assert got.headers["webhook-id"].startswith("msg_")
    [delivery] = await deliveries_until(client, hook["id"], settled)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 204
    assert delivery["event_id"] == got.headers["webhook-id"]
    assert delivery["payload"] == payload


async def test_a_finished_request_fires_request_done_to_those_who_want_it(hooks, fake):
    client, _ = hooks
    with Receiver() as wants, Receiver() as other:
        hook = await create_hook(client, wants.url, "request.done", "request.failed")
        await create_hook(client, other.url, "request.failed")
        job = await publish(client, "ana", "I'm a nurse", wait=True)
        [got] = await wants.wait_for(1)
        await asyncio.sleep(0.2)
        assert other.received == []
    payload = got.verified(hook["secret"])
    assert (payload["type"], payload["data"]) == ("request.done", {"user_id": "ana", "request_id": job["request_id"]})


async def test_a_receiver_that_hangs_holds_only_its_own_deliveries(settings, fake):
    async with served(hooks_settings(settings, timeout_seconds=30, concurrency=4)) as (client, _):
        with Receiver(hold=True) as hung, Receiver() as healthy:
            await create_hook(client, hung.url, "request.done")
            hook = await create_hook(client, healthy.url, "request.done")
            jobs = [await publish(client, f"user{i}", "I'm a nurse", wait=True) for i in range(6)]
            got = await healthy.wait_for(6, timeout=10)
            assert len(hung.received) == 1  # one delivery in flight to it (webhooks.per_webhook), the rest wait
            hung.released.set()
            assert len(await hung.wait_for(6, timeout=10)) == 6
    done = [g.verified(hook["secret"])["data"]["request_id"] for g in got]
    assert done == [j["request_id"] for j in jobs]  # each webhook's events in order


async def test_a_paused_webhook_records_and_sends_nothing_until_resumed(settings, fake):
    slow_retry = hooks_settings(settings, backoff_base_seconds=1.0, backoff_max_seconds=1.0)
    async with served(slow_retry) as (client, _):
        with Receiver(statuses=[500]) as receiver:
            hook = await create_hook(client, receiver.url, "request.done")
            await publish(client, "ana", "I'm a nurse", wait=True)  # its first attempt fails: a retry is pending
            await receiver.wait_for(1)
            r = await client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": False})
            assert r.status_code == 200 and r.json()["enabled"] is False
            await publish(client, "bo", "I'm a chef", wait=True)  # not recorded for a paused webhook
            await asyncio.sleep(1.5)  # past the retry's time
            assert len(receiver.received) == 1
            [pending] = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
            assert pending["status"] == "pending"

            r = await client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": True})
            assert r.status_code == 200 and r.json()["enabled"] is True
            [delivered] = await deliveries_until(client, hook["id"], settled)
            assert delivered["status"] == "delivered" and len(receiver.received) == 2
        changes = (await client.get("/v1/changelog")).json()["items"]
        assert [c["after"]["enabled"] for c in changes if c["event"] == "webhook_update"] == [True, False]
        assert (await client.patch("/v1/webhooks/nope", json={"enabled": True})).status_code == 404
        for value in ("maybe", "yes", 1):
            bad = await client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": value})
            assert bad.status_code == 422 and bad.json()["error"]["field"] == "enabled"


async def test_a_receiver_failing_twice_then_succeeding_gets_three_attempts_with_one_id(hooks, fake):
    client, _ = hooks
    with Receiver(statuses=[500, 503]) as receiver:
        hook = await create_hook(client, receiver.url, "request.failed")
        await fail_a_request(client, fake)
        got = await receiver.wait_for(3)
        [delivery] = await deliveries_until(client, hook["id"], settled)
    assert len(got) == 3
    assert len({g.headers["webhook-id"] for g in got}) == 1
    assert [g.verified(hook["secret"])["type"] for g in got] == ["request.failed"] * 3
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 3, 204)
    assert delivery["last_error"] is None and delivery["delivered_at"] is not None


async def test_after_max_attempts_a_delivery_is_failed_listed_and_can_be_redelivered(hooks, fake):
    client, _ = hooks
    with Receiver(statuses=[500, 500, 500]) as receiver:
        hook = await create_hook(client, receiver.url, "request.failed")
        await fail_a_request(client, fake)
        [failed] = await deliveries_until(client, hook["id"], settled)
        assert (failed["status"], failed["attempts"], failed["last_status_code"]) == ("failed", 3, 500)
        assert "HTTP 500" in failed["last_error"]
        listed = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "failed"})).json()
        assert [d["id"] for d in listed["items"]] == [failed["id"]]
        none = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "delivered"})).json()
        assert none["items"] == []

        url = f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver"
        r = await client.post(url)
        assert r.status_code == 202, r.text
        assert (r.json()["status"], r.json()["attempts"]) == ("pending", 0)
        [again] = await deliveries_until(client, hook["id"], settled)
        got = await receiver.wait_for(4)
    assert (again["status"], again["attempts"], again["last_status_code"]) == ("delivered", 1, 204)
    assert len(got) == 4 and {g.headers["webhook-id"] for g in got} == {failed["event_id"]}
    assert got[-1].verified(hook["secret"])["type"] == "request.failed"


async def test_redeliver_refuses_a_pending_delivery_and_unknown_ids(hooks, fake):
    client, _ = hooks
    with Receiver(hold=True) as receiver:  # the first attempt hangs: the delivery stays pending
        hook = await create_hook(client, receiver.url, "request.failed")
        await fail_a_request(client, fake)
        await receiver.wait_for(1)
        [pending] = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
        assert pending["status"] == "pending"
        r = await client.post(f"/v1/webhooks/{hook['id']}/deliveries/{pending['id']}/redeliver")
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        r = await client.post(f"/v1/webhooks/{hook['id']}/deliveries/{pending['id'] + 1}/redeliver")
        assert (r.status_code, r.json()["error"]["field"]) == (404, "delivery_id")
        r = await client.post(f"/v1/webhooks/nope/deliveries/{pending['id']}/redeliver")
        assert (r.status_code, r.json()["error"]["field"]) == (404, "webhook_id")
        receiver.released.set()


async def test_the_secret_is_shown_once_and_a_deleted_webhook_is_gone(hooks, fake):
    client, _ = hooks
    hook = await create_hook(client, "https://hooks.example.com/in?token=t0ps3cret", "request.failed", "request.failed")
    assert hook["events"] == ["request.failed"]
    assert hook["created_by"] == "local" and hook["enabled"] is True
    listed = (await client.get("/v1/webhooks")).json()
    assert [h["id"] for h in listed] == [hook["id"]]
    one = (await client.get(f"/v1/webhooks/{hook['id']}")).json()
    assert "secret" not in one and all("secret" not in h for h in listed)
    assert one == {k: v for k, v in hook.items() if k != "secret"}
    r = await client.delete(f"/v1/webhooks/{hook['id']}")
    assert r.status_code == 200 and r.json()["id"] == hook["id"]
    for path in (f"/v1/webhooks/{hook['id']}", f"/v1/webhooks/{hook['id']}/deliveries"):
        r = await client.get(path)
        assert (r.status_code, r.json()["error"]["field"]) == (404, "webhook_id")
    assert (await client.delete(f"/v1/webhooks/{hook['id']}")).status_code == 404
    log = (await client.get("/v1/changelog")).json()["items"]
    assert [c["event"] for c in log[:2]] == ["webhook_delete", "webhook_create"]
    assert "t0ps3cret" not in str(log) and hook["secret"] not in str(log)  # viewers read the change log
    assert log[1]["after"]["url"] == "https://hooks.example.com/in"


async def test_deleting_a_webhook_deletes_its_deliveries_and_their_events(hooks, fake):
    client, service = hooks
    with Receiver() as receiver:
        hook = await create_hook(client, receiver.url, "request.failed")
        await fail_a_request(client, fake)
        await deliveries_until(client, hook["id"], settled)
    await client.delete(f"/v1/webhooks/{hook['id']}")
    for table in ("webhook_deliveries", "webhook_events"):
        assert (await service.core.db.fetchone(f"SELECT count(*) FROM {table}"))[0] == 0, table


async def test_purging_a_user_deletes_the_events_about_them(hooks, fake):
    client, _ = hooks
    with Receiver(hold=True) as receiver:  # undelivered yet: a purge still removes it
        hook = await create_hook(client, receiver.url, "request.failed")
        await fail_a_request(client, fake, "ana")
        await fail_a_request(client, fake, "bo")
        await receiver.wait_for(2)
        r = await client.delete("/v1/users/ana")
        assert r.json()["purged"]["webhook_events"] == 1
        receiver.released.set()
        items = await deliveries_until(client, hook["id"], settled)
    assert [d["payload"]["data"]["user_id"] for d in items] == ["bo"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[fe80::1]/hook",
    ],
)
async def test_a_private_address_is_refused_at_creation(client, url):
    r = await client.post("/v1/webhooks", json={"url": url, "events": ["request.failed"]})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "url"
    assert "webhooks.allow_private" in error["message"]
    assert (await client.get("/v1/webhooks")).json() == []


async def test_a_public_address_or_allow_private_is_accepted_at_creation(client, settings, tmp_path):
    r = await client.post("/v1/webhooks", json={"url": "https://93.184.215.14/hook", "events": ["request.done"]})
    assert r.status_code == 201, r.text
    with postgres.fresh_database() if postgres.ADMIN_URL else nullcontext(None) as url:  # another deployment
        other = hooks_settings(settings, allow_private=True).model_copy(update={"data_dir": tmp_path / "other"})
        if url is not None:
            other.storage = other.storage.model_copy(update={"url": url})
        async with served(other) as (allowed, _):
            r = await allowed.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["request.done"]})
            assert r.status_code == 201, r.text


async def test_a_name_resolving_to_loopback_is_refused_at_delivery(settings, fake):
    async with served(hooks_settings(settings, allow_private=False)) as (client, _):
        with Receiver() as receiver:
            url = f"http://localhost:{receiver.port}/hook"  # a name: accepted, and checked when resolved
            hook = await create_hook(client, url, "request.failed")
            await fail_a_request(client, fake)
            [delivery] = await deliveries_until(client, hook["id"], settled)
            await asyncio.sleep(0.2)
            assert receiver.received == []
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 1, None)
    assert delivery["last_error"].startswith("localhost resolves to ")
    assert "a loopback address" in delivery["last_error"] and "webhooks.allow_private" in delivery["last_error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["request.failed"]}, "url"),
        ({"url": "ftp://hooks.example.com/", "events": ["request.failed"]}, "url"),
        ({"url": "https:///no-host", "events": ["request.failed"]}, "url"),
        ({"url": "https://user:pw@hooks.example.com/", "events": ["request.failed"]}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * 2100, "events": ["request.failed"]}, "url"),
        ({"url": "https://hooks.example.com/a b", "events": ["request.failed"]}, "url"),
        ({"url": 5, "events": ["request.failed"]}, "url"),
        ({"url": "https://hooks.example.com/"}, "events"),
        ({"url": "https://hooks.example.com/", "events": []}, "events"),
        ({"url": "https://hooks.example.com/", "events": ["request.exploded"]}, "events.0"),
        ({"url": "https://hooks.example.com/", "events": ["request.done", 7]}, "events.1"),
        ({"url": "https://hooks.example.com/", "events": ["request.done"], "secret": "mine"}, "secret"),
    ],
)
async def test_bad_webhook_input_is_422_naming_the_field(client, body, field):
    r = await client.post("/v1/webhooks", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert (await client.get("/v1/webhooks")).json() == []


async def test_bad_delivery_queries_are_422_naming_the_field(client):
    hook = await create_hook(client, "https://hooks.example.com/", "request.done")
    for params, field in (({"status": "lost"}, "status"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit")):
        r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries", params=params)
        assert (r.status_code, r.json()["error"]["field"]) == (422, field), r.text
    r = await client.post(f"/v1/webhooks/{hook['id']}/deliveries/0/redeliver")
    assert (r.status_code, r.json()["error"]["field"]) == (422, "delivery_id")


async def test_a_tenant_may_register_at_most_max_per_tenant_webhooks(settings):
    async with served(hooks_settings(settings, max_per_tenant=2)) as (client, _):
        for _ in range(2):
            await create_hook(client, "https://hooks.example.com/", "request.done")
        r = await client.post("/v1/webhooks", json={"url": "https://hooks.example.com/", "events": ["request.done"]})
        assert r.status_code == 409 and "webhooks.max_per_tenant" in r.json()["error"]["message"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(data_dir, port: int, llm_port: int) -> subprocess.Popen:
    """`memory-server serve` in a process of its own, whose llm extractor calls a port nothing listens on."""
    env = child_env()
    env.update(
        MEMORY_SERVER_DATA_DIR=str(data_dir),
        MEMORY_SERVER_WEBHOOKS__ALLOW_PRIVATE="true",
        MEMORY_SERVER_WEBHOOKS__TIMEOUT_SECONDS="60",
        MEMORY_SERVER_WEBHOOKS__PER_WEBHOOK="2",  # both of the test's deliveries in flight when it is killed
        MEMORY_SERVER_WORKERS__MAX_ATTEMPTS="1",
        MEMORY_SERVER_EXTRACTION__EXTRACTOR="llm",
        MEMORY_SERVER_LLM__MODEL="openai/nothing-here",
        MEMORY_SERVER_LLM__API_BASE=f"http://127.0.0.1:{llm_port}/v1",
        MEMORY_SERVER_LLM__API_KEY="sk-test",
        MEMORY_SERVER_LLM__MAX_RETRIES="0",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "memory_server", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.sqlite  # on PostgreSQL a dead process's claims expire (webhooks.timeout_seconds + 60 s)
async def test_events_undelivered_at_a_kill_9_are_delivered_after_restart_with_the_same_id(settings):
    port = _free_port()
    with Receiver(hold=True) as receiver:  # takes each delivery and never answers while the server lives
        proc = _serve(settings.data_dir, port, _free_port())
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        await http.get("/healthz")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                r = await http.post("/v1/webhooks", json={"url": receiver.url, "events": ["request.failed"]})
                hook = r.json()
                jobs = []
                for user in ("ana", "bo"):
                    body = {"user_id": user, "messages": [{"role": "user", "content": "hi"}], "wait": True}
                    jobs.append((await http.post("/v1/interactions", json=body)).json())
                assert [j["status"] for j in jobs] == ["failed", "failed"], jobs
                first = await receiver.wait_for(2)
                assert len(first) == 2  # both in flight, neither answered
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        receiver.released.set()
        async with served(hooks_settings(settings)) as (client, _):
            items = await deliveries_until(client, hook["id"], lambda i: len(i) == 2 and settled(i))
            got = await receiver.wait_for(4)
    assert [d["status"] for d in items] == ["delivered", "delivered"]
    assert [d["attempts"] for d in items] == [2, 2]  # the attempt the crash cut off counts
    assert len(got) == 4
    ids = [g.headers["webhook-id"] for g in got]
    assert sorted(ids[:2]) == sorted(ids[2:]) and len(set(ids)) == 2  # the same two events, sent again
    payloads = [g.verified(hook["secret"]) for g in got[2:]]
    assert {p["data"]["request_id"] for p in payloads} == {j["request_id"] for j in jobs}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
async def test_https_goes_to_the_checked_address_with_the_name_for_tls(settings, tmp_path):
    """The delivery connects to the address it resolved and checked, and still verifies the certificate of
    the name in the URL (sent as SNI), so a pinned address cannot weaken TLS."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost"
    subprocess.run([*make.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    with Receiver(tls=server_tls) as receiver:
        secret = webhooks.new_secret()
        url = f"https://localhost:{receiver.port}/hook"
        hook = Webhook(id="h", url=url, events=["request.done"], created_by="test", created_at=timeutil.now())
        async with db.transaction() as conn:
            await hooksql.insert(conn, "A", hook, secret)
            await webhooks.emit(conn, "A", "request.done", {"user_id": "ana", "request_id": "r1"})
        dispatcher = WebhookDispatcher(
            db, hooks_settings(settings).webhooks, 0.05, verify=ssl.create_default_context(cafile=cert)
        )
        await dispatcher.start()
        try:
            [got] = await receiver.wait_for(1)
        finally:
            await dispatcher.stop()
            await db.close()
    assert got.verified(secret)["data"] == {"user_id": "ana", "request_id": "r1"}
    assert got.headers["host"] == f"localhost:{receiver.port}"
    assert "localhost" in names
