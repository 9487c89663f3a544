"""Cipres's routes against the seed's example bodies: batch ingest into a project, profile lists with filters, one
profile, a timeline, segment webhooks for users submitted this way, and the errors a client can act on."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from memory_server import keys
from tests.test_webhooks import create_hook, hooks  # noqa: F401  (fixture)
from tests.webhook_receiver import Receiver

SEED_BATCH = {
    "project_id": 1,
    "users": [
        {
            "user_id": "user_123",
            "text": "The checkout process is too slow!",
            "attributes": {"plan": "pro", "country": "US"},
        },
        {"user_id": "user_456", "text": "Love the new dashboard feature!", "attributes": {"plan": "free"}},
    ],
}
ANGRY = [
    "The app keeps crashing and support never answers, this is unacceptable",
    "I want a refund. I was charged twice and nobody helps me. Awful.",
    "I am cancelling my subscription and moving to a competitor, terrible service",
]
SECOND = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
AGGREGATE_FIELDS = {
    "window_size",
    "avg_sentiment",
    "sentiment_trend",
    "top_topics",
    "topic_scores",
    "intentions_summary",
    "negative_ratio",
    "churn_risk_score",
    "price_sensitive_ratio",
    "message_frequency_days",
}


@pytest.fixture
async def api_key(app) -> dict[str, str]:
    secret = (await keys.create(app.state.service.core.db, "acme", "editor")).key
    return {"X-API-Key": secret}


async def _analysed(client: httpx.AsyncClient, headers: dict, user: str, count: int, project: int = 1) -> dict:
    """The user's Cipres profile once `count` of their messages are analysed (processing is in the background)."""
    for _ in range(500):
        r = await client.get(f"/api/v1/profiles/{user}", params={"project_id": project}, headers=headers)
        if r.status_code == 200 and r.json()["aggregates"] and r.json()["aggregates"]["window_size"] >= count:
            return r.json()
        await asyncio.sleep(0.02)
    raise AssertionError(f"{user} not analysed: {r.text}")


async def _submit(client: httpx.AsyncClient, headers: dict, body: dict) -> dict:
    r = await client.post("/api/v1/users", json=body, headers=headers)
    assert r.status_code == 202, r.text
    return r.json()


async def test_the_seed_batch_is_accepted_and_becomes_profiles(client, api_key):
    assert await _submit(client, api_key, SEED_BATCH) == {
        "accepted": 2,
        "source_id": 1,
        "message": "Processing in background",
    }
    profile = await _analysed(client, api_key, "user_123", 1)
    assert set(profile) == {"user_id", "source_label", "attributes", "aggregates", "created_at", "updated_at"}
    assert profile["user_id"] == "user_123" and profile["source_label"] == "default"
    assert profile["attributes"] == {"plan": "pro", "country": "US"}
    assert set(profile["aggregates"]) == AGGREGATE_FIELDS
    assert profile["aggregates"]["avg_sentiment"] < 0  # "too slow!" is a complaint
    assert SECOND.fullmatch(profile["created_at"]) and SECOND.fullmatch(profile["updated_at"])
    happy = await _analysed(client, api_key, "user_456", 1)
    assert happy["aggregates"]["avg_sentiment"] > 0
    timeline = (await client.get("/api/v1/profiles/user_123/timeline?project_id=1", headers=api_key)).json()
    assert timeline["user_id"] == "user_123"
    [entry] = timeline["timeline"]
    assert set(entry) == {"timestamp", "source_label", "sentiment", "topics", "intentions"}
    assert SECOND.fullmatch(entry["timestamp"]) and entry["sentiment"] < 0
    assert all(isinstance(t, str) for t in entry["topics"]) and isinstance(entry["intentions"], list)


async def test_a_repeated_user_id_updates_the_user_and_the_timeline_is_newest_first(client, api_key):
    for i, text in enumerate(ANGRY):
        body = {"project_id": 1, "users": [{"user_id": "u1", "text": text, "attributes": {"plan": "pro", "n": i}}]}
        await _submit(client, api_key, body)
        await _analysed(client, api_key, "u1", i + 1)
    profile = await _analysed(client, api_key, "u1", 3)
    assert profile["attributes"] == {"plan": "pro", "n": 2}
    assert profile["aggregates"]["window_size"] == 3 and profile["aggregates"]["sentiment_trend"] in (
        "improving",
        "stable",
        "declining",
    )
    timeline = (await client.get("/api/v1/profiles/u1/timeline", params={"project_id": 1}, headers=api_key)).json()
    stamps = [e["timestamp"] for e in timeline["timeline"]]
    assert len(stamps) == 3 and stamps == sorted(stamps, reverse=True)


async def test_profiles_are_listed_with_filters_and_pages(client, api_key):
    await _submit(client, api_key, SEED_BATCH)
    for i, text in enumerate(ANGRY):
        await _submit(client, api_key, {"project_id": 1, "users": [{"user_id": "angry", "text": text}]})
        await _analysed(client, api_key, "angry", i + 1)
    await _analysed(client, api_key, "user_123", 1)
    await _analysed(client, api_key, "user_456", 1)
    listed = (await client.get("/api/v1/profiles", params={"project_id": 1}, headers=api_key)).json()
    assert listed["total"] == 3 and {u["user_id"] for u in listed["users"]} == {"angry", "user_123", "user_456"}
    risky = (await client.get("/api/v1/profiles?project_id=1&churn_risk_gte=0.5", headers=api_key)).json()
    assert [u["user_id"] for u in risky["users"]] == ["angry"] and risky["total"] == 1
    assert all(u["aggregates"]["churn_risk_score"] >= 0.5 for u in risky["users"])
    calm = (await client.get("/api/v1/profiles?project_id=1&churn_risk_lte=0.49", headers=api_key)).json()
    assert "angry" not in {u["user_id"] for u in calm["users"]}
    several = (await client.get("/api/v1/profiles?project_id=1&min_messages=3", headers=api_key)).json()
    assert [u["user_id"] for u in several["users"]] == ["angry"]
    page = (await client.get("/api/v1/profiles?project_id=1&limit=2&offset=2", headers=api_key)).json()
    assert len(page["users"]) == 1 and page["total"] == 3


async def test_projects_keep_cipres_users_apart(client, app, api_key):
    admin = {"X-API-Key": (await keys.create(app.state.service.core.db, "acme", "admin")).key}
    r = await client.post("/v1/projects", json={"name": "SaaS Feedback"}, headers=admin)
    project = r.json()["id"]
    accepted = await _submit(client, api_key, {**SEED_BATCH, "project_id": project})
    assert accepted["source_id"] == project
    profile = await _analysed(client, api_key, "user_123", 1, project=project)
    assert profile["source_label"] == "SaaS Feedback"
    r = await client.get("/api/v1/profiles/user_123", params={"project_id": 1}, headers=api_key)
    assert r.status_code == 404
    other = {"X-API-Key": (await keys.create(app.state.service.core.db, "other", "admin")).key}
    r = await client.get("/api/v1/profiles", params={"project_id": project}, headers=other)
    assert r.status_code == 404 and r.json()["error"]["field"] == "project_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"users": SEED_BATCH["users"]}, "project_id"),
        ({"project_id": 0, "users": SEED_BATCH["users"]}, "project_id"),
        ({"project_id": 1}, "users"),
        ({"project_id": 1, "users": []}, "users"),
        ({"project_id": 1, "users": [{"user_id": "a", "text": "hi"}, {"user_id": "b"}]}, "users.1.text"),
        ({"project_id": 1, "users": [{"user_id": "a", "text": "  "}]}, "users.0.text"),
        ({"project_id": 1, "users": [{"user_id": "a/b", "text": "hi"}]}, "users.0.user_id"),
        ({"project_id": 1, "users": [{"user_id": "a", "text": "hi", "attributes": [1]}]}, "users.0.attributes"),
        ({"project_id": 9, "users": SEED_BATCH["users"]}, "project_id"),
    ],
)
async def test_a_bad_batch_names_the_field_and_stores_nothing(client, api_key, body, field):
    r = await client.post("/api/v1/users", json=body, headers=api_key)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["field"] == field, r.text
    listed = (await client.get("/api/v1/profiles", params={"project_id": 1}, headers=api_key)).json()
    assert listed == {"users": [], "total": 0}


async def test_a_batch_over_the_limit_is_refused_whole(client, api_key):
    users = [{"user_id": f"u{i}", "text": "hello"} for i in range(1001)]
    r = await client.post("/api/v1/users", json={"project_id": 1, "users": users}, headers=api_key)
    assert r.status_code == 422 and r.json()["error"]["field"] == "users"
    assert (await client.get("/api/v1/profiles?project_id=1", headers=api_key)).json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "project_id"),
        ("project_id=1&limit=101", "limit"),
        ("project_id=1&churn_risk_gte=2", "churn_risk_gte"),
        ("project_id=1&sentiment_trend=sideways", "sentiment_trend"),
        ("project_id=1&min_messages=-1", "min_messages"),
    ],
)
async def test_bad_list_queries_name_the_parameter(client, api_key, query, field):
    r = await client.get(f"/api/v1/profiles?{query}", headers=api_key)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


async def test_unknown_user_and_missing_key(client, api_key):
    await _submit(client, api_key, SEED_BATCH)
    r = await client.get("/api/v1/profiles/nobody?project_id=1", headers=api_key)
    assert r.status_code == 404
    assert (await client.get("/api/v1/profiles/nobody/timeline?project_id=1", headers=api_key)).status_code == 404
    assert (await client.get("/api/v1/profiles?project_id=1")).status_code == 401


async def test_segment_webhooks_fire_for_users_submitted_this_way(hooks):  # noqa: F811
    client, _ = hooks
    headers: dict[str, str] = {}  # open mode: no key exists
    with Receiver() as receiver:
        hook = await create_hook(client, receiver.url, "segment.entered", "segment.exited")
        r = await client.post("/v1/segments", json={"name": "pro", "condition": {"attribute": "plan", "eq": "pro"}})
        assert r.status_code == 201, r.text
        await _submit(client, headers, SEED_BATCH)
        [event] = await receiver.wait_for(1)
        payload = event.verified(hook["secret"])
        assert payload["type"] == "segment.entered" and payload["data"]["user_id"] == "user_123"
        moved = {"user_id": "user_123", "text": "Moving to free", "attributes": {"plan": "free"}}
        await _submit(client, headers, {"project_id": 1, "users": [moved]})
        events = await receiver.wait_for(2)
        assert [e.verified(hook["secret"])["type"] for e in events] == ["segment.entered", "segment.exited"]
