"""Segments: validated conditions, membership after each processed message and after attribute edits, the
backfill over existing users, member lists, and one signed event per entry and exit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from memory_server import conditions
from memory_server.context import Scope
from memory_server.errors import InvalidInput
from tests.test_webhooks import create_hook, hooks  # noqa: F401  (fixture)
from tests.webhook_receiver import Receiver

DAY = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ANGRY = [
    "The app keeps crashing and support never answers, this is unacceptable",
    "I want a refund. I was charged twice and nobody helps me. Awful.",
    "I am cancelling my subscription and moving to a competitor, terrible service",
]
HAPPY = ["Thank you so much, the new dashboard is great!", "Everything works perfectly now, love it"]
AT_RISK = {"all": [{"aggregate": "churn_risk_score", "gte": 0.5}, {"attribute": "plan", "eq": "pro"}]}


async def _say(client: httpx.AsyncClient, user: str, texts: list[str], start: int = 0, **extra) -> None:
    messages = [
        {"role": "user", "content": t, "created_at": (DAY + timedelta(days=start + i)).isoformat()}
        for i, t in enumerate(texts)
    ]
    r = await client.post("/v1/interactions", json={"user_id": user, "messages": messages, "wait": True, **extra})
    assert r.status_code == 200 and r.json()["status"] == "done", r.text


async def _segment(client: httpx.AsyncClient, name: str, condition: dict) -> dict:
    r = await client.post("/v1/segments", json={"name": name, "condition": condition})
    assert r.status_code == 201, r.text
    return r.json()


async def _members(client: httpx.AsyncClient, segment_id: str) -> list[str]:
    r = await client.get(f"/v1/segments/{segment_id}/members")
    assert r.status_code == 200, r.text
    return [m["user_id"] for m in r.json()["items"]]


async def _backfilled(client: httpx.AsyncClient, segment_id: str) -> dict:
    for _ in range(300):
        segment = (await client.get(f"/v1/segments/{segment_id}")).json()
        if segment["backfill"]["state"] == "done":
            return segment
        await asyncio.sleep(0.02)
    raise AssertionError(f"backfill not done: {segment}")


async def test_a_user_enters_after_a_processed_message_and_leaves_when_attributes_change(client):
    segment = await _segment(client, "pro at risk", AT_RISK)
    await _say(client, "ana", HAPPY, user_attributes={"plan": "pro"})
    assert await _members(client, segment["id"]) == []
    await _say(client, "ana", ANGRY, start=2)
    assert await _members(client, segment["id"]) == ["ana"]
    user = (await client.get("/v1/users/ana")).json()
    assert [(s["id"], s["name"]) for s in user["segments"]] == [(segment["id"], "pro at risk")]
    listed = (await client.get("/v1/users", params={"segment": segment["id"]})).json()
    assert [u["user_id"] for u in listed["users"]] == ["ana"]
    r = await client.put("/v1/users/ana", json={"attributes": {"plan": "free"}})
    assert r.status_code == 200 and r.json()["segments"] == []
    assert await _members(client, segment["id"]) == []


async def test_a_new_segment_is_backfilled_over_existing_users_with_progress(client):
    await _say(client, "bo", ANGRY, user_attributes={"plan": "pro"})
    await _say(client, "cy", HAPPY, user_attributes={"plan": "pro"})
    await _say(client, "dee", ANGRY, user_attributes={"plan": "free"})
    segment = await _segment(client, "pro at risk", AT_RISK)
    assert segment["backfill"]["total"] == 3
    done = await _backfilled(client, segment["id"])
    assert done["backfill"]["done"] == 3 and done["members"] == 1
    assert await _members(client, segment["id"]) == ["bo"]
    # a new condition starts over
    r = await client.put(f"/v1/segments/{segment['id']}", json={"condition": {"has_intention": "wants refund"}})
    assert r.status_code == 200 and r.json()["backfill"]["state"] == "running"
    await _backfilled(client, segment["id"])
    assert sorted(await _members(client, segment["id"])) == ["bo", "dee"]


async def test_topic_and_semantic_conditions(client):
    await _say(client, "eve", ["I was charged twice on my invoice this month, please fix my billing"])
    await _say(client, "fay", ["How do I export my project to PDF?"])
    topic = await _segment(client, "billing", {"has_topic": "billing"})
    meaning = await _segment(
        client, "double charge", {"matches": "charged two times for one payment", "threshold": 0.5}
    )
    await _backfilled(client, topic["id"])
    await _backfilled(client, meaning["id"])
    assert await _members(client, topic["id"]) == ["eve"]
    assert await _members(client, meaning["id"]) == ["eve"]


async def test_entering_and_leaving_fire_exactly_one_signed_event_each(hooks):  # noqa: F811
    client, _ = hooks
    segment = await _segment(client, "unhappy", {"aggregate": "avg_sentiment", "lt": -0.2})
    with Receiver() as receiver:
        hook = await create_hook(client, receiver.url, "segment.entered", "segment.exited")
        await _say(client, "gus", ANGRY)
        await _say(client, "gus", ANGRY[:1], start=5)  # still inside: no second event
        assert len(await receiver.wait_for(1)) == 1
        await _say(client, "gus", HAPPY * 4, start=10)
        got = await receiver.wait_for(2)
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 2
    first, second = (g.verified(hook["secret"]) for g in got)
    assert first["type"] == "segment.entered" and second["type"] == "segment.exited"
    assert first["data"]["user_id"] == "gus" and first["data"]["segment_id"] == segment["id"]
    assert first["data"]["segment_name"] == "unhappy"
    assert got[0].headers["webhook-id"] != got[1].headers["webhook-id"]


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        (
            {"all": [{"aggregate": "churn_risk_score", "gte": 0.5}, {"aggregate": "churn_risk_score", "gte": "x"}]},
            "condition.all.1.gte",
        ),
        ({"aggregate": "happiness", "gte": 1}, "condition.aggregate"),
        ({"aggregate": "sentiment_trend", "gte": 1}, "condition.gte"),
        ({"attribute": "plan"}, "condition"),
        ({"attribute": "plan", "eq": "a", "lt": 3}, "condition"),
        ({"any": []}, "condition.any"),
        ({"not": {"bogus": 1}}, "condition.not"),
        ({"all": [{"has_topic": "billing", "extra": 1}]}, "condition.all.0.extra"),
        ({"matches": "x", "threshold": 2}, "condition.threshold"),
        ([], "condition"),
    ],
)
async def test_a_malformed_condition_is_422_naming_the_path_and_nothing_is_stored(client, condition, field):
    r = await client.post("/v1/segments", json={"name": "bad", "condition": condition})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert (await client.get("/v1/segments")).json() == []


async def test_names_are_unique_and_unknown_segments_are_404(client):
    await _segment(client, "one", {"has_intention": "needs help"})
    r = await client.post("/v1/segments", json={"name": "one", "condition": {"has_intention": "needs help"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    for method, path in (
        ("GET", "/v1/segments/seg_nope"),
        ("DELETE", "/v1/segments/seg_nope"),
        ("GET", "/v1/segments/seg_nope/members"),
    ):
        r = await client.request(method, path)
        assert r.status_code == 404 and r.json()["error"]["field"] == "segment_id"
    r = await client.get("/v1/users", params={"segment": "seg_nope"})
    assert r.status_code == 404 and r.json()["error"]["field"] == "segment"


def test_conditions_evaluate_comparisons_and_missing_values():
    subject = conditions.Subject(
        attributes={"plan": "pro", "seats": 3},
        values={"churn_risk_score": 0.8, "sentiment_trend": "declining", "message_frequency_days": None},
        topic_scores={"billing": 0.4},
        intentions=frozenset({"wants refund"}),
        similarity=lambda text: 0.6,
    )
    yes = [
        {"attribute": "seats", "gte": 3},
        {"attribute": "plan", "in": ["pro", "team"]},
        {"attribute": "country", "exists": False},
        {"attribute": "country", "ne": "PT"},
        {"aggregate": "sentiment_trend", "eq": "declining"},
        {"has_topic": "billing", "min_score": 0.4},
        {"not": {"aggregate": "message_frequency_days", "lt": 10}},
        {"matches": "anything", "threshold": 0.6},
        {"any": [{"has_intention": "wants to cancel"}, {"has_intention": "wants refund"}]},
    ]
    no = [
        {"attribute": "plan", "gt": 1},
        {"has_topic": "pricing"},
        {"has_topic": "billing", "min_score": 0.5},
        {"matches": "anything", "threshold": 0.7},
        {"aggregate": "message_frequency_days", "gte": 0},
    ]
    assert [conditions.evaluate(conditions.parse(c), subject) for c in yes] == [True] * len(yes)
    assert [conditions.evaluate(conditions.parse(c), subject) for c in no] == [False] * len(no)
    with pytest.raises(InvalidInput):
        conditions.parse({"all": [{"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {}}}}}}}}}}]})


async def test_a_topic_or_intention_the_taxonomy_lacks_is_refused_naming_its_path(client):
    r = await client.post(
        "/v1/segments",
        json={"name": "pony", "condition": {"any": [{"has_topic": "billing"}, {"has_intention": "wants a pony"}]}},
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "condition.any.1.has_intention"
    assert "no intention 'wants a pony' in the taxonomy; one of: " in r.json()["error"]["message"]
    assert "wants to cancel" in r.json()["error"]["message"]
    r = await client.post("/v1/segments", json={"name": "pony", "condition": {"has_topic": "ponies"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "condition.has_topic"
    made = await _segment(client, "billing", {"has_topic": "billing"})
    r = await client.put(f"/v1/segments/{made['id']}", json={"condition": {"has_intention": "wants to cancell"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "condition.has_intention"


async def test_a_config_dropping_a_label_a_segment_names_is_refused_and_nothing_is_stored(client):
    await _segment(client, "billing", {"has_topic": "billing"})
    await _segment(client, "leaving", {"any": [{"has_topic": "billing"}, {"has_intention": "wants to cancel"}]})
    before = (await client.get("/v1/config")).json()
    taxonomy = before["config"]["signals"]["taxonomy"]
    pruned = {
        **taxonomy,
        "topics": [t for t in taxonomy["topics"] if t["name"] != "billing"],
        "intentions": [i for i in taxonomy["intentions"] if i["name"] != "wants to cancel"],
    }
    r = await client.put("/v1/config", json={"signals": {"taxonomy": pruned}})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "signals.taxonomy"
    assert "topic 'billing' is used by segments 'billing', 'leaving'" in error["message"]
    assert "intention 'wants to cancel' is used by segment 'leaving'" in error["message"]
    assert (await client.get("/v1/config")).json()["version"] == before["version"]
    kept = {**taxonomy, "topics": [t for t in taxonomy["topics"] if t["name"] != "shipping"]}
    r = await client.put("/v1/config", json={"signals": {"taxonomy": kept}})
    assert r.status_code == 200 and r.json()["version"] == before["version"] + 1, r.text


async def test_a_segment_parsed_before_a_config_dropped_its_label_is_refused_when_stored(client, service, monkeypatch):
    taxonomy = (await client.get("/v1/config")).json()["config"]["signals"]["taxonomy"]
    read_before = await service.segments._labels(Scope(service.core.settings.tenant, "test"))

    async def as_read_before(scope):
        return read_before

    pruned = {**taxonomy, "topics": [t for t in taxonomy["topics"] if t["name"] != "billing"]}
    assert (await client.put("/v1/config", json={"signals": {"taxonomy": pruned}})).status_code == 200
    monkeypatch.setattr(service.segments, "_labels", as_read_before)  # the update committed after this parse
    r = await client.post("/v1/segments", json={"name": "billing", "condition": {"has_topic": "billing"}})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "condition.has_topic" and "no topic 'billing'" in r.json()["error"]["message"]
    assert (await client.get("/v1/segments")).json() == []
