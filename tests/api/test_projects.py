"""Projects: separate memory spaces inside a tenant, named by `X-Project-Id` or by a key limited to one."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from memory_server import keys, timeutil
from memory_server.cli import app as cli
from memory_server.store import migrations
from memory_server.store.sqlite import SqliteDatabase


async def _key(service, tenant: str, role: str = "admin", project: int | None = None) -> dict[str, str]:
    made = await keys.create(service.core.db, tenant, role, project_id=project)
    return {"Authorization": f"Bearer {made.key}"}


async def _project(client, auth: dict[str, str], name: str) -> int:
    r = await client.post("/v1/projects", json={"name": name}, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _publish(client, auth: dict[str, str], user: str, text: str) -> None:
    body = {"user_id": user, "messages": [{"role": "user", "content": text}], "wait": True}
    r = await client.post("/v1/interactions", json=body, headers=auth)
    assert r.status_code == 200, r.text


async def _facts(client, auth: dict[str, str], user: str) -> list[str]:
    r = await client.post("/v1/profile", json={"user_id": user}, headers=auth)
    assert r.status_code == 200, r.text
    profile = r.json()["profile"]
    return [f["content"] for f in profile["static"] + profile["dynamic"]]


async def test_projects_are_numbered_per_tenant_and_the_default_is_one(client, service):
    a, b = await _key(service, "A"), await _key(service, "B")
    assert await _project(client, a, "shop") == 2
    assert await _project(client, a, "support") == 3
    assert await _project(client, b, "shop") == 2  # names and numbers are the tenant's own
    listed = (await client.get("/v1/projects", headers=a)).json()
    assert [(p["id"], p["name"], p["default"]) for p in listed] == [
        (1, "default", True),
        (2, "shop", False),
        (3, "support", False),
    ]
    r = await client.post("/v1/projects", json={"name": "shop"}, headers=a)
    assert r.status_code == 409 and r.json()["error"]["field"] == "name"
    r = await client.post("/v1/projects", json={"name": " "}, headers=a)
    assert r.status_code == 422 and "name" in r.text
    viewer = await _key(service, "A", "viewer")
    assert (await client.post("/v1/projects", json={"name": "x"}, headers=viewer)).status_code == 403
    assert (await client.get("/v1/projects", headers=viewer)).status_code == 403
    changes = (await client.get("/v1/changelog", headers=a)).json()["items"]
    assert [c["after"]["name"] for c in changes if c["event"] == "project_create"] == ["support", "shop"]


async def test_memory_in_one_project_is_invisible_from_another(client, service):
    admin = await _key(service, "A")
    shop = await _project(client, admin, "shop")
    in_shop = {**admin, "X-Project-Id": str(shop)}
    await _publish(client, in_shop, "ana", "I'm a nurse")
    await _publish(client, admin, "ana", "I live in Lisbon")
    assert await _facts(client, in_shop, "ana") == ["User is a nurse"]
    assert await _facts(client, admin, "ana") == ["User lives in Lisbon"]
    assert await _facts(client, {**admin, "X-Project-Id": "1"}, "ana") == ["User lives in Lisbon"]
    found = (await client.post("/v1/search", json={"user_id": "ana", "query": "nurse"}, headers=admin)).json()
    assert "nurse" not in json.dumps(found)
    users = (await client.get("/v1/users", headers=in_shop)).json()["users"]
    assert [u["user_id"] for u in users] == ["ana"]
    # purging the user in the default project leaves the shop's memory alone
    assert (await client.delete("/v1/users/ana", headers=admin)).status_code == 200
    assert await _facts(client, in_shop, "ana") == ["User is a nurse"]


@pytest.mark.parametrize(
    ("header", "status", "words"),
    [
        ("abc", 422, "X-Project-Id: must be a project id"),
        ("0", 422, "X-Project-Id: must be a project id"),
        ("-2", 422, "X-Project-Id: must be a project id"),
        ("99999999999999999999", 422, "X-Project-Id: must be a project id"),
        ("7", 404, "X-Project-Id: no project 7"),
    ],
)
async def test_a_bad_or_unknown_project_header_is_a_clear_error(client, service, header, status, words):
    admin = await _key(service, "A")
    r = await client.post("/v1/profile", json={"user_id": "ana"}, headers={**admin, "X-Project-Id": header})
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]
    assert r.json()["error"]["field"] == "X-Project-Id"


async def test_another_tenants_project_is_not_found(client, service):
    a, b = await _key(service, "A"), await _key(service, "B")
    await _project(client, a, "one")
    shop = await _project(client, a, "shop")
    r = await client.post("/v1/profile", json={"user_id": "ana"}, headers={**b, "X-Project-Id": str(shop)})
    assert r.status_code == 404


async def test_a_key_limited_to_a_project_stays_in_it(client, service):
    admin = await _key(service, "A")
    shop = await _project(client, admin, "shop")
    pinned = await _key(service, "A", "admin", project=shop)
    await _publish(client, pinned, "ana", "I'm a nurse")
    assert await _facts(client, {**admin, "X-Project-Id": str(shop)}, "ana") == ["User is a nurse"]
    assert await _facts(client, admin, "ana") == []
    assert await _facts(client, {**pinned, "X-Project-Id": str(shop)}, "ana") == ["User is a nurse"]
    r = await client.post("/v1/profile", json={"user_id": "ana"}, headers={**pinned, "X-Project-Id": "1"})
    assert r.status_code == 403 and "limited to project 2" in r.text
    assert (await client.post("/v1/projects", json={"name": "x"}, headers=pinned)).status_code == 403
    assert [p["id"] for p in (await client.get("/v1/projects", headers=pinned)).json()] == [shop]
    made = (await client.post("/v1/keys", json={"role": "viewer"}, headers=pinned)).json()
    assert made["project_id"] == shop  # a limited key cannot make an unlimited one
    listed = (await client.get("/v1/keys", headers=pinned)).json()
    assert {k["project_id"] for k in listed} == {shop}
    tenant_keys = [k for k in (await client.get("/v1/keys", headers=admin)).json() if k["project_id"] is None]
    r = await client.delete(f"/v1/keys/{tenant_keys[0]['id']}", headers=pinned)
    assert r.status_code == 404


async def test_a_key_for_an_unknown_project_is_refused(client, service):
    admin = await _key(service, "A")
    r = await client.post("/v1/keys", json={"role": "viewer", "project_id": 4}, headers=admin)
    assert r.status_code == 404 and r.json()["error"]["field"] == "project_id"


async def test_the_migration_gives_every_known_tenant_a_default_project(tmp_path, monkeypatch):
    before = migrations.MIGRATIONS.index(migrations.m010_projects)
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:before])
    db = SqliteDatabase(tmp_path / "m.db")
    await db.open()
    now = timeutil.to_db(timeutil.now())
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO users (tenant_id, user_id, first_seen, last_seen, message_count, created_at, updated_at) "
            "VALUES ('shop', 'ana', ?, ?, 1, ?, ?)",
            (now, now, now, now),
        )
        await conn.execute(
            "INSERT INTO api_keys (id, tenant_id, role, prefix, secret_hash, created_at) "
            "VALUES ('k', 'acme', 'admin', 'msk_', 'h', ?)",
            (now,),
        )
    await db.close()
    monkeypatch.undo()
    await db.open()
    try:
        rows = await db.fetchall("SELECT tenant_id, id, name FROM projects")
        assert sorted(tuple(r) for r in rows) == [("acme", 1, "default"), ("shop", 1, "default")]
    finally:
        await db.close()


def test_cli_creates_and_lists_projects_and_limits_keys(tmp_path):
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    made = runner.invoke(cli, ["projects", "create", "shop", "--tenant", "acme", *data])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["id"] == 2
    listed = runner.invoke(cli, ["projects", "list", "--tenant", "acme", *data])
    assert [p["name"] for p in json.loads(listed.stdout)] == ["default", "shop"]
    key = runner.invoke(cli, ["keys", "create", "--tenant", "acme", "--role", "viewer", "--project", "2", *data])
    assert key.exit_code == 0 and json.loads(key.stdout)["project_id"] == 2
    bad = runner.invoke(cli, ["keys", "create", "--tenant", "acme", "--role", "viewer", "--project", "3", *data])
    assert bad.exit_code == 1 and "no project 3" in bad.output
    dup = runner.invoke(cli, ["projects", "create", "shop", "--tenant", "acme", *data])
    assert dup.exit_code == 1 and "already has a project named 'shop'" in dup.output
