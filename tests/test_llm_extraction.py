"""The llm extractor and reconciler, through the real litellm client, against a scripted local server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from memory_server.api.app import create_app
from memory_server.config import LLMSettings
from tests.conftest import publish, running, until_finished


def facts(*items: tuple[str, str] | tuple[str, str, str]) -> dict:
    out = []
    for item in items:
        content, kind, *ttl = item
        out.append({"content": content, "kind": kind, "ttl": ttl[0] if ttl else None, "confidence": 0.9, "message": 0})
    return {"facts": out}


def decisions(*items: tuple[int, str, list[int]]) -> dict:
    return {"decisions": [{"new": n, "action": a, "ids": ids} for n, a, ids in items]}


@pytest.fixture
async def client(settings, llm):
    settings = settings.model_copy(
        update={
            "llm": LLMSettings(
                model="openai/fake-chat",
                api_base=llm.api_base,
                api_key="sk-test",
                timeout_seconds=1.0,
                max_retries=1,
                retry_backoff_seconds=0.01,
            )
        }
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        r = await c.put("/v1/config", json={"extractor": "llm"})
        assert r.status_code == 200, r.text
        yield c


async def live(client, user: str = "ana") -> list[str]:
    return sorted(f["content"] for f in (await client.get(f"/v1/users/{user}/facts")).json()["items"])


async def test_good_json_becomes_facts_with_usage_and_a_prompt_filled_today(client, llm):
    llm.json_reply(facts(("User is a nurse", "static"), ("User is flying to Tokyo", "dynamic", "one_week")))
    job = await publish(client, "ana", "I'm a nurse, off to Tokyo on Friday")
    assert job["status"] == "done", job
    added = {f["content"]: f for f in job["changes"]["added"]}
    assert set(added) == {"User is a nurse", "User is flying to Tokyo"}
    trip = added["User is flying to Tokyo"]
    lifetime = datetime.fromisoformat(trip["expires_at"]) - datetime.fromisoformat(trip["created_at"])
    assert 7 * 86_400 - 60 < lifetime.total_seconds() <= 7 * 86_400
    assert added["User is a nurse"]["expires_at"] is None
    assert all(f["config_version"] == 1 for f in added.values())
    assert job["usage"] == {"llm_calls": 1, "prompt_tokens": 100, "completion_tokens": 10}

    [request] = llm.requests
    assert request["model"] == "fake-chat"
    assert request["auth"] == "Bearer sk-test"
    assert request["response_format"] == {"type": "json_object"}
    assert datetime.now(UTC).strftime("%Y-%m-%d") in request["messages"][0]["content"]
    assert "user: I'm a nurse, off to Tokyo on Friday" in request["messages"][1]["content"]


async def _model_counts(client) -> dict[tuple[str, ...], float]:
    r = await client.get("/metrics")
    return {
        (s.name, s.labels["extractor"], s.labels["model"], s.labels.get("kind")): s.value
        for family in text_string_to_metric_families(r.text)
        if family.name.startswith("memory_server_model_")
        for s in family.samples
        if s.name.endswith("_total")
    }


async def test_model_calls_and_tokens_are_counted_in_metrics_by_extractor_and_model(client, llm):
    before = await _model_counts(client)
    llm.json_reply(facts(("User is a nurse", "static")))
    assert (await publish(client, "ana", "I'm a nurse"))["status"] == "done"
    after = await _model_counts(client)
    model = ("llm", "openai/fake-chat")
    grown = {key: after[key] - before.get(key, 0) for key in after}
    assert grown[("memory_server_model_calls_total", *model, None)] == 1
    assert grown[("memory_server_model_tokens_total", *model, "prompt")] == 100
    assert grown[("memory_server_model_tokens_total", *model, "completion")] == 10


async def test_calls_count_under_the_model_they_were_made_with_though_the_config_changed_meanwhile(client, llm):
    before = await _model_counts(client)
    llm.queue({"sleep": 0.7, "content": json.dumps(facts(("User is a nurse", "static")))})  # under the 1 s timeout
    job = (
        await client.post(
            "/v1/interactions", json={"user_id": "ana", "messages": [{"role": "user", "content": "I'm a nurse"}]}
        )
    ).json()
    await asyncio.sleep(0.3)
    assert (await client.put("/v1/config", json={"model": "openai/other-model"})).status_code == 200
    [done] = await until_finished(client, job["request_id"])
    assert done["status"] == "done"
    after = await _model_counts(client)
    grown = {key[2]: after[key] - before.get(key, 0) for key in after if key[0] == "memory_server_model_calls_total"}
    assert grown.get("openai/fake-chat") == 1 and not grown.get("openai/other-model")


@pytest.mark.parametrize(
    "wrapped",
    [
        "Sure! Here are the facts:\n```json\n{body}\n```\nHope that helps.",
        "Here you go: {body} -- done",
        "```\n{body}\n```",
        "{body}\n\nNote: I used the {{facts}} format as requested.",
    ],
)
async def test_json_in_prose_or_code_fences_is_accepted(client, llm, wrapped):
    llm.queue(wrapped.format(body=json.dumps(facts(("User is a nurse", "static")))))
    job = await publish(client, "ana", "I'm a nurse")
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]
    assert len(llm.requests) == 1


async def test_invalid_json_gets_one_repair_attempt(client, llm):
    llm.queue("{facts: [oops", json.dumps(facts(("User is a nurse", "static"))))
    job = await publish(client, "ana", "I'm a nurse")
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]
    assert len(llm.requests) == 2
    repair = llm.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "{facts: [oops"}
    assert "invalid JSON" in repair[-1]["content"]
    assert job["usage"]["llm_calls"] == 2


async def test_unusable_output_fails_the_job_visibly_with_the_raw_reply(client, llm):
    llm.queue("not json", '{"facts": [{"content": "x"}]}', "still not json", '{"facts": "nope"}')
    job = await publish(client, "ana", "I'm a nurse")
    assert job["status"] == "failed"
    assert job["attempts"] == 2
    assert "unusable output twice" in job["error"]
    assert "facts: Input should be a valid list" in job["error"]
    assert job["raw_output"] == '{"facts": "nope"}'
    assert job["usage"]["llm_calls"] == 4
    assert await live(client) == []


async def test_a_blank_fact_is_an_unusable_reply_that_gets_its_repair(client, llm):
    blank = {"facts": [{"content": "   ", "kind": "static", "confidence": 0.9, "message": 0}]}
    llm.queue(json.dumps(blank), json.dumps(facts(("User is a nurse", "static"))))
    job = await publish(client, "ana", "I'm a nurse")
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]
    assert "facts.0.content" in llm.requests[1]["messages"][-1]["content"]


async def test_an_identity_that_normalises_to_nothing_leaves_a_plain_fact_and_the_others(client, llm):
    unknown = {"content": "User's phone is unknown", "kind": "static", "confidence": 0.9, "message": 0}
    reply = facts(("User is a pilot", "static"))
    reply["facts"].append({**unknown, "identity": {"type": "phone", "value": "unknown"}})
    llm.queue(json.dumps(reply))
    job = await publish(client, "ana", "I'm a pilot")
    assert job["status"] == "done", job
    assert sorted(f["content"] for f in job["changes"]["added"]) == ["User is a pilot", "User's phone is unknown"]


async def test_empty_reply_is_repaired(client, llm):
    llm.queue("", json.dumps(facts(("User is a nurse", "static"))))
    job = await publish(client, "ana", "I'm a nurse")
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]
    assert "the reply is empty" in llm.requests[1]["messages"][-1]["content"]


async def test_a_429_then_success_is_retried_within_the_job(client, llm):
    llm.queue({"status": 429}, json.dumps(facts(("User is a nurse", "static"))))
    job = await publish(client, "ana", "I'm a nurse")
    assert job["status"] == "done"
    assert job["attempts"] == 1
    assert len(llm.requests) == 2


async def test_a_timeout_then_success_is_retried(client, llm):
    llm.queue({"sleep": 1.5, "content": '{"facts": []}'}, json.dumps(facts(("User is a nurse", "static"))))
    job = await publish(client, "ana", "I'm a nurse")
    assert job["status"] == "done", job
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]


async def test_model_outage_fails_the_job_then_retry_succeeds(client, llm):
    llm.queue({"status": 503}, {"status": 503}, {"status": 500}, {"status": 500})
    job = await publish(client, "ana", "I'm a nurse")
    assert job["status"] == "failed"
    assert "no answer after 2 calls" in job["error"]
    assert job["usage"]["llm_calls"] == 2 * job["attempts"]  # each failed call counted (its tokens are unknown)
    llm.json_reply(facts(("User is a nurse", "static")))
    await client.post(f"/v1/requests/{job['request_id']}/retry")
    job = await publish(client, "ana", "I'm a nurse")  # same payload: the same request, waited on
    assert job["status"] == "done"
    assert await live(client) == ["User is a nurse"]


async def test_a_moved_city_supersedes_the_old_one(client, llm):
    llm.json_reply(facts(("User lives in Berlin", "static")))
    await publish(client, "ana", "I live in Berlin")
    llm.json_reply(facts(("User lives in Lisbon", "static")))
    llm.json_reply(decisions((0, "UPDATE", [0])))
    job = await publish(client, "ana", "I moved to Lisbon")
    [update] = job["changes"]["updated"]
    assert (update["before"]["content"], update["after"]["content"]) == ("User lives in Berlin", "User lives in Lisbon")
    assert await live(client) == ["User lives in Lisbon"]
    reconcile = llm.prompts(2)
    assert "[0] User lives in Berlin" in reconcile and "[0] User lives in Lisbon" in reconcile
    events = [
        c["event"]
        for c in (await client.get("/v1/changelog", params={"request_id": job["request_id"]})).json()["items"]
    ]
    assert sorted(events) == ["supersede", "update"]


async def test_a_repeated_fact_is_none(client, llm):
    llm.json_reply(facts(("User is a nurse", "static")))
    await publish(client, "ana", "I'm a nurse")
    llm.json_reply(facts(("User works as a nurse", "static")))
    llm.json_reply(decisions((0, "NONE", [0])))
    job = await publish(client, "ana", "As I said, I work as a nurse")
    assert job["changes"] == {"request_id": job["request_id"], "added": [], "updated": [], "removed": []}
    assert await live(client) == ["User is a nurse"]


async def test_exact_repeat_never_reaches_the_reconciler(client, llm):
    llm.json_reply(facts(("User is a nurse", "static")))
    await publish(client, "ana", "I'm a nurse")
    llm.json_reply(facts(("User is a nurse", "static")))
    await publish(client, "ana", "I am a nurse")
    assert len(llm.requests) == 2  # two extractions, no reconciliation call
    assert await live(client) == ["User is a nurse"]


async def test_a_contradicted_fact_is_retired(client, llm):
    await client.put("/v1/config", json={"related_threshold": 0.0})
    llm.json_reply(facts(("User is vegetarian", "static")))
    first = await publish(client, "ana", "I'm vegetarian")
    old_id = first["changes"]["added"][0]["id"]
    llm.json_reply(facts(("User eats meat again", "static")))
    llm.json_reply(decisions((0, "DELETE", [0])))
    job = await publish(client, "ana", "I eat meat again now")
    assert [f["id"] for f in job["changes"]["removed"]] == [old_id]
    assert (await client.get(f"/v1/facts/{old_id}")).json()["status"] == "deleted"
    assert await live(client) == []


async def test_an_invented_id_is_ignored(client, llm):
    llm.json_reply(facts(("User lives in Berlin", "static")))
    await publish(client, "ana", "I live in Berlin")
    llm.json_reply(facts(("User lives in Lisbon", "static")))
    llm.json_reply(decisions((0, "UPDATE", [7])))
    job = await publish(client, "ana", "I also have a flat in Lisbon")
    assert job["changes"]["updated"] == []
    assert await live(client) == ["User lives in Berlin", "User lives in Lisbon"]


def decided(content: str, action: str, ids: list) -> dict:
    return {"facts": [{"content": content, "kind": "static", "message": 0, "action": action, "ids": ids}]}


async def _reconciled(client) -> dict[tuple[str, str], float]:
    r = await client.get("/metrics")
    return {
        (s.labels["by"], s.labels["action"]): s.value
        for family in text_string_to_metric_families(r.text)
        if family.name == "memory_server_reconciliations"
        for s in family.samples
    }


async def test_the_extraction_call_reconciles_against_the_related_facts_it_is_shown(client, llm):
    llm.json_reply(facts(("User lives in Berlin", "static"), ("User has a dog named Rex", "static")))
    first = await publish(client, "ana", "I live in Berlin and I have a dog named Rex")
    berlin = next(f["id"] for f in first["changes"]["added"] if "Berlin" in f["content"])
    before = await _reconciled(client)
    llm.json_reply(decided("User lives in Lisbon", "UPDATE", ["F0"]))
    job = await publish(client, "ana", "I moved from Berlin to Lisbon")
    assert len(llm.requests) == 2  # no reconciliation call
    assert job["usage"]["llm_calls"] == 1
    grown = {key: n - before.get(key, 0) for key, n in (await _reconciled(client)).items()}
    assert {key: n for key, n in grown.items() if n} == {("extractor", "UPDATE"): 1}
    [update] = job["changes"]["updated"]
    assert (update["before"]["id"], update["after"]["content"]) == (berlin, "User lives in Lisbon")
    assert await live(client) == ["User has a dog named Rex", "User lives in Lisbon"]
    system, user = (m["content"] for m in llm.requests[1]["messages"])
    assert '"action": "UPDATE"' in system and "ids F0, F1" in system
    known, conversation = user.split("\n\nConversation:\n")
    assert known.startswith("Known facts:\n[F0] User lives in Berlin (static, ")
    assert "I moved from Berlin to Lisbon" in conversation
    assert "Known facts" not in llm.prompts(0) and '"action"' not in llm.prompts(0)  # nothing known yet


async def test_a_decision_naming_facts_it_was_not_shown_is_checked_like_the_reconcilers(client, llm):
    llm.json_reply(facts(("User lives in Berlin", "static")))
    await publish(client, "ana", "I live in Berlin")
    llm.json_reply(decided("User lives in Lisbon", "UPDATE", ["F7", 3, "x"]))
    job = await publish(client, "ana", "I also have a flat in Lisbon")
    assert len(llm.requests) == 2
    assert [f["content"] for f in job["changes"]["added"]] == ["User lives in Lisbon"]
    assert job["changes"]["updated"] == []
    assert await live(client) == ["User lives in Berlin", "User lives in Lisbon"]
    llm.json_reply(decided("User lives in Lisbon now", "DELETE", ["f0"]))
    job = await publish(client, "ana", "I sold the flat in Berlin")
    assert [f["content"] for f in job["changes"]["removed"]] == ["User lives in Berlin"]


async def test_a_fact_without_a_decision_goes_to_the_reconciler(client, llm):
    llm.json_reply(facts(("User is a nurse", "static")))
    await publish(client, "ana", "I'm a nurse")
    before = await _reconciled(client)
    llm.json_reply(facts(("User works as a nurse", "static")))
    llm.json_reply(decisions((0, "NONE", [0])))
    job = await publish(client, "ana", "As I said, I work as a nurse")
    assert len(llm.requests) == 3 and "New facts:\n[0] User works as a nurse" in llm.prompts(2)
    assert job["usage"]["llm_calls"] == 2
    grown = {key: n - before.get(key, 0) for key, n in (await _reconciled(client)).items()}
    assert {key: n for key, n in grown.items() if n} == {("model", "NONE"): 1}
    assert await live(client) == ["User is a nurse"]


async def test_without_model_reconciliation_the_extraction_is_shown_no_facts(client, llm):
    await client.put("/v1/config", json={"reconcile_with_llm": False})
    llm.json_reply(facts(("User is a nurse", "static")))
    await publish(client, "ana", "I'm a nurse")
    llm.json_reply(decided("User is a doctor", "NONE", ["F0"]))
    await publish(client, "ana", "I'm a doctor now")
    assert len(llm.requests) == 2 and "Known facts" not in llm.prompts(1) and '"action"' not in llm.prompts(1)
    assert await live(client) == ["User is a doctor"]  # the rules reconciler: a new occupation replaces the old


async def test_the_rules_reconciler_replaces_a_models_fact_on_the_same_topic(client, llm):
    await client.put("/v1/config", json={"reconcile_with_llm": False})
    llm.json_reply(facts(("User lives in Hamburg", "static")))
    await publish(client, "ana", "I live in Hamburg")
    llm.json_reply(facts(("User lives in Munich", "static")))
    await publish(client, "ana", "I moved to Munich")
    assert await live(client) == ["User lives in Munich"]


def said(*items: tuple[str, int] | tuple[str, int, str]) -> dict:
    out = [
        {"content": c, "kind": kind[0] if kind else "static", "confidence": 0.9, "message": m} for c, m, *kind in items
    ]
    return {"facts": out}


async def test_a_later_message_of_the_same_request_replaces_a_value_an_earlier_one_gave(client, llm):
    llm.json_reply(said(("User lives in Lyon", 2), ("User lives in Lille", 0), ("User has a cat", 0)))
    messages = [
        {"role": "user", "content": "I live in Lille and I have a cat."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Sorry, my mistake: I live in Lyon, not Lille."},
    ]
    r = await client.post("/v1/interactions", json={"user_id": "ana", "messages": messages, "wait": True})
    job = r.json()
    assert len(llm.requests) == 1  # decided without a reconciliation call
    assert await live(client) == ["User has a cat", "User lives in Lyon"]
    [update] = job["changes"]["updated"]
    assert (update["before"]["content"], update["after"]["content"]) == ("User lives in Lille", "User lives in Lyon")
    lille = (await client.get(f"/v1/facts/{update['before']['id']}")).json()
    assert (lille["status"], lille["superseded_by"]) == ("superseded", update["after"]["id"])


async def test_a_model_is_shown_when_a_known_fact_was_said_not_when_it_was_stored(client, llm):
    async def say(text: str, at: str) -> None:
        message = {"role": "user", "content": text, "created_at": at}
        r = await client.post("/v1/interactions", json={"user_id": "ana", "messages": [message], "wait": True})
        assert r.json()["status"] == "done", r.text

    llm.json_reply(facts(("User lives in Lille", "static")))
    await say("I live in Lille", "2026-01-10T09:00:00Z")
    llm.json_reply(decided("User lives in Lyon", "UPDATE", ["F0"]))
    await say("No, I said Lyon, not Lille", "2026-01-10T09:01:00Z")
    assert "[F0] User lives in Lille (static, 2026-01-10)" in llm.prompts(1)
    await client.put("/v1/config", json={"known_facts_limit": 0})  # the reconciler's own call shows them too
    llm.json_reply(facts(("User lives in Paris", "static")))
    llm.json_reply(decisions((0, "UPDATE", [0])))
    await say("I moved to Paris", "2026-02-01T10:00:00Z")
    assert "[0] User lives in Lyon (static, 2026-01-10)" in llm.prompts(3)
    assert await live(client) == ["User lives in Paris"]


async def test_a_later_temporary_value_of_the_same_request_leaves_the_lasting_one(client, llm):
    llm.json_reply(said(("User works as a teacher", 0), ("User works as a waiter this summer", 1, "dynamic")))
    await publish(client, "ana", "I work as a teacher.", "But I'm working as a waiter this summer")
    assert await live(client) == ["User works as a teacher", "User works as a waiter this summer"]


async def test_two_values_for_a_slot_from_one_message_both_stand(client, llm):
    llm.json_reply(said(("User lives in Berlin", 0), ("User lives in Lisbon", 0)))
    await publish(client, "ana", "I live in Berlin and in Lisbon, half the year each")
    assert await live(client) == ["User lives in Berlin", "User lives in Lisbon"]


async def test_known_facts_limit_bounds_the_list_and_zero_reconciles_in_a_call_of_its_own(client, llm):
    llm.json_reply(facts(("User lives in Berlin", "static"), ("User plays the cello", "static")))
    await publish(client, "ana", "I live in Berlin and I play the cello")
    assert (await client.put("/v1/config", json={"known_facts_limit": 1})).status_code == 200
    llm.json_reply(decided("User lives in Lisbon", "UPDATE", ["F0"]))
    await publish(client, "ana", "I moved to Lisbon")
    assert "[F0] User lives in Berlin" in llm.prompts(1) and "[F1]" not in llm.prompts(1)
    assert (await client.put("/v1/config", json={"known_facts_limit": 0})).status_code == 200
    llm.json_reply(facts(("User plays the viola", "static")))
    llm.json_reply(decisions((0, "UPDATE", [0])))
    await publish(client, "ana", "I switched from the cello to the viola")
    assert len(llm.requests) == 4 and "Known facts" not in llm.prompts(2) and "New facts:" in llm.prompts(3)
    assert await live(client) == ["User lives in Lisbon", "User plays the viola"]
    r = await client.put("/v1/config", json={"known_facts_limit": -1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "known_facts_limit"


async def test_a_config_change_alters_what_is_extracted_next_time(client, llm):
    r = await client.put(
        "/v1/config",
        json={
            "profile_content_definition_prompt": "ONLY the user's favourite foods.",
            "should_extract_profile_prompt_override": "the user talks about food",
            "context_prompt": "A cooking assistant.",
        },
    )
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    assert r.json()["config"]["extraction_definition_prompt"] == "ONLY the user's favourite foods."
    llm.json_reply(facts(("User loves ramen", "static")))
    job = await publish(client, "ana", "I'm a nurse and I love ramen")
    system = llm.requests[0]["messages"][0]["content"]
    assert "ONLY the user's favourite foods." in system
    assert "Extract only if this holds, else reply with no facts: the user talks about food" in system
    assert "A cooking assistant." in system
    assert [f["config_version"] for f in job["changes"]["added"]] == [version]


@pytest.mark.parametrize("named", [{"message": 0}, {}, {"message": 9}], ids=["assistant", "none", "out-of-range"])
async def test_facts_from_the_assistants_messages_or_naming_none_of_the_users_are_dropped(client, llm, named):
    llm.json_reply(
        {
            "facts": [
                {"content": "User is an AI", "kind": "static", **named},
                {"content": "User is a pilot", "kind": "static", "message": 1},
            ]
        }
    )
    body = {
        "user_id": "ana",
        "messages": [{"role": "assistant", "content": "I am an AI."}, {"role": "user", "content": "I'm a pilot."}],
        "wait": True,
    }
    job = (await client.post("/v1/interactions", json=body)).json()
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a pilot"]


async def test_a_fact_naming_no_message_is_kept_when_only_the_user_spoke(client, llm):
    llm.json_reply({"facts": [{"content": "User is a nurse", "kind": "static", "message": 7}]})
    job = await publish(client, "bob", "I'm a nurse")
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]


async def test_reextraction_replays_stored_messages_through_the_current_config(client, llm):
    await client.put("/v1/config", json={"extractor": "rules"})
    await publish(client, "ana", "I'm a nurse")
    await publish(client, "ana", "ramen is the best food ever")  # nothing the rules can read
    assert llm.requests == []
    await client.put("/v1/config", json={"extractor": "llm"})
    llm.json_reply(facts(("User is a nurse", "static")))
    llm.json_reply(facts(("User likes ramen", "static")))
    r = await client.post("/v1/users/ana/reextract")
    assert r.status_code == 202
    job = r.json()
    assert job["kind"] == "reextract"
    [job] = await until_finished(client, job["request_id"])
    assert job["status"] == "done", job
    assert [f["content"] for f in job["changes"]["added"]] == ["User likes ramen"]
    assert len(llm.requests) == 2
    assert "I'm a nurse" in llm.prompts(0) and "ramen" in llm.prompts(1)
    assert "User likes ramen" in await live(client)
    assert (await client.post("/v1/users/nobody/reextract")).status_code == 404


async def test_llm_extractor_without_a_model_is_rejected(settings):
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        r = await c.put("/v1/config", json={"extractor": "llm"})
        assert r.status_code == 422
        assert r.json()["error"]["field"] == "model"
        ok = await c.put("/v1/config", json={"extractor": "llm", "model": "ollama/llama3.1"})
        assert ok.status_code == 200


async def test_models_known_to_support_schemas_get_structured_output(llm):
    from extractors.base import Usage
    from extractors.llm import ExtractionReply
    from extractors.llm_client import ModelCall, complete_json

    llm.json_reply(facts(("User is a nurse", "static")))
    call = ModelCall(model="openai/gpt-4o-mini", api_base=llm.api_base, api_key="sk-test", max_retries=0)
    usage = Usage()
    reply = await complete_json(call, [{"role": "user", "content": "hi"}], ExtractionReply, usage)
    assert [f.content for f in reply.facts] == ["User is a nurse"]
    sent = llm.requests[0]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "ExtractionReply"
    assert "facts" in sent["json_schema"]["schema"]["properties"]
    assert (usage.llm_calls, usage.prompt_tokens, usage.completion_tokens) == (1, 100, 10)


async def test_token_usage_is_counted_with_tiktoken_when_the_provider_reports_none(llm):
    from extractors.base import Usage
    from extractors.llm_client import ModelCall, complete

    llm.queue({"content": "one two three", "usage": False})
    call = ModelCall(model="openai/fake-chat", api_base=llm.api_base, api_key="sk-test", max_retries=0)
    usage = Usage()
    assert await complete(call, [{"role": "user", "content": "hello there"}], usage) == "one two three"
    assert usage.llm_calls == 1
    assert usage.prompt_tokens == 2
    assert usage.completion_tokens == 3


# --- signals from the same call -------------------------------------------------------------------------------


def rated(message: int, sentiment: float, topics: dict | None = None, intentions: list | None = None, price=False):
    return {
        "message": message,
        "sentiment": sentiment,
        "topics": topics or {},
        "intentions": intentions or [],
        "price_sensitive": price,
    }


async def converse(client, user: str, *turns: tuple[str, str]) -> dict:
    body = {"user_id": user, "messages": [{"role": r, "content": c} for r, c in turns], "wait": True}
    r = await client.post("/v1/interactions", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def timeline(client, user: str = "ana") -> dict[str, dict]:
    """The user's analysed messages by content."""
    return {e["content"]: e for e in (await client.get(f"/v1/users/{user}/timeline")).json()["timeline"]}


async def test_one_model_call_carries_facts_and_signals_and_the_timeline_shows_the_models(client, llm):
    reply = facts(("User is a nurse", "static"))
    reply["signals"] = [
        rated(0, -0.7, {"billing": 0.9, "pricing": 0.6}, ["wants refund"], price=True),
        rated(2, 0.55, {}, ["praising"]),
    ]
    llm.json_reply(reply)
    job = await converse(
        client,
        "ana",
        ("user", "I'm a nurse and you charged me twice, I want it back"),
        ("assistant", "Sorry about that, the refund is on its way."),
        ("user", "Lovely, thanks"),
    )
    assert job["status"] == "done", job
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]
    assert len(llm.requests) == 1 and job["usage"]["llm_calls"] == 1
    system = llm.requests[0]["messages"][0]["content"]
    assert "Also rate every message of roles user" in system
    assert "  billing: Charges, invoices" in system and "  wants refund: The user asks" in system
    assert '"signals": [{"message": 0' in system
    seen = await timeline(client)
    assert set(seen) == {"I'm a nurse and you charged me twice, I want it back", "Lovely, thanks"}
    angry, happy = seen["I'm a nurse and you charged me twice, I want it back"], seen["Lovely, thanks"]
    assert (angry["sentiment"], angry["topics"], angry["intentions"], angry["price_sensitive"]) == (
        -0.7,
        {"billing": 0.9, "pricing": 0.6},
        ["wants refund"],
        True,
    )
    assert (happy["sentiment"], happy["topics"], happy["intentions"], happy["price_sensitive"]) == (
        0.55,
        {},
        ["praising"],
        False,
    )
    user = (await client.get("/v1/users/ana")).json()
    assert user["aggregates"]["avg_sentiment"] == pytest.approx(-0.075)


async def test_labels_outside_the_taxonomy_are_dropped_and_the_rest_kept(client, llm, caplog):
    reply = facts()
    reply["signals"] = [rated(0, -0.4, {"Billing": 0.8, "astrology": 0.9}, ["wants refund", "wants pizza"])]
    llm.json_reply(reply)
    job = await publish(client, "ana", "Where is my refund?")
    assert job["status"] == "done", job
    [entry] = (await timeline(client)).values()
    assert (entry["sentiment"], entry["topics"], entry["intentions"]) == (-0.4, {"billing": 0.8}, ["wants refund"])
    assert "dropped 2 signal label(s) outside the taxonomy: ['astrology', 'wants pizza']" in caplog.text


async def test_a_sentiment_out_of_range_is_an_unusable_reply_retried_then_failed_with_the_raw_reply(client, llm):
    bad = {"facts": [], "signals": [rated(0, 3.0)]}
    llm.queue(*[json.dumps(bad)] * 4)
    job = await publish(client, "ana", "I'm a nurse")
    assert job["status"] == "failed"
    assert job["attempts"] == 2 and job["usage"]["llm_calls"] == 4
    assert "unusable output twice" in job["error"]
    assert "signals.0.sentiment: Input should be less than or equal to 1" in job["error"]
    assert job["raw_output"] == json.dumps(bad)
    assert "signals.0.sentiment" in llm.requests[1]["messages"][-1]["content"]  # the repair said what was wrong
    assert await timeline(client) == {}


async def test_a_message_the_model_gave_no_signals_for_is_analysed_offline(client, llm):
    reply = facts()
    reply["signals"] = [rated(0, 0.3, {"onboarding": 0.7})]
    llm.json_reply(reply)
    angry = "I was charged twice this month and I want my money back. This is unacceptable."
    job = await publish(client, "ana", "Setting up my workspace now", angry)
    assert job["status"] == "done", job
    seen = await timeline(client)
    assert (seen["Setting up my workspace now"]["sentiment"], seen["Setting up my workspace now"]["topics"]) == (
        0.3,
        {"onboarding": 0.7},
    )
    assert seen[angry]["sentiment"] < -0.1  # the offline analyzer's reading (see tests/test_users.py)
    assert "wants refund" in seen[angry]["intentions"] and "billing" in seen[angry]["topics"]


async def test_with_signals_off_the_prompt_does_not_ask_for_them(client, llm):
    r = await client.put("/v1/config", json={"signals": {"enabled": False}})
    assert r.status_code == 200, r.text
    llm.json_reply(facts(("User is a nurse", "static")))
    job = await publish(client, "ana", "I'm a nurse")
    assert [f["content"] for f in job["changes"]["added"]] == ["User is a nurse"]
    prompt = llm.prompts(0)
    assert "signals" not in prompt and "sentiment" not in prompt and "billing" not in prompt
    assert await timeline(client) == {}


async def test_identities_from_the_model_are_normalised_identity_facts_and_a_new_one_supersedes(client, llm):
    def stated(content: str, kind: str, value: str, **more) -> dict:
        identity = {"type": kind, "value": value, **more}
        return {"content": content, "kind": "static", "confidence": 0.9, "message": 0, "identity": identity}

    llm.json_reply(
        {
            "facts": [
                stated("User's email is Ana@Old.com", "email", "Ana@Old.com"),
                stated("User's phone number is +1 555 123 4567", "phone", "+1 555 123 4567"),
                stated("User has a device id", "device", "abc-123"),  # not an identity type: a plain fact
            ]
        }
    )
    job = await publish(client, "ana", "Mail me at Ana@Old.com or call +1 555 123 4567")
    assert job["status"] == "done", job
    assert "identity" in llm.prompts(0) and '"type": "email" | "phone" | "handle"' in llm.prompts(0)
    added = {f["content"]: f for f in job["changes"]["added"]}
    assert added["User's email is Ana@Old.com"]["attributes"] == {"identity": {"type": "email", "value": "ana@old.com"}}
    assert added["User has a device id"]["attributes"] == {}

    llm.json_reply({"facts": [stated("User's email is now ana@new.com", "email", "ana@new.com")]})
    job = await publish(client, "ana", "My email changed to ana@new.com")
    [update] = job["changes"]["updated"]
    assert update["before"]["content"] == "User's email is Ana@Old.com"
    r = await client.get("/v1/users/ana/profile", params={"sections": "identities"})
    identities = sorted((i["type"], i["value"], i["confidence"]) for i in r.json()["sections"][0]["data"])
    assert identities == [("email", "ana@new.com", 0.9), ("phone", "+15551234567", 0.9)]
