"""The current Supermemory SDK (5.x, `pip install supermemory`) against our server, through its public methods:
add, wait until processed, get, profile, search, list, forget, delete documents and namespaces, batch add.

The SDK takes an httpx client, so it talks to the app in process (ASGI); it sends no telemetry.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from supermemory import AsyncSupermemory
from supermemory.errors import BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError

from memory_server import keys
from tests.conftest import use_extractor
from tests.fakes import fact

INTRO = "I'm Alex, an engineer; dark mode please"
ABOUT_ALEX = [
    fact("User is a software engineer"),
    fact("User prefers dark mode interfaces"),
    fact("User is debugging authentication issues", kind="dynamic"),
]


@pytest.fixture
async def keyed(app, client, fake, settings) -> dict[str, str]:
    """Keys of each role in our tenant, and an admin key of another tenant (made once the config is set)."""
    await use_extractor(client, "fake")
    db = app.state.service.core.db
    made = {role: (await keys.create(db, settings.tenant, role)).key for role in ("viewer", "editor", "admin")}
    made["other"] = (await keys.create(db, "other", "admin")).key
    return made


def sdk(app, key: str) -> AsyncSupermemory:
    transport = httpx.ASGITransport(app=app)
    http = httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=30)
    return AsyncSupermemory(base_url="http://localhost", api_key=key, httpx_client=http, max_retries=0)


async def processed(sm: AsyncSupermemory, namespace: str, doc_id: str, tries: int = 300):
    """Poll the document, as the SDK's users do, until its status is final."""
    for _ in range(tries):
        doc = await sm.documents.get(namespace, doc_id)
        if doc.system.status in ("done", "failed"):
            return doc
        await asyncio.sleep(0.02)
    raise AssertionError(f"document {doc_id} still {doc.system.status}")


@pytest.fixture
async def alex(app, fake, keyed) -> AsyncSupermemory:
    """user_alex with one processed document (caller id `intro`) that produced three facts."""
    sm = sdk(app, keyed["admin"])
    fake.queue(ABOUT_ALEX)
    ref = await sm.add("user_alex", content=INTRO, id="intro", metadata={"app": "x"})
    assert ref.id == "intro"
    assert ref.status in ("queued", "extracting", "done")
    assert (await processed(sm, "user_alex", "intro")).system.status == "done"
    return sm


async def test_add_then_get_shows_content_status_metadata_chunks_and_memories(alex):
    doc = await alex.documents.get("user_alex", "intro", include=["chunks", "memories"])
    assert doc.id == "intro"
    assert doc.content == "I'm Alex, an engineer; dark mode please"
    assert doc.metadata == {"app": "x"}
    assert doc.system.status == "done" and doc.system.dreaming_status == "done"
    assert [c.content for c in doc.chunks] == [doc.content]
    assert doc.chunks[0].position == 0
    assert sorted(m.memory for m in doc.memories) == sorted(f.content for f in ABOUT_ALEX)
    assert {m.memory: m.is_static for m in doc.memories}["User is debugging authentication issues"] is False
    assert all(m.metadata == {"app": "x"} and m.is_latest and not m.is_forgotten for m in doc.memories)


async def test_profile_answers_id_and_memory_items(alex):
    profile = (await alex.profile("user_alex")).profile
    static = sorted(p.memory for p in profile.static)
    assert static == ["User is a software engineer", "User prefers dark mode interfaces"]
    assert [p.memory for p in profile.dynamic] == ["User is debugging authentication issues"]
    assert all(p.id for p in profile.static + profile.dynamic)
    assert profile.buckets == {}


async def test_search_finds_a_relevant_memory_above_the_documented_thresholds(alex):
    found = await alex.search("user_alex", query="what does the user do for work", search_mode="memories")
    assert found.results[0].memory == "User is a software engineer"
    assert found.results[0].similarity >= 0.5
    assert found.search_time >= 0
    strict = await alex.search("user_alex", query="what does the user do for work", threshold=0.99)
    assert strict.results == []
    chunks = await alex.search("user_alex", query="dark mode", search_mode="chunks")
    assert chunks.results and chunks.results[0].chunk == "I'm Alex, an engineer; dark mode please"
    assert chunks.results[0].memory is None


async def test_list_documents_chunks_and_memories_with_pagination(alex, fake):
    fake.queue([fact("User likes tea")])
    second = await alex.add("user_alex", content="I like tea")
    await processed(alex, "user_alex", second.id)
    docs = await alex.list("user_alex", "documents", page=1, limit=1, include={"content": True, "memoryCount": True})
    assert [d.id for d in docs.documents] == [second.id]  # newest first
    assert docs.documents[0].content == "I like tea" and docs.documents[0].system.memory_count == 1
    assert (docs.pagination.total_items, docs.pagination.total_pages, docs.pagination.current_page) == (2, 2, 1)
    assert docs.chunks == [] and docs.memories == []
    older = await alex.list("user_alex", "documents", page=2, limit=1)
    assert [d.id for d in older.documents] == ["intro"] and older.documents[0].content is None
    chunks = await alex.list("user_alex", "chunks", sort="createdAt", order="asc")
    assert [(c.document_id, c.content) for c in chunks.chunks] == [
        ("intro", "I'm Alex, an engineer; dark mode please"),
        (second.id, "I like tea"),
    ]
    memories = await alex.list("user_alex", "memories", limit=100)
    assert sorted(m.memory for m in memories.memories) == sorted([f.content for f in ABOUT_ALEX] + ["User likes tea"])


async def test_adding_under_the_same_id_extends_that_document(alex, fake):
    fake.queue([fact("User moved to Lisbon")])
    ref = await alex.add("user_alex", content="I moved to Lisbon", id="intro")
    assert ref.id == "intro"
    doc = await processed(alex, "user_alex", "intro")
    assert doc.content == "I'm Alex, an engineer; dark mode please\n\nI moved to Lisbon"
    listed = await alex.list("user_alex", "documents")
    assert [d.id for d in listed.documents] == ["intro"]


async def test_the_same_content_again_is_the_same_document_not_a_conflict(alex):
    ref = await alex.add("user_alex", content=INTRO, id="intro", metadata={"app": "x"})
    assert (ref.id, ref.status) == ("intro", "done")


async def test_forget_matching_dry_run_previews_then_forgets_the_same_memories(alex, client, keyed):
    preview = await alex.memories.forget_matching("user_alex", query="User is a software engineer", dry_run=True)
    assert [m.memory for m in preview.matches] == ["User is a software engineer"] and preview.count == 1
    assert len((await alex.profile("user_alex")).profile.static) == 2  # nothing forgotten by the preview
    done = await alex.memories.forget_matching("user_alex", query="User is a software engineer", dry_run=False)
    assert [m.id for m in done.matches] == [m.id for m in preview.matches]
    assert [p.memory for p in (await alex.profile("user_alex")).profile.static] == ["User prefers dark mode interfaces"]


async def test_forget_by_id_reports_unknown_ids(alex):
    [dark] = [p for p in (await alex.profile("user_alex")).profile.static if "dark" in p.memory]
    result = await alex.memories.forget("user_alex", ids=[dark.id, "no-such-memory"])
    assert result.count == 1 and [m.id for m in result.matches] == [dark.id]
    assert [(e.id, e.error) for e in result.errors] == [("no-such-memory", "memory not found")]
    forgotten = await alex.list("user_alex", "memories", include={"forgotten": True}, limit=100)
    assert {m.memory: m.is_forgotten for m in forgotten.memories}["User prefers dark mode interfaces"] is True


async def test_deleting_a_document_removes_its_facts_and_messages_with_change_log_rows(alex, client, keyed):
    auth = {"Authorization": f"Bearer {keyed['admin']}"}
    doc = await alex.documents.get("user_alex", "intro", include=["chunks", "memories"])
    result = await alex.documents.delete("user_alex", ids=["intro", "never-added"])
    assert result.count == 1
    assert [(e.id, e.error) for e in result.errors] == [("never-added", "document not found")]
    with pytest.raises(NotFoundError):
        await alex.documents.get("user_alex", "intro")
    profile = (await alex.profile("user_alex")).profile
    assert profile.static == [] and profile.dynamic == []
    assert (await alex.search("user_alex", query="dark mode")).results == []
    for memory in doc.memories:
        r = await client.get(f"/v1/facts/{memory.id}", headers=auth)
        assert r.json()["status"] == "deleted"
    episodes = await client.get("/v1/users/user_alex/episodes", headers=auth)
    assert episodes.json()["items"] == []
    changes = (await client.get("/v1/changelog", params={"user_id": "user_alex"}, headers=auth)).json()["items"]
    events = sorted((c["event"], c["fact_id"] or str(c["message_id"])) for c in changes if c["event"] != "add")
    expected = [("delete", m.id) for m in doc.memories] + [("episode_delete", c.id) for c in doc.chunks]
    assert events == sorted(expected)


async def test_batch_add_publishes_each_document(alex, fake):
    fake.queue([fact("User plays chess")], [fact("User runs marathons")])
    result = await alex.documents.batch_add(
        "user_alex", documents=[{"content": "I play chess", "id": "chess"}, {"content": "I run marathons"}]
    )
    assert (result.count, result.failed) == (2, 0)
    assert result.results[0].id == "chess" and result.results[1].id
    for item in result.results:
        await processed(alex, "user_alex", item.id)
    memories = await alex.list("user_alex", "memories", limit=100)
    assert {"User plays chess", "User runs marathons"} <= {m.memory for m in memories.memories}


async def test_deleting_a_namespace_removes_everything_in_it(alex):
    deleted = await alex.namespaces.delete("user_alex")
    assert deleted.status == "deleted" and deleted.namespace == "user_alex"
    assert (deleted.deleted_documents_count, deleted.deleted_memories_count) == (1, 3)
    assert (await alex.list("user_alex", "documents")).documents == []
    with pytest.raises(NotFoundError):
        await alex.namespaces.delete("user_alex")


def _details(error: BadRequestError) -> str:
    """The SDK leaves a 400 body (a union of two shapes) as the dict it parsed."""
    body = error.body if isinstance(error.body, dict) else error.body.dict()
    assert isinstance(body["error"], str) and body["error"]
    return body["details"]


async def test_bad_input_is_a_bad_request_naming_the_field(alex):
    with pytest.raises(BadRequestError) as raised:
        await alex.add("user_alex", content="   ")
    assert _details(raised.value) == "content"
    with pytest.raises(BadRequestError) as raised:
        await alex.search("user_alex", query="x", threshold=2.0)
    assert _details(raised.value) == "threshold"
    with pytest.raises(BadRequestError) as raised:
        await alex.search("user_alex", query="x", filter={"key": "app", "value": "x"})
    assert _details(raised.value) == "filter"
    with pytest.raises(BadRequestError) as raised:
        await alex.add("user_alex", content="x", group={"team": "a"})
    assert _details(raised.value) == "group"
    with pytest.raises(BadRequestError) as raised:
        await alex.namespaces.delete("user_alex", move_to="elsewhere")
    assert _details(raised.value) == "moveTo"


async def test_keys_roles_and_tenants(app, alex, keyed):
    with pytest.raises(UnauthorizedError):
        await sdk(app, "sk-wrong").profile("user_alex")
    viewer = sdk(app, keyed["viewer"])
    assert len((await viewer.profile("user_alex")).profile.static) == 2
    with pytest.raises(ForbiddenError):
        await viewer.add("user_alex", content="I am a viewer")
    with pytest.raises(ForbiddenError):
        await sdk(app, keyed["editor"]).namespaces.delete("user_alex")
    other = sdk(app, keyed["other"])
    with pytest.raises(NotFoundError):
        await other.documents.get("user_alex", "intro")
    assert (await other.profile("user_alex")).profile.static == []
    assert (await other.documents.delete("user_alex", ids=["intro"])).count == 0
    assert (await alex.documents.get("user_alex", "intro")).system.status == "done"


async def test_deleting_a_document_while_it_is_processed_leaves_no_fact_behind(app, alex, fake, client, keyed):
    """Deleted right after it was added (queued, or being extracted): whatever it produced goes too."""
    for i in range(5):
        fake.queue([fact(f"User owns {i} cats")])
        ref = await alex.add("user_alex", content=f"I own {i} cats")
        assert (await alex.documents.delete("user_alex", ids=[ref.id])).count == 1
    await asyncio.sleep(0.3)  # let any claimed job finish
    auth = {"Authorization": f"Bearer {keyed['admin']}"}
    live = (await client.get("/v1/users/user_alex/facts", headers=auth)).json()["items"]
    assert sorted(f["content"] for f in live) == sorted(f.content for f in ABOUT_ALEX)
    assert [d.id for d in (await alex.list("user_alex", "documents")).documents] == ["intro"]
