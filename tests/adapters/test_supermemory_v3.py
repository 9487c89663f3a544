"""The Supermemory 3.x SDK generation's routes over HTTP, against the request bodies that SDK sends and the
response fields it parses (`supermemory_v3_shapes.json`, read from its source): documents reach `done`, search
finds their memories, deleting a document takes its facts and messages, updating a memory supersedes it, another
tenant's ids are 404 and bad bodies are 400 naming the field."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from memory_server import keys
from tests.fakes import fact

SHAPES = json.loads((Path(__file__).parent / "supermemory_v3_shapes.json").read_text())
ABOUT_ALEX = [fact("User is a software engineer"), fact("User prefers dark mode interfaces")]
_TYPES = {"str": str, "number": (int, float), "bool": bool, "list": list, "object": dict, "null": type(None)}


def conforms(body: dict[str, Any], fields: dict[str, Any], required: list[str]) -> None:
    """Every field the SDK's model declares has a type it accepts; required ones are present."""
    assert set(required) <= set(body), f"missing {set(required) - set(body)}"
    for name, kind in fields.items():
        if name not in body:
            continue
        value = body[name]
        if isinstance(kind, list):
            assert value in kind, f"{name}: {value!r} not one of {kind}"
        else:
            accepted = tuple(t for k in kind.split("|") for t in _as_tuple(_TYPES[k]))
            assert isinstance(value, accepted) and not (kind == "number" and isinstance(value, bool)), (name, value)


def _as_tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def request(shape: str, **fill: str) -> dict[str, Any]:
    """The SDK's request body for a call, with its {placeholders} filled in."""
    text = json.dumps(SHAPES[shape]["request"])
    for name, value in fill.items():
        text = text.replace("{" + name + "}", value)
    return json.loads(text)


@pytest.fixture
async def other(app, bearer) -> dict[str, str]:
    """An admin key of another tenant."""
    return {"Authorization": f"Bearer {(await keys.create(app.state.service.core.db, 'other', 'admin')).key}"}


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict, body: Any = None) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


async def done(client: httpx.AsyncClient, doc_id: str, headers: dict, tries: int = 300) -> dict[str, Any]:
    """Poll the document as the SDK's users do until its status is final."""
    for _ in range(tries):
        r = await client.get(f"/v3/documents/{doc_id}", headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("done", "failed"):
            return r.json()
        await asyncio.sleep(0.02)
    raise AssertionError(f"document {doc_id} still {r.json()['status']}")


async def add(client, headers, fake, replies, body: dict[str, Any]) -> str:
    """Add a document whose extraction yields `replies`, and wait until it is processed (one at a time: the fake
    answers in call order)."""
    fake.queue(replies)
    r = await call(client, "POST", "/v3/documents", headers, body)
    assert r.status_code == 200, r.text
    conforms(r.json(), SHAPES["documents.add"]["response"], SHAPES["documents.add"]["required"])
    assert (await done(client, r.json()["id"], headers))["status"] == "done"
    return r.json()["id"]


@pytest.fixture
async def alex(client, fake, bearer) -> str:
    """user_alex with the 3.x SDK's `documents.add` body processed into two facts; the document's id."""
    return await add(client, bearer, fake, ABOUT_ALEX, request("documents.add"))


async def search(client, headers, q: str, mode: str = "hybrid", tag: str = "user_alex") -> list[dict[str, Any]]:
    body = {**request("search.memories"), "q": q, "searchMode": mode, "containerTag": tag, "threshold": 0.0}
    r = await call(client, "POST", "/v4/search", headers, body)
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def profile(client, headers, tag: str = "user_alex") -> list[str]:
    r = await call(client, "POST", "/v4/profile", headers, {"containerTag": tag})
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    return r.json()["profile"]["static"] + r.json()["profile"]["dynamic"]


async def memory_id(client, headers, text: str, tag: str = "user_alex") -> str:
    hits = [h for h in await search(client, headers, text, "memories", tag) if h.get("memory") == text]
    assert hits, f"no memory {text!r}"
    return hits[0]["id"]


# ---- documents ---------------------------------------------------------------------------------------------------


async def test_added_document_reaches_done_with_the_fields_the_sdk_parses(client, bearer, alex):
    doc = await done(client, alex, bearer)
    conforms(doc, SHAPES["documents.get"]["response"], SHAPES["documents.get"]["required"])
    sent = request("documents.add")
    assert doc["id"] == alex and doc["status"] == "done" and doc["type"] == "text"
    assert doc["content"] == sent["content"]
    assert doc["customId"] == "intro-1"
    assert doc["containerTags"] == ["user_alex"]
    assert doc["metadata"] == sent["metadata"]
    assert sorted(await profile(client, bearer)) == sorted(f.content for f in ABOUT_ALEX)


async def test_a_single_tag_in_container_tags_names_the_container(client, fake, bearer):
    doc_id = await add(client, bearer, fake, [fact("User drinks green tea")], request("client.add"))
    assert (await done(client, doc_id, bearer))["containerTags"] == ["user_alex"]
    assert await profile(client, bearer) == ["User drinks green tea"]


async def test_list_pages_the_containers_documents_newest_first(client, fake, bearer, alex):
    second = await add(client, bearer, fake, [], request("client.add"))
    r = await call(client, "POST", "/v3/documents/list", bearer, request("documents.list"))
    assert r.status_code == 200, r.text
    shape = SHAPES["documents.list"]
    conforms(r.json(), shape["response"], shape["required"])
    conforms(r.json()["pagination"], shape["pagination"], shape["pagination_required"])
    for item in r.json()["memories"]:
        conforms(item, shape["item"], shape["item_required"])
    assert [d["id"] for d in r.json()["memories"]] == [second, alex]
    assert r.json()["memories"][1]["content"] == request("documents.add")["content"]
    assert r.json()["pagination"] == {"currentPage": 1, "limit": 10, "totalItems": 2, "totalPages": 1}
    body = {"containerTags": ["user_alex"], "limit": 1, "page": 2}
    older = (await call(client, "POST", "/v3/documents/list", bearer, body)).json()
    assert [d["id"] for d in older["memories"]] == [alex] and older["memories"][0]["content"] is None


async def test_deleting_a_document_removes_its_facts_and_messages(client, fake, bearer, alex):
    kept = await add(client, bearer, fake, [fact("User drinks green tea")], request("client.add"))
    r = await client.delete(f"/v3/documents/{alex}", headers=bearer)
    assert r.status_code == 204, r.text
    assert (await client.get(f"/v3/documents/{alex}", headers=bearer)).status_code == 404
    assert await profile(client, bearer) == ["User drinks green tea"]
    found = await search(client, bearer, "software engineer who prefers dark mode")  # threshold 0: all that is left
    assert {h.get("memory") or h.get("chunk") for h in found} <= {
        "User drinks green tea",
        "I drink green tea every morning",
    }
    chunks = await search(client, bearer, "dark mode", "documents")
    assert [h["chunk"] for h in chunks] == ["I drink green tea every morning"]  # the deleted message is gone
    assert (await done(client, kept, bearer))["status"] == "done"
    assert (await client.delete(f"/v3/documents/{alex}", headers=bearer)).status_code == 404


async def test_bulk_delete_by_ids_reports_unknown_ids_and_keeps_the_rest(client, fake, bearer, alex):
    kept = await add(client, bearer, fake, [fact("User drinks green tea")], request("client.add"))
    r = await call(client, "DELETE", "/v3/documents/bulk", bearer, request("documents.delete_bulk", document_id=alex))
    assert r.status_code == 200, r.text
    shape = SHAPES["documents.delete_bulk"]
    conforms(r.json(), shape["response"], shape["required"])
    assert r.json()["deletedCount"] == 1 and r.json()["success"] is True
    assert r.json()["errors"] == [{"id": "not-a-document", "error": "document not found"}]
    assert (await client.get(f"/v3/documents/{alex}", headers=bearer)).status_code == 404
    assert (await client.get(f"/v3/documents/{kept}", headers=bearer)).status_code == 200
    assert await profile(client, bearer) == ["User drinks green tea"]


async def test_bulk_delete_by_container_tags_empties_those_containers_only(client, fake, bearer, alex):
    body = {"content": "I'm Bea and I play chess", "containerTag": "user_bea"}
    bea = await add(client, bearer, fake, [fact("User plays chess")], body)
    r = await call(client, "DELETE", "/v3/documents/bulk", bearer, {"containerTags": ["user_alex"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "deletedCount": 1, "containerTags": ["user_alex"]}
    assert await profile(client, bearer) == []
    assert await search(client, bearer, "software engineer") == []
    assert (await client.get(f"/v3/documents/{bea}", headers=bearer)).status_code == 200
    assert await profile(client, bearer, "user_bea") == ["User plays chess"]


async def test_a_bad_bulk_body_deletes_nothing(client, bearer, alex):
    r = await call(client, "DELETE", "/v3/documents/bulk", bearer, {"ids": [alex, ""]})
    assert r.status_code == 400 and r.json()["details"] == "ids.1"
    assert (await client.get(f"/v3/documents/{alex}", headers=bearer)).status_code == 200


# ---- search ------------------------------------------------------------------------------------------------------


async def test_search_finds_a_clearly_relevant_memory_above_0_4(client, bearer, alex):
    r = await call(client, "POST", "/v4/search", bearer, request("search.memories"))
    assert r.status_code == 200, r.text
    shape = SHAPES["search.memories"]
    conforms(r.json(), shape["response"], shape["required"])
    results = r.json()["results"]
    assert results and r.json()["total"] == len(results)
    for item in results:
        conforms(item, shape["item"], shape["item_required"])
    assert results[0]["memory"] == "User is a software engineer"
    assert results[0]["similarity"] > 0.4
    assert results[0]["metadata"] == request("documents.add")["metadata"]
    assert all("chunk" not in h for h in results)  # searchMode memories: facts only


async def test_search_mode_documents_answers_chunks_of_stored_messages(client, bearer, alex):
    found = await search(client, bearer, "dark mode interfaces", "documents")
    assert [h["chunk"] for h in found] == [request("documents.add")["content"]]
    assert "memory" not in found[0]


async def test_a_strict_threshold_leaves_out_weaker_results(client, bearer, alex):
    body = {**request("search.memories"), "threshold": 0.99}
    r = await call(client, "POST", "/v4/search", bearer, body)
    assert r.status_code == 200 and r.json()["results"] == []


# ---- memories ----------------------------------------------------------------------------------------------------


async def test_forget_by_id_takes_the_memory_out_of_search_and_profile(client, bearer, alex):
    target = await memory_id(client, bearer, "User prefers dark mode interfaces")
    r = await call(client, "DELETE", "/v4/memories", bearer, request("memories.forget", memory_id=target))
    assert r.status_code == 200, r.text
    conforms(r.json(), SHAPES["memories.forget"]["response"], SHAPES["memories.forget"]["required"])
    assert r.json() == {"id": target, "forgotten": True}
    assert await profile(client, bearer) == ["User is a software engineer"]
    assert all(
        h.get("memory") != "User prefers dark mode interfaces" for h in await search(client, bearer, "dark mode")
    )
    again = await call(client, "DELETE", "/v4/memories", bearer, request("memories.forget", memory_id=target))
    assert again.status_code == 404 and again.json()["details"] == "id"


async def test_forget_by_content(client, bearer, alex):
    body = {"containerTag": "user_alex", "content": "User is a software engineer"}
    r = await call(client, "DELETE", "/v4/memories", bearer, body)
    assert r.status_code == 200, r.text
    assert await profile(client, bearer) == ["User prefers dark mode interfaces"]
    r = await call(client, "DELETE", "/v4/memories", bearer, body)
    assert r.status_code == 404 and r.json()["details"] == "content"


async def test_update_supersedes_the_memory_with_a_new_version(client, bearer, alex):
    old = await memory_id(client, bearer, "User is a software engineer")
    r = await call(client, "PATCH", "/v4/memories", bearer, request("memories.update_memory", memory_id=old))
    assert r.status_code == 200, r.text
    shape = SHAPES["memories.update_memory"]
    conforms(r.json(), shape["response"], shape["required"])
    new = r.json()
    assert new["id"] != old and new["memory"] == "User is a staff software engineer"
    assert (new["parentMemoryId"], new["rootMemoryId"], new["version"]) == (old, old, 2)
    assert sorted(await profile(client, bearer)) == [
        "User is a staff software engineer",
        "User prefers dark mode interfaces",
    ]
    hit = next(h for h in await search(client, bearer, "staff engineer", "memories") if h["id"] == new["id"])
    assert hit["metadata"] == {
        "channel": "settings",
        "temporalContext": {"documentDate": "2026-09-01", "eventDate": ["2026-08-30"]},
    }
    body = {"containerTag": "user_alex", "content": "User is a staff software engineer", "newContent": "User is a CTO"}
    third = await call(client, "PATCH", "/v4/memories", bearer, body)
    assert third.status_code == 200, third.text
    assert (third.json()["parentMemoryId"], third.json()["rootMemoryId"], third.json()["version"]) == (
        new["id"],
        old,
        3,
    )
    hit = next(h for h in await search(client, bearer, "CTO", "memories") if h["memory"] == "User is a CTO")
    assert hit["metadata"]["channel"] == "settings"  # omitted metadata is inherited, temporal context with it
    stale = await call(client, "PATCH", "/v4/memories", bearer, {**body, "content": None, "id": old})
    assert stale.status_code == 404 and stale.json()["details"] == "id"


async def test_updating_to_what_another_memory_says_is_400_not_a_retried_409(client, bearer, alex):
    old = await memory_id(client, bearer, "User is a software engineer")
    body = {"containerTag": "user_alex", "id": old, "newContent": "User prefers dark mode interfaces"}
    r = await call(client, "PATCH", "/v4/memories", bearer, body)
    assert r.status_code == 400 and r.json()["details"] == "newContent"
    assert sorted(await profile(client, bearer)) == sorted(f.content for f in ABOUT_ALEX)


# ---- tenancy, keys and bad input ---------------------------------------------------------------------------------


async def test_another_tenants_ids_are_404_and_change_nothing(client, bearer, other, alex):
    target = await memory_id(client, bearer, "User is a software engineer")
    assert (await client.get(f"/v3/documents/{alex}", headers=other)).status_code == 404
    assert (await client.delete(f"/v3/documents/{alex}", headers=other)).status_code == 404
    bulk = await call(client, "DELETE", "/v3/documents/bulk", other, {"ids": [alex]})
    assert bulk.json()["deletedCount"] == 0 and bulk.json()["errors"][0]["id"] == alex
    forget = await call(client, "DELETE", "/v4/memories", other, request("memories.forget", memory_id=target))
    assert forget.status_code == 404 and forget.json()["details"] == "id"
    update = await call(client, "PATCH", "/v4/memories", other, request("memories.update_memory", memory_id=target))
    assert update.status_code == 404
    found = await call(client, "POST", "/v4/search", other, request("search.memories"))
    assert found.status_code == 200 and found.json()["results"] == []
    assert (await done(client, alex, bearer))["status"] == "done"
    assert sorted(await profile(client, bearer)) == sorted(f.content for f in ABOUT_ALEX)


async def test_a_memory_of_another_container_is_404(client, bearer, alex):
    target = await memory_id(client, bearer, "User is a software engineer")
    r = await call(client, "DELETE", "/v4/memories", bearer, {"containerTag": "user_bea", "id": target})
    assert r.status_code == 404 and r.json()["details"] == "id"


async def test_missing_or_wrong_key_is_401(client, bearer):
    assert (await call(client, "POST", "/v3/documents", {}, request("documents.add"))).status_code == 401
    wrong = {"Authorization": "Bearer sk-not-a-key"}
    r = await call(client, "POST", "/v4/search", wrong, request("search.memories"))
    assert r.status_code == 401 and isinstance(r.json()["error"], str)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v3/documents", {"containerTag": "u"}, "content"),
        ("POST", "/v3/documents", {"content": "  ", "containerTag": "u"}, "content"),
        ("POST", "/v3/documents", {"content": "x"}, "containerTag"),
        ("POST", "/v3/documents", {"content": "x", "containerTag": "a/b"}, "containerTag"),
        ("POST", "/v3/documents", {"content": "x", "containerTags": ["u", "v"]}, "containerTags"),
        ("POST", "/v3/documents", {"content": "x", "containerTag": "u", "customId": ""}, "customId"),
        ("POST", "/v3/documents", {"content": "x", "containerTag": "u", "metadata": "m"}, "metadata"),
        ("POST", "/v3/documents", {"content": "x", "containerTag": "u", "entityContext": "e" * 1501}, "entityContext"),
        ("POST", "/v3/documents", {"content": "x", "containerTag": "u", "raw": "x"}, "raw"),
        ("POST", "/v3/documents/list", {}, "containerTags"),
        ("POST", "/v3/documents/list", {"containerTags": ["u"], "limit": "ten"}, "limit"),
        ("POST", "/v3/documents/list", {"containerTags": ["u"], "filters": {"AND": []}}, "filters"),
        ("DELETE", "/v3/documents/bulk", {}, "ids"),
        ("DELETE", "/v3/documents/bulk", {"ids": ["x"] * 101}, "ids"),
        ("DELETE", "/v3/documents/bulk", {"containerTags": [""]}, "containerTags"),
        ("POST", "/v4/search", {"containerTag": "u"}, "q"),
        ("POST", "/v4/search", {"q": "x"}, "containerTag"),
        ("POST", "/v4/search", {"q": "x", "containerTag": "u", "threshold": 1.5}, "threshold"),
        ("POST", "/v4/search", {"q": "x", "containerTag": "u", "threshold": "high"}, "threshold"),
        ("POST", "/v4/search", {"q": "x", "containerTag": "u", "limit": 0}, "limit"),
        ("POST", "/v4/search", {"q": "x", "containerTag": "u", "limit": 1000}, "limit"),
        ("POST", "/v4/search", {"q": "x", "containerTag": "u", "searchMode": "all"}, "searchMode"),
        (
            "POST",
            "/v4/search",
            {"q": "x", "containerTag": "u", "filters": {"OR": [{"key": "a", "value": "b"}]}},
            "filters",
        ),
        ("POST", "/v4/search", {"q": "x", "containerTag": "u", "include": {"forgottenMemories": True}}, "include"),
        ("POST", "/v4/search", {"q": "x", "containerTag": "u", "include": {"everything": True}}, "include"),
        ("DELETE", "/v4/memories", {"id": "m"}, "containerTag"),
        ("DELETE", "/v4/memories", {"containerTag": "u"}, "id"),
        ("DELETE", "/v4/memories", {"containerTag": "u", "id": "m", "content": "c"}, "id"),
        ("PATCH", "/v4/memories", {"containerTag": "u", "id": "m"}, "newContent"),
        (
            "PATCH",
            "/v4/memories",
            {"containerTag": "u", "id": "m", "newContent": "n", "forgetAfter": "soon"},
            "forgetAfter",
        ),
        (
            "PATCH",
            "/v4/memories",
            {"containerTag": "u", "id": "m", "newContent": "n", "forgetAfter": "2030-01-01T00:00:00Z"},
            "forgetAfter",
        ),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(client, bearer, method, path, body, field):
    r = await call(client, method, path, bearer, body)
    assert r.status_code == 400, r.text
    assert r.json()["details"].split(".")[0] == field  # or an item of it: `ids.0`
    assert field in r.json()["error"]


async def test_a_body_that_is_not_json_is_400(client, bearer):
    headers = {**bearer, "Content-Type": "application/json"}
    r = await client.post("/v3/documents", content=b"{", headers=headers)
    assert r.status_code == 400 and isinstance(r.json()["error"], str)
