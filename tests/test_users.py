"""Users: a record per user, signals per analysed message, aggregates, lists filtered by behaviour, timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from memory_server import forgetting
from memory_server.context import Scope
from memory_server.errors import NotFound, ServiceError
from memory_server.models import Consent
from memory_server.schemas import EpisodeFilter, TimelineFilter
from tests.conftest import publish

DAY = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


async def _say(client: httpx.AsyncClient, user: str, texts: list[str], start: int = 0, **extra) -> dict:
    messages = [
        {"role": "user", "content": t, "created_at": (DAY + timedelta(days=start + i)).isoformat()}
        for i, t in enumerate(texts)
    ]
    r = await client.post("/v1/interactions", json={"user_id": user, "messages": messages, "wait": True, **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def test_publishing_creates_the_user_record_with_attributes_source_and_counts(client):
    await _say(client, "ana", ["hi there", "I love the new dashboard"], source="web", user_attributes={"plan": "pro"})
    r = await client.get("/v1/users/ana")
    assert r.status_code == 200, r.text
    user = r.json()
    assert user["attributes"] == {"plan": "pro"}
    assert user["source_label"] == "web"
    assert user["message_count"] == 2
    assert user["analysed_count"] == 2
    assert user["first_seen"].startswith("2026-05-01")
    assert user["last_seen"].startswith("2026-05-02")
    # a later publish merges attributes (a null removes one) and counts on
    await _say(client, "ana", ["thanks"], start=5, user_attributes={"country": "PT", "plan": None})
    user = (await client.get("/v1/users/ana")).json()
    assert user["attributes"] == {"country": "PT"}
    assert user["message_count"] == 3
    assert user["last_seen"].startswith("2026-05-06")


async def test_a_backfill_of_older_messages_leaves_the_current_attributes_and_source(client):
    await _say(client, "ana", ["hi"], start=10, source="web", user_attributes={"plan": "pro"})
    await _say(client, "ana", ["an old chat"], start=0, source="import", user_attributes={"plan": "free", "seats": 3})
    user = (await client.get("/v1/users/ana")).json()
    assert (user["attributes"], user["source_label"], user["message_count"]) == ({"plan": "pro"}, "web", 2)
    assert user["first_seen"].startswith("2026-05-01") and user["last_seen"].startswith("2026-05-11")
    await _say(client, "ana", ["back again"], start=12, user_attributes={"plan": "team"})
    assert (await client.get("/v1/users/ana")).json()["attributes"] == {"plan": "team"}


async def test_signals_per_message_and_a_timeline_newest_first(client):
    await _say(
        client,
        "bo",
        [
            "I love how fast the new release is, great job!",
            "I was charged twice this month and I want my money back. This is unacceptable.",
        ],
    )
    r = await client.get("/v1/users/bo/timeline")
    assert r.status_code == 200, r.text
    timeline = r.json()["timeline"]
    assert [e["content"][:9] for e in timeline] == ["I was cha", "I love ho"]
    angry, happy = timeline
    assert angry["sentiment"] < -0.1 < 0.1 < happy["sentiment"]
    assert "wants refund" in angry["intentions"]
    assert "billing" in angry["topics"]
    assert angry["timestamp"].startswith("2026-05-02")
    page = (await client.get("/v1/users/bo/timeline", params={"limit": 1})).json()
    assert len(page["timeline"]) == 1 and page["next_cursor"] is not None
    rest = (await client.get("/v1/users/bo/timeline", params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert [e["message_id"] for e in rest["timeline"]] == [happy["message_id"]]
    assert rest["next_cursor"] is None


async def test_aggregates_follow_a_declining_user_and_churn_risk_rises(client):
    calm = ["The onboarding went smoothly, thank you", "Great support, the team solved it quickly"]
    worse = [
        "The app keeps crashing when I export, this is getting annoying",
        "Still broken. Support has not answered in three days, very disappointed",
        "This is unacceptable, I am thinking of switching to a competitor",
        "I want to cancel my subscription. Terrible service.",
    ]
    await _say(client, "cy", calm)
    before = (await client.get("/v1/users/cy")).json()["aggregates"]
    await _say(client, "cy", worse, start=2)
    after = (await client.get("/v1/users/cy")).json()["aggregates"]
    assert after["window_size"] == 6
    assert after["sentiment_trend"] == "declining"
    assert after["negative_ratio"] >= 0.5
    assert after["churn_risk_score"] > before["churn_risk_score"] + 0.3
    assert "wants to cancel" in after["intentions_summary"]
    assert after["message_frequency_days"] == 1.0


async def test_a_happy_new_user_is_only_praising_and_has_no_churn_risk(client):
    await _say(client, "fay", ["The app is great, love it", "Everything works perfectly now, thank you"])
    timeline = (await client.get("/v1/users/fay/timeline")).json()["timeline"]
    assert [e["intentions"] for e in timeline] == [["praising"], ["praising"]]
    aggregates = (await client.get("/v1/users/fay")).json()["aggregates"]
    assert aggregates["intentions_summary"] == ["praising"]
    assert aggregates["churn_risk_score"] == 0.0


async def test_the_user_list_filters_by_churn_trend_messages_and_attributes(client):
    await _say(client, "happy", ["Thanks, love it", "Works great, thank you"], user_attributes={"plan": "pro"})
    await _say(
        client,
        "leaving",
        ["Nothing works", "Support never answers", "I want to cancel and get a refund, awful"],
        user_attributes={"plan": "free", "seats": 3},
    )
    everyone = (await client.get("/v1/users")).json()
    assert everyone["total"] == 2
    risky = (await client.get("/v1/users", params={"churn_risk_gte": 0.5})).json()
    assert [u["user_id"] for u in risky["users"]] == ["leaving"] and risky["total"] == 1
    pro = (await client.get("/v1/users", params={"attr.plan": "pro"})).json()
    assert [u["user_id"] for u in pro["users"]] == ["happy"]
    seats = (await client.get("/v1/users", params={"attr.seats": "3"})).json()
    assert [u["user_id"] for u in seats["users"]] == ["leaving"]
    many = (await client.get("/v1/users", params={"min_messages": 3})).json()
    assert [u["user_id"] for u in many["users"]] == ["leaving"]
    paged = (await client.get("/v1/users", params={"limit": 1, "offset": 1})).json()
    assert paged["total"] == 2 and len(paged["users"]) == 1


async def test_bad_filters_and_unknown_users_get_clear_errors(client):
    r = await client.get("/v1/users", params={"churn_risk_gte": 2})
    assert r.status_code == 422 and r.json()["error"]["field"] == "churn_risk_gte"
    r = await client.get("/v1/users", params={"sentiment_trend": "sideways"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "sentiment_trend"
    r = await client.get("/v1/users", params={"bogus": 1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "bogus"
    r = await client.get("/v1/users", params={"attr.pl an": "x"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "attr.pl an"
    r = await client.get("/v1/users/nobody")
    assert r.status_code == 404 and r.json()["error"]["field"] == "user_id"
    r = await client.get("/v1/users/nobody/timeline")
    assert r.status_code == 404


async def test_attributes_can_be_replaced_and_the_change_is_logged(client):
    await publish(client, "dee", "hello")
    r = await client.put("/v1/users/dee", json={"attributes": {"plan": "team", "country": "DE"}})
    assert r.status_code == 200, r.text
    assert r.json()["attributes"] == {"plan": "team", "country": "DE"}
    changes = (await client.get("/v1/changelog", params={"user_id": "dee"})).json()["items"]
    logged = [c for c in changes if c["event"] == "user_attributes"]
    assert logged[0]["before"] == {"attributes": {}}
    assert logged[0]["after"] == {"attributes": {"plan": "team", "country": "DE"}}
    r = await client.put("/v1/users/dee", json={"attributes": {"k": {"a": {"b": {"c": {"d": {"e": 1}}}}}}})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("attributes")


async def test_deleting_an_episode_or_purging_removes_its_signals(client):
    await _say(client, "eve", ["I want a refund, this is a scam", "ok thanks, all good now"])
    timeline = (await client.get("/v1/users/eve/timeline")).json()["timeline"]
    refund = next(e for e in timeline if "refund" in e["content"])
    assert (await client.delete(f"/v1/episodes/{refund['message_id']}")).status_code == 200
    left = (await client.get("/v1/users/eve/timeline")).json()["timeline"]
    assert [e["message_id"] for e in left] == [e["message_id"] for e in timeline if e is not refund]
    user = (await client.get("/v1/users/eve")).json()
    assert user["analysed_count"] == 1 and user["message_count"] == 1
    assert "wants refund" not in user["aggregates"]["intentions_summary"]
    assert (await client.delete("/v1/users/eve")).status_code == 200
    assert (await client.get("/v1/users/eve")).status_code == 404


async def test_export_and_import_carry_attributes_and_rebuild_signals(client, service, scope):
    await _say(client, "flo", ["I want a refund, I was charged twice"], user_attributes={"plan": "pro"})
    exported = await service.export_user(scope, "flo")
    assert exported.attributes == {"plan": "pro"}
    assert (await client.delete("/v1/users/flo")).status_code == 200
    await service.import_user(scope, exported)
    user = (await client.get("/v1/users/flo")).json()
    assert user["attributes"] == {"plan": "pro"}
    assert user["message_count"] == 1 and user["analysed_count"] == 1
    assert "wants refund" in user["aggregates"]["intentions_summary"]
    again = await service.import_user(scope, exported)  # idempotent
    assert again["messages"] == 0
    assert (await client.get("/v1/users/flo")).json()["message_count"] == 1


async def test_an_export_imported_into_another_tenant_keeps_every_fact_and_its_sources(client, service, scope):
    await _say(client, "gus", ["I live in Lyon and I work as a baker.", "I am allergic to shellfish."])
    facts = (await client.get("/v1/users/gus/facts")).json()["items"]
    allergy = next(f for f in facts if "shellfish" in f["content"])
    assert (await client.delete(f"/v1/facts/{allergy['id']}")).status_code == 200
    exported = await service.export_user(scope, "gus")
    said = {m.id: m.content for m in exported.messages}

    other = Scope("elsewhere", "test")
    added = await service.import_user(other, exported)
    assert added == {"messages": 2, "facts": 3, "changelog": len(exported.changelog)}
    there = await service.export_user(other, "gus")
    assert sorted((f.content, f.status) for f in there.facts) == sorted((f.content, f.status) for f in exported.facts)
    assert not {f.id for f in there.facts} & {f.id for f in exported.facts}  # ids of its own: those are taken
    told = {m.id: m.content for m in there.messages}
    sources = {f.content: [said[m] for m in f.message_ids] for f in exported.facts}
    assert {f.content: [told[m] for m in f.message_ids] for f in there.facts} == sources
    assert {c.fact_id for c in there.changelog} == {f.id for f in there.facts}
    snapshots = [s for c in there.changelog for s in (c.before, c.after) if s]
    assert snapshots and {s["id"] for s in snapshots} == {f.id for f in there.facts}  # as the rows name them
    assert {m for s in snapshots for m in s["message_ids"]} <= set(told)
    assert {s["request_id"] for s in snapshots} <= {m.request_id for m in there.messages}
    assert await service.import_user(other, exported) == {"messages": 0, "facts": 0, "changelog": 0}
    assert len((await service.export_user(scope, "gus")).facts) == 3  # the exporting tenant's are untouched


async def test_an_export_is_not_imported_over_a_do_not_remember_mark(client, service, scope):
    await _say(client, "ivy", ["I live in Lyon and I work as a baker."])
    backup = await service.export_user(scope, "ivy")
    r = await client.put("/v1/users/ivy/consent", json={"remember": False, "reason": "erasure request"})
    assert r.status_code == 200, r.text
    assert (await client.delete("/v1/users/ivy")).status_code == 200
    with pytest.raises(ServiceError, match='marked "do not remember" here') as refused:
        await service.import_user(scope, backup)
    assert refused.value.field == "user_id"
    assert (await client.get("/v1/users/ivy/facts")).json()["items"] == []
    assert (await client.get("/v1/users/ivy/episodes")).json()["items"] == []
    agreed = Consent(remember=True, updated_by="test", updated_at=datetime.now(UTC))
    added = await service.import_user(scope, backup.model_copy(update={"consent": agreed}))  # agreed again since
    assert added["facts"] == len(backup.facts) and (await service.consent.get(scope, "ivy")).remember


async def test_an_import_keeps_each_row_of_episodes_deleted_together(client, service, scope):
    said = [{"role": "user", "content": text, "created_at": "2020-01-01T10:00:00Z"} for text in ("Hi", "Hello")]
    r = await client.post("/v1/interactions", json={"user_id": "joe", "messages": said, "wait": True})
    assert r.status_code == 200, r.text
    await publish(client, "joe", "I am a baker.")
    assert (await client.put("/v1/config", json={"episodes": {"retention_days": 30}})).status_code == 200
    await forgetting.expire_due(service.core)  # (unless the server's own sweep was first)
    exported = await service.export_user(scope, "joe")
    expired = [c for c in exported.changelog if c.event == "episode_expire"]
    assert len(expired) == 2 and len({c.created_at for c in expired}) == 1  # one time: only their ids differ

    other = Scope("elsewhere", "test")
    await service.import_user(other, exported)
    there = (await service.export_user(other, "joe")).changelog
    assert [c.message_id for c in there if c.event == "episode_expire"] == [None, None]  # their ids: none here
    assert await service.import_user(other, exported) == {"messages": 0, "facts": 0, "changelog": 0}


async def test_users_never_seen_are_listed_after_those_seen_on_either_engine(client):
    r = await client.put("/v1/users/nobody", json={"attributes": {"plan": "pro"}})
    assert r.status_code == 200, r.text
    await _say(client, "ana", ["hi"])
    await _say(client, "bob", ["hello"], start=1)
    listed = (await client.get("/v1/users")).json()["users"]
    assert [u["user_id"] for u in listed] == ["bob", "ana", "nobody"]
    paged = [(await client.get("/v1/users", params={"limit": 1, "offset": i})).json()["users"] for i in range(3)]
    assert [u["user_id"] for [u] in paged] == ["bob", "ana", "nobody"]


async def test_a_user_whose_facts_were_only_stated_is_a_user(client, service, scope):
    r = await client.post("/v1/facts", json={"user_id": "fay", "content": "User keeps bees"})
    assert r.status_code in (200, 201), r.text
    user = (await client.get("/v1/users/fay")).json()
    assert user["user_id"] == "fay" and user["message_count"] == 0
    assert "fay" in {u["user_id"] for u in (await client.get("/v1/users")).json()["users"]}
    assert (await client.delete("/v1/users/fay")).status_code == 200
    assert (await client.get("/v1/users/fay")).status_code == 404
    assert (await client.get("/v1/users/fay/facts")).json()["items"] == []
    with pytest.raises(NotFound):  # what the purge left of the change log is not a user to export
        await service.export_user(scope, "fay")


async def test_an_export_carries_the_do_not_remember_mark_and_where_each_message_came_from(client, service, scope):
    await _say(client, "hal", ["I am a chemist."], source="zendesk", session_id="s1", attributes={"ticket": "T-9"})
    await _say(client, "hal", ["Please forget this one"], start=1, source="web")
    newest = (await client.get("/v1/users/hal/episodes")).json()["items"][0]
    assert (await client.delete(f"/v1/episodes/{newest['message_id']}")).status_code == 200
    r = await client.put("/v1/users/hal/consent", json={"remember": False, "reason": "GDPR request"})
    assert r.status_code == 200, r.text
    exported = await service.export_user(scope, "hal")
    assert exported.consent is not None and not exported.consent.remember

    other = Scope("elsewhere", "test")
    await service.import_user(other, exported)
    assert (await service.consent.get(other, "hal")).reason == "GDPR request"
    with pytest.raises(ServiceError, match="do not remember"):
        await service.consent.check(other, "hal")
    [episode] = (await service.episodes(other, "hal", EpisodeFilter())).items
    [said] = (await service.users.timeline(other, "hal", TimelineFilter())).timeline
    assert (said.message_id, said.source_label) == (episode.message_id, "zendesk")  # as published, not lost
    assert (episode.content, episode.source, episode.attributes, episode.session_id) == (
        "I am a chemist.",
        "zendesk",
        {"ticket": "T-9"},
        "s1",
    )
    deleted = [c for c in (await service.export_user(other, "hal")).changelog if c.event == "episode_delete"]
    assert [c.message_id for c in deleted] == [None]  # its old id is no message here (or another's, in time)

    r = await client.put("/v1/users/hal/consent", json={"remember": True})
    assert r.status_code == 200, r.text
    await service.import_user(scope, exported)  # the older mark does not undo the newer decision
    assert (await service.consent.get(scope, "hal")).remember


async def test_deleting_the_latest_message_moves_last_seen_back(client):
    await _say(client, "liv", ["I love the dashboard", "the export is slow", "thanks for the fix"])
    latest = (await client.get("/v1/users/liv/episodes")).json()["items"][0]
    assert (await client.get("/v1/users/liv")).json()["last_seen"] == latest["created_at"].replace("+00:00", "Z")
    assert (await client.delete(f"/v1/episodes/{latest['message_id']}")).status_code == 200
    user = (await client.get("/v1/users/liv")).json()
    assert user["message_count"] == 2
    assert user["last_seen"].startswith((DAY + timedelta(days=1)).date().isoformat())
    assert user["first_seen"].startswith(DAY.date().isoformat())


async def test_a_messages_time_reads_back_with_its_senders_offset_everywhere(client):
    sent = "2026-11-25T09:00:00+14:00"
    body = {"user_id": "kai", "messages": [{"role": "user", "content": "I love the new reports", "created_at": sent}]}
    assert (await client.post("/v1/interactions", json={**body, "wait": True})).status_code == 200
    [episode] = (await client.get("/v1/users/kai/episodes")).json()["items"]
    [entry] = (await client.get("/v1/users/kai/timeline")).json()["timeline"]
    unified = (await client.get("/v1/users/kai/profile", params={"sections": "interactions"})).json()
    [section] = unified["sections"]
    [interaction] = section["data"]
    assert episode["created_at"] == entry["timestamp"] == interaction["timestamp"] == sent


async def test_an_export_renamed_to_another_user_of_the_same_tenant_is_refused_whole(client, service, scope):
    await _say(client, "mia", ["I live in Lyon and I work as a baker."])
    exported = await service.export_user(scope, "mia")
    renamed = exported.model_copy(
        update={
            "user_id": "mira",
            "facts": [f.model_copy(update={"user_id": "mira"}) for f in exported.facts],
            "changelog": [c.model_copy(update={"user_id": "mira"}) for c in exported.changelog],
        }
    )
    with pytest.raises(ServiceError, match="this export's facts belong to mia here") as refused:
        await service.import_user(scope, renamed)
    assert refused.value.field == "user_id"
    assert (await client.get("/v1/changelog", params={"user_id": "mira"})).json()["items"] == []


def test_an_export_whose_messages_name_an_invalid_session_is_not_an_export():
    import json

    from pydantic import ValidationError

    from memory_server.portability import load_export

    message = {"request_id": "r1", "position": 0, "role": "user", "content": "hi", "created_at": "2026-01-01T00:00:00Z"}
    load_export(json.dumps({"user_id": "ana", "messages": [message]}))
    for bad in ({"session_id": "s\ufe0f"}, {"source": "web/app"}):
        with pytest.raises(ValidationError):
            load_export(json.dumps({"user_id": "ana", "messages": [{**message, **bad}]}))
