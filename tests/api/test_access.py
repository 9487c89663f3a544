"""Who gets in: revoking the last key never reopens the server, Host and Origin checks on every route, wrong
keys limited per client address, clean start-up refusals, and CLI commands scoped to a tenant."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from memory_server import keys
from memory_server.access import api_key
from memory_server.api.app import create_app
from memory_server.cli import app as cli_app
from memory_server.config import LimitSettings, ServerSettings
from memory_server.service import MemoryService
from tests.conftest import running
from tests.servers import running_server, server_settings

runner = CliRunner()


async def _changes(service, tenant: str) -> list[dict]:
    rows = await service.core.db.fetchall(
        "SELECT event, user_id, actor FROM changelog WHERE tenant_id = ? ORDER BY id", (tenant,)
    )
    return [dict(r) for r in rows]


async def test_revoking_the_last_key_keeps_keys_required_and_is_in_the_change_log(client, service):
    admin = await keys.create(service.core.db, "default", "admin")
    headers = {"X-API-Key": admin.key}
    r = await client.delete(f"/v1/keys/{admin.id}", headers=headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None

    for _ in range(2):  # not open: no admin for anyone on loopback, no key minting
        r = await client.post("/v1/keys", json={"role": "admin"})
        assert r.status_code == 401
        assert "every key was revoked" in r.json()["error"]["message"]
    assert (await client.post("/v1/profile", json={"user_id": "ana"})).status_code == 401
    events = await _changes(service, "default")
    assert [e["event"] for e in events] == ["key_create", "key_revoke", "lockdown"]
    assert all(e["user_id"] is None for e in events)
    assert events[1]["actor"] == f"key:{admin.id}"


async def test_the_change_log_lists_tenant_events_beside_fact_events(client, service):
    admin = await keys.create(service.core.db, "default", "admin")
    headers = {"X-API-Key": admin.key}
    viewer = (await client.post("/v1/keys", json={"role": "viewer"}, headers=headers)).json()
    await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"}, headers=headers)
    items = (await client.get("/v1/changelog", headers=headers)).json()["items"]
    assert [(i["event"], i["user_id"]) for i in items] == [
        ("add", "ana"),
        ("key_create", None),
        ("key_create", None),
    ]
    assert items[1]["after"]["id"] == viewer["id"] and "key" not in items[1]["after"]
    assert viewer["key"] not in json.dumps(items)
    only_ana = (await client.get("/v1/changelog", params={"user_id": "ana"}, headers=headers)).json()["items"]
    assert [i["event"] for i in only_ana] == ["add"]


async def test_allow_open_reopens_a_locked_data_directory_and_says_so(settings):
    first = create_app(settings)
    async with running(first):
        key = await keys.create(first.state.service.core.db, "default", "admin")
        await keys.revoke(first.state.service.core.db, key.id)

    again = create_app(settings)  # a restart does not reopen
    transport = httpx.ASGITransport(app=again)
    async with running(again), httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        assert (await c.post("/v1/profile", json={"user_id": "ana"})).status_code == 401

    reopened = create_app(settings.model_copy(update={"server": ServerSettings(allow_open=True)}))
    transport = httpx.ASGITransport(app=reopened)
    async with running(reopened), httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        assert (await c.post("/v1/profile", json={"user_id": "ana"})).status_code == 200
        events = await _changes(reopened.state.service, "default")
        assert [e["event"] for e in events][-2:] == ["lockdown", "open_mode"]
        assert events[-1]["actor"] == "operator:start-up"


async def test_a_foreign_host_is_refused_on_every_route(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1.nip.io:8765") as evil:
        for method, path in (("POST", "/v1/profile"), ("GET", "/v1/config"), ("GET", "/healthz"), ("POST", "/mcp")):
            r = await evil.request(method, path, json={"user_id": "ana"})
            assert r.status_code == 421, (path, r.text)
            assert r.json()["error"]["code"] == "invalid_host"
    for host in ("localhost:8765", "127.0.0.1", "[::1]:9"):
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as ok:
            assert (await ok.get("/healthz")).status_code == 200, host


async def test_a_foreign_origin_cannot_change_state(client):
    evil = {"Origin": "https://evil.example"}
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"}, headers=evil)
    assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_origin"
    assert (await client.get("/v1/users/ana/facts", headers=evil)).json()["items"] == []  # reads are same-origin safe
    same = {"Origin": "http://localhost:8765"}
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"}, headers=same)
    assert r.status_code == 201


async def test_allowed_hosts_and_origins_come_from_the_settings(settings):
    server = ServerSettings(allowed_hosts=["memory.example.com"], allowed_origins=["https://app.example.com"])
    app = create_app(settings.model_copy(update={"server": server}))
    transport = httpx.ASGITransport(app=app)
    async with running(app):
        async with httpx.AsyncClient(transport=transport, base_url="https://memory.example.com") as c:
            assert (await c.get("/healthz")).status_code == 200
            fact = {"user_id": "ana", "content": "User keeps bees"}
            r = await c.post("/v1/facts", json=fact, headers={"Origin": "https://app.example.com"})
            assert r.status_code == 201
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            assert (await c.get("/healthz")).status_code == 421


async def test_wrong_keys_are_limited_per_client_address(settings):
    limited = settings.model_copy(update={"limits": LimitSettings(auth_failures_per_minute=3)})
    app = create_app(limited)
    async with running(app):
        good = (await keys.create(app.state.service.core.db, "A", "viewer")).key

        def client(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 1234))
            return httpx.AsyncClient(transport=transport, base_url="http://localhost")

        async with client("10.0.0.1") as guesser, client("10.0.0.2") as other:
            codes = [
                (
                    await guesser.post("/v1/profile", json={"user_id": "a"}, headers={"X-API-Key": f"msk_{i}"})
                ).status_code
                for i in range(4)
            ]
            assert codes == [401, 401, 401, 429]
            r = await guesser.post("/v1/profile", json={"user_id": "a"}, headers={"X-API-Key": "msk_again"})
            assert r.status_code == 429  # wrong keys from the address are held back
            assert r.headers["Retry-After"] == r.json()["error"]["message"].split("retry in ")[1].split(" s")[0]
            # A valid key is not (a key is 256 random bits: no guesser finds one; a shared NAT is common).
            r = await guesser.post("/v1/profile", json={"user_id": "a"}, headers={"X-API-Key": good})
            assert r.status_code == 200
            r = await other.post("/v1/profile", json={"user_id": "a"}, headers={"X-API-Key": good})
            assert r.status_code == 200


async def test_retry_after_and_the_message_say_the_same_wait(settings):
    limited = settings.model_copy(update={"limits": LimitSettings(requests_per_minute=1)})
    app = create_app(limited)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        key = {"X-API-Key": (await keys.create(app.state.service.core.db, "A", "viewer")).key}
        assert (await c.post("/v1/profile", json={"user_id": "a"}, headers=key)).status_code == 200
        r = await c.post("/v1/profile", json={"user_id": "a"}, headers=key)
        assert r.status_code == 429
        wait = int(r.headers["Retry-After"])
        assert wait >= 1
        assert f"retry in {wait} s" in r.json()["error"]["message"]


def test_export_of_an_unknown_user_is_an_error_not_an_empty_file(settings, tmp_path):
    async def make_database() -> None:
        await (await MemoryService.open(settings)).close()

    asyncio.run(make_database())
    out = tmp_path / "ana.json"
    result = runner.invoke(cli_app, ["export", "--user", "ana", "-o", str(out), "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 1
    assert "has no user ana" in result.output
    assert not out.exists()


async def test_cli_commands_act_in_the_tenant_named(app, settings, tmp_path):
    db = app.state.service.core.db
    admin = {"X-API-Key": (await keys.create(db, "acme", "admin")).key}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        r = await c.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"}, headers=admin)
        assert r.status_code == 201
    await app.state.service.close()  # the CLI opens the data directory itself
    out = tmp_path / "ana.json"

    def export(*extra: str):
        args = ["export", "--user", "ana", "-o", str(out), *extra, "--data-dir", str(settings.data_dir)]
        return runner.invoke(cli_app, args)

    assert (await asyncio.to_thread(export)).exit_code == 1  # the settings' tenant has no ana
    result = await asyncio.to_thread(export, "--tenant", "acme")
    assert result.exit_code == 0, result.output
    assert [f["content"] for f in json.loads(out.read_text())["facts"]] == ["User keeps bees"]


def test_a_second_serve_on_a_taken_data_directory_says_why_in_one_line(tmp_path):
    with server_settings(tmp_path / "data") as settings, running_server(settings):
        result = subprocess.run(
            [sys.executable, "-m", "memory_server", "serve", "--data-dir", str(settings.data_dir), "--port", "1"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: data directory") and "is in use by process" in lines[0]


def test_serving_openly_off_loopback_is_refused_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "memory_server", "serve", "--data-dir", str(tmp_path / "d"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "refusing to serve without API keys on 0.0.0.0" in lines[0], result.stderr


@pytest.mark.parametrize("secret", [None, "msk_wrong"])
def test_an_mcp_session_needs_a_valid_key_before_it_exists(tmp_path, secret):
    with server_settings(tmp_path / "data") as settings, running_server(settings) as url:
        asyncio.run(_make_key(settings))
        headers = {"Accept": "application/json, text/event-stream"}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        r = httpx.post(f"{url}/mcp", json=body, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"


async def _make_key(settings) -> None:
    from memory_server.store.sqlite import SqliteDatabase

    db = SqliteDatabase(settings.db_path)
    await db.open()
    try:
        await keys.create(db, "default", "admin")
    finally:
        await db.close()


def test_the_key_comes_from_bearer_token_or_x_api_key():
    assert api_key({"authorization": "Bearer abc"}) == "abc"
    assert api_key({"authorization": "Token abc"}) == "abc"  # mem0's clients
    assert api_key({"authorization": "token  abc "}) == "abc"
    assert api_key({"x-api-key": "xyz"}) == "xyz"
    assert api_key({"authorization": "Basic abc", "x-api-key": "xyz"}) == "xyz"
    assert api_key({"authorization": "Token "}) is None


async def test_rows_about_keys_and_webhooks_are_an_admins_to_read_in_the_change_log(client, service):
    admin = {"X-API-Key": (await keys.create(service.core.db, "default", "admin")).key}
    viewer = {"X-API-Key": (await keys.create(service.core.db, "default", "viewer")).key}
    assert (await client.post("/v1/keys", json={"role": "editor", "name": "ci"}, headers=admin)).status_code == 201
    r = await client.post("/v1/facts", json={"user_id": "ana", "content": "User keeps bees"}, headers=admin)
    assert r.status_code == 201, r.text

    def events(r: httpx.Response) -> list[str]:
        assert r.status_code == 200, r.text
        return [c["event"] for c in r.json()["items"]]

    assert events(await client.get("/v1/changelog", headers=admin)) == ["add", "key_create", "key_create", "key_create"]
    assert events(await client.get("/v1/changelog", headers=viewer)) == ["add"]
