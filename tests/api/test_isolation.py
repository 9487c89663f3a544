"""Tenants, projects, keys and roles over HTTP: every route, two tenants and a second project of the first,
three roles, exact outcomes, no leaks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest

from memory_server import keys
from tests.conftest import running

SECRET = "User keeps bees named Zorblax"  # tenant A's data; must never reach tenant B


@dataclass
class World:
    client: httpx.AsyncClient
    keys: dict[tuple[str, str], str]  # (tenant, role) -> secret

    def auth(self, tenant: str, role: str) -> dict[str, str]:
        """`tenant` "A/2" is tenant A's key in A's project 2 (named by the X-Project-Id header)."""
        name, _, project = tenant.partition("/")
        headers = {"Authorization": f"Bearer {self.keys[(name, role)]}"}
        return {**headers, "X-Project-Id": project} if project else headers

    async def fact(self) -> str:
        """A fresh tenant-A fact for user ana, made by A's admin."""
        r = await self.client.post(
            "/v1/facts", json={"user_id": "ana", "content": SECRET}, headers=self.auth("A", "admin")
        )
        assert r.status_code in (200, 201), r.text
        return r.json()["id"]


@pytest.fixture
async def world(app, client) -> World:
    db = app.state.service.core.db
    made = {}
    for tenant in ("A", "B"):
        for role in ("viewer", "editor", "admin"):
            made[(tenant, role)] = (await keys.create(db, tenant, role)).key
    w = World(client, made)
    r = await client.post("/v1/projects", json={"name": "second"}, headers=w.auth("A", "admin"))
    assert r.status_code == 201 and r.json()["id"] == 2, r.text
    await w.fact()
    # A's webhook: a name that resolves to loopback, so the request.done below fails at once (no network)
    hook = {"url": "http://localhost:1/hook", "events": ["request.done"]}
    r = await client.post("/v1/webhooks", json=hook, headers=w.auth("A", "admin"))
    assert r.status_code == 201, r.text
    w.webhook = r.json()["id"]  # type: ignore[attr-defined]
    said = [{"role": "user", "content": "I'm a nurse"}, {"role": "user", "content": "Zorblax stung me again lol"}]
    segment = {"name": "Zorblax keepers", "condition": {"attribute": "pet", "eq": "Zorblax"}}
    r = await client.post("/v1/segments", json=segment, headers=w.auth("A", "admin"))
    assert r.status_code == 201, r.text
    w.segment = r.json()["id"]  # type: ignore[attr-defined]
    r = await client.post(
        "/v1/interactions",
        json={"user_id": "ana", "messages": said, "wait": True, "user_attributes": {"pet": "Zorblax"}},
        headers=w.auth("A", "admin"),
    )
    assert r.status_code == 200
    w.request_id = r.json()["request_id"]  # type: ignore[attr-defined]
    episodes = (await client.get("/v1/users/ana/episodes", headers=w.auth("A", "viewer"))).json()["items"]
    w.episode = next(e["message_id"] for e in episodes if "Zorblax" in e["content"])  # type: ignore[attr-defined]
    for _ in range(500):
        r = await client.get(f"/v1/webhooks/{w.webhook}/deliveries", headers=w.auth("A", "admin"))
        if [d["status"] for d in r.json()["items"]] == ["failed"]:
            break
        await asyncio.sleep(0.02)
    w.delivery = r.json()["items"][0]["id"]  # type: ignore[attr-defined]
    return w


RANK = {"viewer": 0, "editor": 1, "admin": 2}

# (name, minimum role, method, path, body) — {fact} and {request} are filled per call.
ROUTES = [
    (
        "publish",
        "editor",
        "POST",
        "/v1/interactions",
        {"user_id": "ana", "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("request", "viewer", "GET", "/v1/requests/{request}", None),
    ("request changes", "viewer", "GET", "/v1/requests/{request}/changes", None),
    ("retry", "editor", "POST", "/v1/requests/{request}/retry", None),
    ("reextract", "editor", "POST", "/v1/users/ana/reextract", None),
    ("profile", "viewer", "POST", "/v1/profile", {"user_id": "ana", "q": "bees"}),
    ("search", "viewer", "POST", "/v1/search", {"user_id": "ana", "query": "bees", "threshold": 0}),
    ("retrievals", "viewer", "GET", "/v1/users/ana/retrievals", None),
    ("metrics", "admin", "GET", "/metrics", None),
    ("add fact", "editor", "POST", "/v1/facts", {"user_id": "ana", "content": "User likes tea"}),
    ("list facts", "viewer", "GET", "/v1/users/ana/facts?status=all", None),
    ("get fact", "viewer", "GET", "/v1/facts/{fact}", None),
    ("delete fact", "editor", "DELETE", "/v1/facts/{fact}", None),
    ("delete by query", "editor", "POST", "/v1/facts/delete", {"user_id": "ana", "query": SECRET, "threshold": 0.9}),
    ("list episodes", "viewer", "GET", "/v1/users/ana/episodes", None),
    ("get episode", "viewer", "GET", "/v1/episodes/{episode}", None),
    ("delete episode", "editor", "DELETE", "/v1/episodes/{episode}", None),
    ("purge user", "admin", "DELETE", "/v1/users/ana", None),
    ("changelog", "viewer", "GET", "/v1/changelog", None),
    ("get config", "admin", "GET", "/v1/config", None),
    ("put config", "admin", "PUT", "/v1/config", {"dynamic_ttl_seconds": 3600}),
    ("config history", "admin", "GET", "/v1/config/history", None),
    ("create key", "admin", "POST", "/v1/keys", {"role": "viewer"}),
    ("list keys", "admin", "GET", "/v1/keys", None),
    (
        "create webhook",
        "admin",
        "POST",
        "/v1/webhooks",
        {"url": "https://hooks.example.com/", "events": ["request.done"]},
    ),
    ("list webhooks", "admin", "GET", "/v1/webhooks", None),
    ("get webhook", "admin", "GET", "/v1/webhooks/{webhook}", None),
    ("list deliveries", "admin", "GET", "/v1/webhooks/{webhook}/deliveries", None),
    ("redeliver", "admin", "POST", "/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver", None),
    ("delete webhook", "admin", "DELETE", "/v1/webhooks/{webhook}", None),
    ("list users", "viewer", "GET", "/v1/users", None),
    ("users in segment", "viewer", "GET", "/v1/users?segment={segment}", None),
    ("get user", "viewer", "GET", "/v1/users/ana", None),
    ("timeline", "viewer", "GET", "/v1/users/ana/timeline", None),
    ("put user", "editor", "PUT", "/v1/users/ana", {"attributes": {"plan": "pro"}}),
    ("create segment", "admin", "POST", "/v1/segments", {"name": "s", "condition": {"has_intention": "needs help"}}),
    ("list segments", "admin", "GET", "/v1/segments", None),
    ("get segment", "admin", "GET", "/v1/segments/{segment}", None),
    ("put segment", "admin", "PUT", "/v1/segments/{segment}", {"description": "changed"}),
    ("segment members", "admin", "GET", "/v1/segments/{segment}/members", None),
    ("delete segment", "admin", "DELETE", "/v1/segments/{segment}", None),
]

# What an allowed caller gets; the same for tenant B and A's second project, but they act in their own (empty) space.
OWN_TENANT = {
    "metrics": 403,  # they span every tenant: only the operator's tenant reads them
    "retry": 409,
    "publish": 202,
    "add fact": 201,
    "create key": 201,
    "reextract": 202,
    "create webhook": 201,
    "redeliver": 202,
    "create segment": 201,
}
OTHER_TENANT = {
    "metrics": 403,
    "request": 404,
    "purge user": 404,  # no such user there
    "request changes": 404,
    "retry": 404,
    "get fact": 404,
    "delete fact": 404,
    "get episode": 404,
    "delete episode": 404,
    "reextract": 404,
    "publish": 202,
    "add fact": 201,
    "create key": 201,
    "create webhook": 201,
    "get webhook": 404,
    "list deliveries": 404,
    "redeliver": 404,
    "delete webhook": 404,
    "users in segment": 404,
    "get user": 404,
    "timeline": 404,
    "create segment": 201,
    "get segment": 404,
    "put segment": 404,
    "segment members": 404,
    "delete segment": 404,
}


#: Roles are checked the same way in every space, so A's second project is crossed with the admin role only: the
#: key that may do most is the one that must not reach across.
SPACES_AND_ROLES = [(t, r) for t in ("A", "B") for r in ("viewer", "editor", "admin")] + [("A/2", "admin")]


@pytest.mark.parametrize(("tenant", "role"), SPACES_AND_ROLES, ids=[f"{t}-{r}" for t, r in SPACES_AND_ROLES])
@pytest.mark.parametrize(("name", "needs", "method", "path", "body"), ROUTES, ids=[r[0] for r in ROUTES])
async def test_isolation_matrix(world, tenant, role, name, needs, method, path, body):
    fact_id = await world.fact()
    url = path.format(
        fact=fact_id,
        request=world.request_id,
        episode=world.episode,
        webhook=world.webhook,
        delivery=world.delivery,
        segment=world.segment,
    )
    r = await world.client.request(method, url, json=body, headers=world.auth(tenant, role))
    allowed = (OWN_TENANT if tenant == "A" else OTHER_TENANT).get(name, 200)
    expected = 403 if RANK[role] < RANK[needs] else allowed
    assert r.status_code == expected, (name, tenant, role, r.text)
    if r.status_code >= 400:
        assert set(r.json()) == {"error"}
    if tenant != "A":
        assert "Zorblax" not in r.text
        if r.status_code < 400:  # a 404 may echo the id B sent; nothing else may mention it
            assert fact_id not in r.text
    # tenant A's fact is untouched by anything B did
    still = await world.client.get(f"/v1/facts/{fact_id}", headers=world.auth("A", "viewer"))
    if tenant != "A":
        assert still.status_code == 200 and still.json()["status"] == "active"
        episode = await world.client.get(f"/v1/episodes/{world.episode}", headers=world.auth("A", "viewer"))
        assert "Zorblax" in episode.json()["content"]
        hooks = await world.client.get(f"/v1/webhooks/{world.webhook}/deliveries", headers=world.auth("A", "admin"))
        assert [d["status"] for d in hooks.json()["items"]] == ["failed"]
        assert world.webhook not in (await world.client.get("/v1/webhooks", headers=world.auth(tenant, "admin"))).text
        user = (await world.client.get("/v1/users/ana", headers=world.auth("A", "viewer"))).json()
        assert user["attributes"]["pet"] == "Zorblax"
        assert [s["id"] for s in user["segments"]] == [world.segment]
        members = await world.client.get(f"/v1/segments/{world.segment}/members", headers=world.auth("A", "admin"))
        assert [m["user_id"] for m in members.json()["items"]] == ["ana"]


async def test_webhooks_and_deliveries_are_reached_only_in_their_tenant(world):
    a, b = world.auth("A", "admin"), world.auth("B", "admin")
    r = await world.client.post(
        "/v1/webhooks", json={"url": "http://localhost:1/b", "events": ["request.done"]}, headers=b
    )
    own = r.json()["id"]
    assert [h["id"] for h in (await world.client.get("/v1/webhooks", headers=b)).json()] == [own]
    assert [h["id"] for h in (await world.client.get("/v1/webhooks", headers=a)).json()] == [world.webhook]
    # A's delivery through B's own webhook: still not found
    r = await world.client.post(f"/v1/webhooks/{own}/deliveries/{world.delivery}/redeliver", headers=b)
    assert (r.status_code, r.json()["error"]["field"]) == (404, "delivery_id")
    assert (await world.client.get(f"/v1/webhooks/{own}/deliveries", headers=b)).json()["items"] == []
    # B's failing or finished requests never reach A's webhook
    said = {"user_id": "ana", "messages": [{"role": "user", "content": "hi"}], "wait": True}
    assert (await world.client.post("/v1/interactions", json=said, headers=b)).status_code == 200
    items = (await world.client.get(f"/v1/webhooks/{world.webhook}/deliveries", headers=a)).json()["items"]
    assert len(items) == 1


async def test_keys_are_required_once_any_exists(world):
    for headers in ({}, {"Authorization": "Bearer msk_not-a-real-key"}, {"X-API-Key": "nonsense"}):
        r = await world.client.post("/v1/profile", json={"user_id": "ana"}, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"] == "Bearer"
    r = await world.client.post(
        "/v1/profile", json={"user_id": "ana"}, headers={"X-API-Key": world.keys[("A", "viewer")]}
    )
    assert r.status_code == 200
    assert SECRET in r.text


async def test_a_revoked_key_stops_working_at_once(world):
    listed = (await world.client.get("/v1/keys", headers=world.auth("A", "admin"))).json()
    assert all("key" not in k for k in listed)
    assert {k["tenant_id"] for k in listed} == {"A"}
    viewer = next(k for k in listed if k["role"] == "viewer")
    r = await world.client.delete(f"/v1/keys/{viewer['id']}", headers=world.auth("A", "admin"))
    assert r.json()["revoked_at"] is not None
    r = await world.client.post("/v1/profile", json={"user_id": "ana"}, headers=world.auth("A", "viewer"))
    assert r.status_code == 401
    other = (await world.client.get("/v1/keys", headers=world.auth("B", "admin"))).json()[0]["id"]
    assert (await world.client.delete(f"/v1/keys/{other}", headers=world.auth("A", "admin"))).status_code == 404


async def test_change_log_records_the_key_that_acted(world):
    key_id = next(
        k["id"]
        for k in (await world.client.get("/v1/keys", headers=world.auth("A", "admin"))).json()
        if k["role"] == "editor"
    )
    r = await world.client.post(
        "/v1/facts", json={"user_id": "ana", "content": "User likes tea"}, headers=world.auth("A", "editor")
    )
    [change] = (await world.client.get("/v1/changelog", params={"limit": 1}, headers=world.auth("A", "viewer"))).json()[
        "items"
    ]
    assert change["after"]["id"] == r.json()["id"]
    assert change["actor"] == f"key:{key_id}"


async def test_rate_limit_answers_429_with_retry_after(settings, tmp_path):
    from memory_server.api.app import create_app
    from memory_server.config import LimitSettings

    limited = settings.model_copy(update={"limits": LimitSettings(requests_per_minute=3)})
    app = create_app(limited)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        key = (await keys.create(app.state.service.core.db, "A", "viewer")).key
        codes = [
            (await c.post("/v1/profile", json={"user_id": "ana"}, headers={"X-API-Key": key})).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        r = await c.post("/v1/profile", json={"user_id": "ana"}, headers={"X-API-Key": key})
        assert r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1


async def test_open_mode_is_refused_off_loopback(settings):
    from memory_server.api.app import create_app
    from memory_server.config import ServerSettings
    from memory_server.errors import Unavailable

    exposed = settings.model_copy(update={"server": ServerSettings(host="0.0.0.0")})
    app = create_app(exposed)
    with pytest.raises(Unavailable, match=r"refusing to serve without API keys on 0\.0\.0\.0"):
        async with running(app):
            pass
    allowed = settings.model_copy(update={"server": ServerSettings(host="0.0.0.0", insecure=True)})
    app = create_app(allowed)
    async with running(app):
        assert app.state.service is not None
