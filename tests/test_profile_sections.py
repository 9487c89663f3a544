"""The unified profile: each built-in section's content, only the sections asked for are built, a failing or slow
provider leaves the others intact, a provider from another distribution shows up, roles and unknown names."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import pytest

from memory_server import keys
from memory_server.plugins import PROFILE_SECTIONS
from memory_server.sections import BUILTIN
from tests.conftest import install_distribution, publish

DAY = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


async def _profile(client, user: str, sections: str | None = None, **kwargs) -> dict:
    params = {} if sections is None else {"sections": sections}
    r = await client.get(f"/v1/users/{user}/profile", params=params, **kwargs)
    assert r.status_code == 200, r.text
    return r.json()


def _data(profile: dict) -> dict:
    return {s["name"]: s["data"] for s in profile["sections"]}


async def test_every_built_in_section_shows_what_the_user_has(client):
    messages = [
        {"role": "user", "content": "I live in Lisbon and my email is ana@example.com", "created_at": DAY.isoformat()},
        {
            "role": "user",
            "content": "I was charged twice and I want my money back",
            "created_at": (DAY + timedelta(hours=1)).isoformat(),
        },
    ]
    segment = {"name": "Refunds", "condition": {"has_intention": "wants refund"}}
    assert (await client.post("/v1/segments", json=segment)).status_code == 201
    body = {"user_id": "ana", "messages": messages, "wait": True}
    assert (await client.post("/v1/interactions", json=body)).status_code == 200
    assert (await client.put("/v1/users/ana", json={"attributes": {"plan": "pro"}})).status_code == 200
    assert (await client.put("/v1/users/ana/consent", json={"remember": True, "reason": "opted in"})).status_code == 200

    profile = await _profile(client, "ana")
    assert profile["user_id"] == "ana" and profile["tenant_id"] == "default" and profile["computed_at"]
    assert [s["name"] for s in profile["sections"]] == list(BUILTIN)
    assert all(s["error"] is None for s in profile["sections"])
    data = _data(profile)
    assert {f["content"] for f in data["facts"]["static"]} == {
        "User lives in Lisbon",
        "User's email is ana@example.com",
        "User was charged twice",
    }
    assert data["facts"]["dynamic"] == []
    assert data["attributes"] == {"plan": "pro"}
    [identity] = data["identities"]
    assert (identity["type"], identity["value"], identity["confidence"]) == ("email", "ana@example.com", 0.95)
    newest, oldest = data["interactions"]
    assert newest["content"].startswith("I was charged twice") and oldest["content"].startswith("I live in Lisbon")
    assert newest["timestamp"].startswith("2026-05-01T10:00")
    assert "wants refund" in newest["intentions"] and newest["sentiment"] < 0
    assert data["aggregates"]["window_size"] == 2 and "wants refund" in data["aggregates"]["intentions_summary"]
    assert [s["name"] for s in data["segments"]] == ["Refunds"] and data["segments"][0]["entered_at"]
    events = [c["event"] for c in data["changes"]]
    assert events[0] == "consent" and "user_attributes" in events and events.count("add") == 3
    assert data["consent"]["remember"] is True and data["consent"]["reason"] == "opted in"


async def test_an_unknown_user_has_empty_sections_and_may_be_remembered(client):
    data = _data(await _profile(client, "nobody"))
    assert data["facts"] == {"static": [], "dynamic": []}
    assert data["identities"] == data["interactions"] == data["segments"] == data["changes"] == []
    assert data["attributes"] == {} and data["aggregates"] is None
    assert data["consent"] == {"remember": True, "reason": None, "updated_by": None, "updated_at": None}


async def test_interactions_are_the_latest_twenty_with_signals_for_analysed_messages(client):
    texts = [f"message number {i}" for i in range(25)]
    await publish(client, "bo", *texts)
    await client.post(
        "/v1/interactions",
        json={"user_id": "bo", "messages": [{"role": "assistant", "content": "happy to help"}], "wait": True},
    )
    interactions = _data(await _profile(client, "bo", "interactions"))["interactions"]
    assert len(interactions) == 20
    assert interactions[0]["role"] == "assistant" and interactions[0]["sentiment"] is None
    assert [i["content"] for i in interactions[1:]] == [f"message number {i}" for i in range(24, 5, -1)]
    assert all(i["sentiment"] is not None for i in interactions[1:])


class Counted:
    """A section that counts its builds, to see which sections a request computes."""

    name = "counted"
    builds = 0

    async def build(self, request):
        Counted.builds += 1
        return {"builds": Counted.builds}


class Broken:
    name = "broken"

    async def build(self, request):
        raise RuntimeError("the loyalty database is down")


class Slow:
    name = "slow"
    timeout_seconds = 0.05

    async def build(self, request):
        await asyncio.sleep(5)
        return "never"


class AdminOnly:
    name = "secrets"
    min_role = "admin"

    async def build(self, request):
        return {"note": "for admins"}


@pytest.fixture
def providers(monkeypatch):
    Counted.builds = 0
    for cls in (Counted, Broken, Slow, AdminOnly):
        monkeypatch.setitem(PROFILE_SECTIONS._local, cls.name, cls)


async def test_only_the_sections_asked_for_are_built_in_the_order_asked(client, providers):
    profile = await _profile(client, "ana", "consent,facts")
    assert [s["name"] for s in profile["sections"]] == ["consent", "facts"]
    assert Counted.builds == 0
    assert _data(await _profile(client, "ana", "counted"))["counted"] == {"builds": 1}
    await _profile(client, "ana", "facts,identities")
    assert Counted.builds == 1
    names = [s["name"] for s in (await _profile(client, "ana"))["sections"]]
    assert names == [*BUILTIN, "broken", "counted", "secrets", "slow"] and Counted.builds == 2


async def test_a_failing_and_a_slow_provider_leave_the_other_sections_intact(client, providers):
    await publish(client, "ana", "I live in Lisbon")
    started = asyncio.get_running_loop().time()
    profile = await _profile(client, "ana", "broken,facts,slow,consent")
    assert asyncio.get_running_loop().time() - started < 2
    sections = {s["name"]: s for s in profile["sections"]}
    assert sections["broken"]["data"] is None
    assert sections["broken"]["error"] == "failed: RuntimeError: the loyalty database is down"
    assert sections["slow"] == {"name": "slow", "data": None, "error": "timed out after 0.05 s"}
    assert [f["content"] for f in sections["facts"]["data"]["static"]] == ["User lives in Lisbon"]
    assert sections["consent"]["data"]["remember"] is True and sections["consent"]["error"] is None


async def test_unknown_sections_are_a_400_listing_the_available_ones(client):
    r = await client.get("/v1/users/ana/profile", params={"sections": "facts,journeys"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["field"] == "sections"
    assert error["message"].startswith("sections: no section journeys: choose from facts, attributes, identities")
    r = await client.get("/v1/users/ana/profile", params={"sections": " , "})
    assert r.status_code == 400 and "name at least one section" in r.json()["error"]["message"]


async def test_a_section_above_the_callers_role_is_403_by_name_and_an_error_in_a_whole_profile(
    client, service, providers
):
    viewer = await keys.create(service.core.db, "default", "viewer")
    admin = await keys.create(service.core.db, "default", "admin")
    as_viewer, as_admin = {"X-API-Key": viewer.key}, {"X-API-Key": admin.key}
    r = await client.get("/v1/users/ana/profile", params={"sections": "facts,secrets"}, headers=as_viewer)
    assert r.status_code == 403 and r.json()["error"]["field"] == "sections"
    assert "secrets needs the admin role" in r.json()["error"]["message"]
    whole = {s["name"]: s for s in (await _profile(client, "ana", headers=as_viewer))["sections"]}
    assert whole["secrets"] == {
        "name": "secrets",
        "data": None,
        "error": "needs the admin role; the key used has the viewer role",
    }
    assert whole["facts"]["error"] is None
    assert _data(await _profile(client, "ana", "secrets", headers=as_admin))["secrets"] == {"note": "for admins"}
    r = await client.put("/v1/users/ana/consent", json={"remember": False}, headers=as_viewer)
    assert r.status_code == 403


LOYALTY = '''
class LoyaltySection:
    """Points from the shop's loyalty program (here: one per character of the user id)."""

    name = "loyalty"

    async def build(self, request):
        return {"user": request.user_id, "points": len(request.user_id) * 100}
'''


@pytest.fixture
def loyalty_installed(tmp_path, monkeypatch):
    """A distribution `acme-loyalty` with a profile section, installed into a directory on sys.path."""
    site = tmp_path / "site"
    entry_points = "[memory_server.profile_sections]\nloyalty = acme_loyalty:LoyaltySection\n"
    install_distribution(site, monkeypatch, "acme-loyalty", "acme_loyalty", LOYALTY, entry_points)
    yield site
    sys.modules.pop("acme_loyalty", None)


async def test_a_section_from_another_distribution_shows_up_in_the_profile(loyalty_installed, client):
    profile = await _profile(client, "ana")
    assert [s["name"] for s in profile["sections"]] == [*BUILTIN, "loyalty"]
    assert _data(await _profile(client, "ana", "loyalty"))["loyalty"] == {"user": "ana", "points": 300}
