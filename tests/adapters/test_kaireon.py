"""Kaireon's unified-profile route against the seed's example bodies: the legacy section format (all sections or
`sections=`), `format=structured`, the X-Tenant-Id header and unknown section names."""

from __future__ import annotations

import re

from memory_server import keys

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # "2026-03-30T12:00:00.000Z"
URL = "/api/v1/customers/CUST001/unified-profile"


async def _customer(client) -> None:
    segment = {"name": "High Value", "condition": {"attribute": "plan", "eq": "pro"}}
    assert (await client.post("/v1/segments", json=segment)).status_code == 201
    said = "My email is john@example.com and my phone number is +1234567890"
    body = {"user_id": "CUST001", "messages": [{"role": "user", "content": said}], "wait": True, "source": "web"}
    assert (await client.post("/v1/interactions", json=body)).status_code == 200
    assert (await client.put("/v1/users/CUST001", json={"attributes": {"plan": "pro"}})).status_code == 200


async def test_the_legacy_format_has_the_seeds_sections_and_shapes(client):
    await _customer(client)
    r = await client.get(URL, headers={"X-Tenant-Id": "default"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"customerId", "tenantId", "sections", "computedAt"}
    assert (body["customerId"], body["tenantId"]) == ("CUST001", "default") and STAMP.match(body["computedAt"])
    sections = {s["name"]: s["data"] for s in body["sections"]}
    assert list(sections) == ["identities", "interactions", "segments", "journeys", "experiments", "consent"]
    assert sorted(sections["identities"], key=lambda i: i["type"]) == [
        {"type": "email", "value": "john@example.com", "confidence": 0.95},
        {"type": "phone", "value": "+1234567890", "confidence": 0.95},
    ]
    [interaction] = sections["interactions"]
    assert interaction["id"].startswith("msg_") and interaction["interactionType"] == "message"
    assert interaction["channelId"] == "web" and STAMP.match(interaction["timestamp"])
    [segment] = sections["segments"]
    assert set(segment) == {"segmentId", "segmentName", "memberSince"} and segment["segmentName"] == "High Value"
    assert STAMP.match(segment["memberSince"])
    assert sections["journeys"] == sections["experiments"] == []
    assert sections["consent"][0]["status"] == "granted"


async def test_selective_sections_come_in_the_order_asked(client):
    await _customer(client)
    r = await client.get(URL, params={"sections": "interactions,identities"}, headers={"X-Tenant-Id": "default"})
    assert r.status_code == 200, r.text
    assert [s["name"] for s in r.json()["sections"]] == ["interactions", "identities"]


async def test_unknown_sections_are_a_400_listing_the_available_ones(client):
    r = await client.get(URL, params={"sections": "identities,wallet"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["field"] == "sections"
    assert error["message"] == (
        "sections: no section wallet: choose from identities, interactions, segments, journeys, experiments, consent"
    )


async def test_the_structured_format_maps_demographics_interactions_metrics_and_suppressions(client):
    await _customer(client)
    r = await client.put("/v1/users/CUST001/consent", json={"remember": False, "reason": "GDPR"})
    assert r.status_code == 200
    r = await client.get(URL, params={"format": "structured"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["demographics"]["attributes"] == {"plan": "pro"}
    assert {i["type"] for i in body["demographics"]["identities"]} == {"email", "phone"}
    assert "User's email is john@example.com" in body["demographics"]["facts"]
    assert len(body["interactions"]) == 1 and body["clv"] is None
    assert body["metrics"]["window_size"] == 1
    assert body["suppressions"] == [{"type": "memory", "reason": "GDPR"}]
    assert body["errors"] == {}


async def test_x_tenant_id_must_name_the_keys_tenant_and_selects_it_in_open_mode(client, service):
    await _customer(client)
    r = await client.get(URL, headers={"X-Tenant-Id": "elsewhere"})  # open mode: another tenant, no such customer
    assert r.status_code == 200 and r.json()["tenantId"] == "elsewhere"
    assert all(
        s["data"] in ([], [{"purpose": "memory", "status": "granted", "reason": None, "updatedAt": None}])
        for s in r.json()["sections"]
    )
    key = await keys.create(service.core.db, "default", "viewer")
    r = await client.get(URL, headers={"X-Tenant-Id": "elsewhere", "X-API-Key": key.key})
    assert r.status_code == 404 and r.json()["error"]["field"] == "X-Tenant-Id"
    r = await client.get(URL, headers={"X-Tenant-Id": "default", "X-API-Key": key.key})
    assert r.status_code == 200 and len(r.json()["sections"][0]["data"]) == 2


async def test_interaction_times_are_utc_whatever_offset_the_message_was_sent_with(client):
    said = {"role": "user", "content": "Hello from Vancouver", "created_at": "2026-11-21T23:30:00-08:00"}
    body = {"user_id": "CUST002", "messages": [said], "wait": True}
    assert (await client.post("/v1/interactions", json=body)).status_code == 200
    r = await client.get(
        "/api/v1/customers/CUST002/unified-profile",
        params={"sections": "interactions"},
        headers={"X-Tenant-Id": "default"},
    )
    [section] = r.json()["sections"]
    assert [i["timestamp"] for i in section["data"]] == ["2026-11-22T07:30:00.000Z"]
