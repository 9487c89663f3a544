"""Input at the edges of what the server can represent: a 422 naming the field and nothing written, or stored
and read back exactly (and the user's jobs still finish)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.test_errors import assert_error, nothing_stored
from tests.conftest import publish, until_finished

NURSE = {"role": "user", "content": "I'm a nurse"}
PROJECT = {"role": "user", "content": "I'm currently working on a migration project"}


def raw(body: object) -> dict:
    """JSON as a client writes it, lone surrogates as `\\ud800` escapes (httpx's json= cannot encode them)."""
    return {"content": json.dumps(body).encode(), "headers": {"content-type": "application/json"}}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/interactions", {"user_id": "ana", "messages": [NURSE], "attributes": {"a": "x\ud800"}}, "attributes.a"),
        (
            "/v1/interactions",
            {"user_id": "ana", "messages": [NURSE], "attributes": {"a": {"b": "\udfff"}}},
            "attributes.a.b",
        ),
        (
            "/v1/interactions",
            {"user_id": "ana", "messages": [NURSE], "attributes": {"a": [1, "\udc00"]}},
            "attributes.a.1",
        ),
        (
            "/v1/interactions",
            {"user_id": "ana", "messages": [NURSE], "attributes": {"a": {"k\ud800": 1}}},
            "attributes.a",
        ),
        (
            "/v1/interactions",
            {"user_id": "ana", "messages": [{"role": "user", "content": "hi \ud800"}]},
            "messages.0.content",
        ),
        ("/v1/interactions", {"user_id": "ana\ud800", "messages": [NURSE]}, "user_id"),
        (
            "/v1/facts",
            {"user_id": "ana", "content": "User likes tea", "attributes": {"a": {"b": "\ud83d"}}},
            "attributes.a.b",
        ),
        ("/v1/facts", {"user_id": "ana", "content": "User likes \ud83d"}, "content"),
        ("/v1/search", {"user_id": "ana", "query": "tea", "attributes": {"a": "\ud800"}}, "attributes.a"),
    ],
)
async def test_lone_surrogates_are_422_naming_the_field_path(client, service, path, body, field):
    r = await client.post(path, **raw(body))
    assert_error(r, 422, "invalid_input", field)
    assert r.json()["error"]["message"].startswith(f"{field}: ")
    assert await nothing_stored(service)


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "ana", "messages": [NURSE], "x\ud800": 1},
        {"user_id": "ana", "messages": [NURSE], "attributes": {"k\ud800": 1}},
    ],
)
async def test_a_surrogate_in_a_key_is_422(client, service, body):
    r = await client.post("/v1/interactions", **raw(body))
    assert_error(r, 422, "invalid_input")
    assert await nothing_stored(service)


@pytest.mark.parametrize("cursor", [str(2**63), str(2**64), "-1", "99999999999999999999999", " 1", "١٢", "1_0"])
@pytest.mark.parametrize("path", ["/v1/users/ana/facts", "/v1/changelog"])
async def test_a_cursor_outside_64_bits_or_not_digits_is_422(client, path, cursor):
    assert_error(await client.get(path, params={"cursor": cursor}), 422, "invalid_input", "cursor")


@pytest.mark.parametrize("path", ["/v1/users/ana/facts", "/v1/changelog"])
async def test_the_largest_cursor_is_accepted(client, path):
    r = await client.get(path, params={"cursor": str(2**63 - 1)})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("big", [2**63 - 1, 2**63, 2**64, -(2**63) - 1])
@pytest.mark.parametrize(
    ("method", "path", "field", "where"),
    [
        ("GET", "/v1/users/ana/facts", "limit", "params"),
        ("GET", "/v1/changelog", "limit", "params"),
        ("GET", "/v1/config/history", "limit", "params"),
        ("POST", "/v1/profile", "top_k", "json"),
        ("POST", "/v1/profile", "max_tokens", "json"),
        ("POST", "/v1/search", "top_k", "json"),
        ("POST", "/v1/facts/delete", "top_k", "json"),
        ("POST", "/v1/facts", "ttl_seconds", "json"),
    ],
)
async def test_integers_at_64_bit_boundaries_are_422_naming_the_field(client, service, method, path, field, where, big):
    base = {"user_id": "ana", "query": "x", "content": "User likes tea"} if where == "json" else {}
    if path == "/v1/profile":
        base = {"user_id": "ana"}
    r = await client.request(method, path, **{where: {**base, field: big}})
    assert_error(r, 422, "invalid_input", field)
    assert await nothing_stored(service)


@pytest.mark.parametrize("ttl", [10 * 365 * 86_400 + 1, 2**63, 2**64])
async def test_dynamic_ttl_is_bounded_like_the_other_ttls(client, ttl):
    before = (await client.get("/v1/config")).json()["version"]
    assert_error(await client.put("/v1/config", json={"dynamic_ttl_seconds": ttl}), 422, "invalid_input")
    assert (await client.get("/v1/config")).json()["version"] == before


async def test_the_longest_dynamic_ttl_still_lets_dynamic_facts_be_added(client):
    r = await client.put("/v1/config", json={"dynamic_ttl_seconds": 10 * 365 * 86_400})
    assert r.status_code == 200, r.text
    job = await publish(client, "ana", PROJECT["content"])
    assert job["status"] == "done", job
    [fact] = (await client.get("/v1/users/ana/facts")).json()["items"]
    assert fact["kind"] == "dynamic" and fact["expires_at"] is not None


@pytest.mark.parametrize(
    "stamp",
    ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59.5Z", "1000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"],
)
async def test_a_message_at_the_edge_of_the_calendar_is_stored_read_back_and_reextracted(client, service, scope, stamp):
    body = {"user_id": "ana", "messages": [{**PROJECT, "created_at": stamp}, NURSE], "wait": True}
    r = await client.post("/v1/interactions", json=body)
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    [stored, _] = (await service.export_user(scope, "ana")).messages
    assert stored.created_at == datetime.fromisoformat(stamp)
    facts = (await client.get("/v1/users/ana/facts")).json()["items"]
    assert "User is a nurse" in {f["content"] for f in facts}
    again = (await client.post("/v1/users/ana/reextract")).json()
    assert [j["status"] for j in await until_finished(client, again["request_id"])] == ["done"]


@pytest.mark.parametrize(
    ("stamp", "said"),
    [
        ("9999-12-31T12:00:00Z", "I fly home tomorrow. Next year I am travelling to Rome. See you this weekend."),
        ("0001-01-01T00:00:00Z", "Yesterday I went skiing. Last weekend I was in Oslo. Five years ago I moved."),
    ],
)
async def test_a_relative_date_past_the_edge_of_the_calendar_is_left_as_said(client, stamp, said):
    body = {"user_id": "ana", "messages": [{"role": "user", "content": said, "created_at": stamp}], "wait": True}
    r = await client.post("/v1/interactions", json=body)
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    facts = (await client.get("/v1/users/ana/facts")).json()["items"]
    assert not [f for f in facts if re.search(r"\b(10000|0000)\b|\bin [0-9]\b", f["content"])], facts
    r = await client.post("/v1/search", json={"user_id": "ana", "query": "what did I do yesterday"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("stamp", "field"),
    [
        ("0001-01-01T00:00:00+01:00", "messages.0.created_at"),
        ("9999-12-31T23:59:59-00:01", "messages.0.created_at"),
        ("0000-12-31T00:00:00Z", "messages.0.created_at"),
        ("10000-01-01T00:00:00Z", "messages.0.created_at"),
    ],
)
async def test_a_message_date_outside_the_utc_range_is_422(client, service, stamp, field):
    r = await client.post("/v1/interactions", json={"user_id": "ana", "messages": [{**NURSE, "created_at": stamp}]})
    assert_error(r, 422, "invalid_input", field)
    assert await nothing_stored(service)


async def test_since_before_year_1000_finds_later_changes(client):
    await publish(client, "ana", "I'm a nurse")
    for since in ("0001-01-01T00:00:00Z", "0999-01-01T00:00:00", "1000-01-01T00:00:00+00:00"):
        items = (await client.get("/v1/changelog", params={"since": since})).json()["items"]
        assert [c["after"]["content"] for c in items] == ["User is a nurse"], since
        body = {"user_id": "ana", "query": "nurse", "since": since, "types": ["facts"]}
        search = await client.post("/v1/search", json=body)
        assert [h["content"] for h in search.json()["results"]] == ["User is a nurse"], since


@pytest.mark.parametrize(
    ("path", "where", "body"),
    [
        ("/v1/changelog", "params", {"since": "0001-01-01T00:00:00+00:01"}),
        ("/v1/search", "json", {"user_id": "ana", "query": "x", "since": "0001-01-01T00:30:00+01:00"}),
        ("/v1/search", "json", {"user_id": "ana", "query": "x", "until": "9999-12-31T23:00:00-02:00"}),
    ],
)
async def test_since_and_until_outside_the_utc_range_are_422(client, path, where, body):
    field = "until" if "until" in body else "since"
    r = await client.request("GET" if where == "params" else "POST", path, **{where: body})
    assert_error(r, 422, "invalid_input", field)


async def test_naive_and_aware_since_and_until_are_compared_in_utc(client):
    body = {"user_id": "ana", "query": "x", "since": "2026-01-01T00:00:00", "until": "2026-01-01T01:00:00+02:00"}
    assert_error(await client.post("/v1/search", json=body), 422, "invalid_input", "until")
    body["until"] = "2026-01-01T01:00:00Z"
    assert (await client.post("/v1/search", json=body)).status_code == 200


async def test_a_fact_said_at_the_end_of_year_9999_lives_from_now_and_the_job_finishes(client):
    late = {**PROJECT, "created_at": "9999-12-31T00:00:00Z"}
    r = await client.post("/v1/interactions", json={"user_id": "ana", "messages": [late], "wait": True})
    assert r.json()["status"] == "done", r.text
    r = await client.get("/v1/users/ana/facts", params={"status": "all"})
    [fact] = r.json()["items"]
    assert fact["kind"] == "dynamic"
    assert datetime.fromisoformat(fact["expires_at"]) < datetime.now(UTC) + timedelta(days=400)  # not from 9999


async def test_a_lifetime_on_a_static_fact_is_refused_not_dropped(client, service):
    body = {"user_id": "ana", "content": "User is recovering from a broken leg", "ttl_seconds": 3600}
    for kind in ({}, {"kind": "static"}):
        r = await client.post("/v1/facts", json={**body, **kind})
        assert_error(r, 422, "invalid_input", "ttl_seconds")
        assert "only dynamic facts expire" in r.json()["error"]["message"]
    assert await nothing_stored(service)
    r = await client.post("/v1/facts", json={**body, "kind": "dynamic"})
    assert r.status_code == 201 and r.json()["expires_at"] is not None
