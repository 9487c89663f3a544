"""`POST /v4/profile` as Supermemory's Profile API documents it (shared/seeds/supermemory-profile-api.md): the
seed's request bodies, its response shape exactly, and its errors (400, 401, 404)."""

from __future__ import annotations

import httpx
import pytest

from memory_server import keys
from tests.fakes import fact

STATIC = ["User is a software engineer", "User specializes in Python and React", "User prefers dark mode interfaces"]
DYNAMIC = ["User is working on Project Alpha", "User is debugging deployment errors in production"]


@pytest.fixture
async def user_123(client: httpx.AsyncClient, fake, bearer) -> dict[str, str]:
    """user_123 with the seed's static facts and two dynamic ones, published through /v1."""
    fake.queue([fact(t) for t in STATIC] + [fact(t, kind="dynamic") for t in DYNAMIC])
    body = {"user_id": "user_123", "messages": [{"role": "user", "content": "about me"}], "wait": True}
    r = await client.post("/v1/interactions", json=body, headers=bearer)
    assert r.status_code == 200, r.text
    return bearer


async def test_basic_request_answers_static_and_dynamic_strings_without_search_results(client, user_123):
    r = await client.post("/v4/profile", json={"containerTag": "user_123"}, headers=user_123)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"profile"}  # searchResults only when q is given
    assert set(body["profile"]) == {"static", "dynamic"}
    assert sorted(body["profile"]["static"]) == sorted(STATIC)
    assert sorted(body["profile"]["dynamic"]) == sorted(DYNAMIC)


async def test_profile_with_search_adds_results_total_and_timing(client, user_123):
    body = {"containerTag": "user_123", "q": "deployment errors yesterday"}
    r = await client.post("/v4/profile", json=body, headers=user_123)
    assert r.status_code == 200, r.text
    found = r.json()["searchResults"]
    assert set(found) == {"results", "total", "timing"}
    assert isinstance(found["timing"], float) and found["timing"] >= 0
    assert found["total"] == len(found["results"]) >= 1
    best = found["results"][0]
    assert best["memory"] == "User is debugging deployment errors in production"
    assert 0.4 <= best["similarity"] <= 1  # clears the thresholds Supermemory's docs use
    assert {"id", "similarity", "updatedAt", "metadata"} <= set(best)
    assert sorted(r.json()["profile"]["static"]) == sorted(STATIC)


async def test_threshold_keeps_only_results_at_or_above_it(client, user_123):
    body = {"containerTag": "user_123", "threshold": 0.7, "q": "deployment errors yesterday"}
    r = await client.post("/v4/profile", json=body, headers=user_123)
    assert r.status_code == 200, r.text
    results = r.json()["searchResults"]["results"]
    assert all(h["similarity"] >= 0.7 for h in results)
    loose = await client.post("/v4/profile", json={**body, "threshold": 0.0}, headers=user_123)
    assert len(loose.json()["searchResults"]["results"]) >= len(results)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "containerTag"),
        ({"containerTag": ""}, "containerTag"),
        ({"containerTag": 123}, "containerTag"),
        ({"containerTag": "a/b"}, "containerTag"),
        ({"containerTag": "user_123", "threshold": 1.5}, "threshold"),
        ({"containerTag": "user_123", "threshold": -0.1}, "threshold"),
        ({"containerTag": "user_123", "threshold": "high"}, "threshold"),
        ({"containerTag": "user_123", "threshold": True}, "threshold"),
        ({"containerTag": "user_123", "q": "   "}, "q"),
        ({"containerTag": "user_123", "filters": {"AND": []}}, "filters"),
    ],
)
async def test_missing_or_invalid_fields_are_400_naming_the_field(client, user_123, body, field):
    r = await client.post("/v4/profile", json=body, headers=user_123)
    assert r.status_code == 400, r.text
    assert r.json()["details"] == field
    assert field in r.json()["error"]


async def test_a_body_that_is_not_json_is_400(client, user_123):
    r = await client.post("/v4/profile", content=b"{", headers={**user_123, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert isinstance(r.json()["error"], str)


async def test_missing_or_wrong_key_is_401(client, user_123):
    assert (await client.post("/v4/profile", json={"containerTag": "user_123"})).status_code == 401
    wrong = {"Authorization": "Bearer sk-not-a-key"}
    r = await client.post("/v4/profile", json={"containerTag": "user_123"}, headers=wrong)
    assert r.status_code == 401
    assert isinstance(r.json()["error"], str)


async def test_unknown_container_is_404(client, user_123):
    r = await client.post("/v4/profile", json={"containerTag": "nobody_here"}, headers=user_123)
    assert r.status_code == 404, r.text
    assert r.json()["details"] == "containerTag"


async def test_another_tenants_container_is_404(client, app, user_123):
    other = {"Authorization": f"Bearer {(await keys.create(app.state.service.core.db, 'other', 'admin')).key}"}
    assert (await client.post("/v4/profile", json={"containerTag": "user_123"}, headers=other)).status_code == 404
    body = {"containerTag": "user_123", "q": "engineer"}
    assert (await client.post("/v4/profile", json=body, headers=other)).status_code == 404
