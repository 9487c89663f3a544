"""mem0's own platform client (`mem0ai`'s MemoryClient) against a real server: key check, add (queued and
waited), search, list, get, update (a supersede), history from the change log, delete, delete_all; errors in
mem0's shape; other tenants' ids not found; nothing leaves the machine."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest

# mem0 reads these when it is imported: no telemetry (PostHog), and its config file in a scratch directory.
os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="mem0-"))

from mem0 import MemoryClient
from mem0.exceptions import MemoryNotFoundError, ValidationError
from mem0.memory import telemetry

from memory_server.access import Access
from memory_server.context import Scope
from tests.servers import running_server, server_settings

NURSE = "I'm a nurse and I live in Berlin."


@pytest.fixture(autouse=True)
def no_network(monkeypatch) -> None:
    """Any connection but to this machine fails the test."""
    connect = socket.socket.connect

    def local_only(sock: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"the mem0 client tried to reach {address}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A server with an editor key in tenant `acme` and one in tenant `other`."""
    data = tmp_path_factory.mktemp("mem0") / "data"
    with server_settings(data) as settings:

        async def make_keys() -> dict[str, str]:
            async with Access.opened(settings) as access:
                acme = await access.create_key(Scope("acme", "test"), "editor")
                other = await access.create_key(Scope("other", "test"), "editor")
                viewer = await access.create_key(Scope("acme", "test"), "viewer")
                return {"key": acme.key, "other": other.key, "viewer": viewer.key}

        keys = asyncio.run(make_keys())
        with running_server(settings) as url:
            yield {"url": url, **keys}


@pytest.fixture
def mem0(server) -> MemoryClient:
    return MemoryClient(api_key=server["key"], host=server["url"])


def _until(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _texts(page: dict) -> set[str]:
    return {m["memory"] for m in page["results"]}


def test_the_client_checks_its_key_with_ping_and_sends_nothing_elsewhere(server):
    assert telemetry.client_telemetry.posthog is None
    client = MemoryClient(api_key=server["key"], host=server["url"])
    assert client.host == server["url"]
    with pytest.raises(ValueError, match="the API key is not valid"):
        MemoryClient(api_key="not-a-key", host=server["url"])


def test_add_is_queued_then_listed_searched_and_read(mem0):
    added = mem0.add([{"role": "user", "content": NURSE}], user_id="ana", metadata={"via": "mem0"})
    [queued] = added["results"]
    assert queued["status"] == "PENDING" and queued["event_id"]

    page = _until(lambda: (p := mem0.get_all(filters={"user_id": "ana"}))["count"] == 2 and p)
    assert _texts(page) == {"User is a nurse", "User lives in Berlin"}
    assert (page["next"], page["previous"]) == (None, None)
    berlin = next(m for m in page["results"] if m["memory"] == "User lives in Berlin")
    assert berlin["user_id"] == "ana" and berlin["metadata"] == {"via": "mem0"}

    for threshold in (0.4, 0.5, 0.6, 0.7):  # the thresholds mem0's docs use: a clear match clears them all
        found = mem0.search("Where does the user live?", filters={"user_id": "ana"}, threshold=threshold)
        assert [m["memory"] for m in found["results"]][:1] == ["User lives in Berlin"], threshold
        assert found["results"][0]["score"] >= threshold and found["results"][0]["id"] == berlin["id"]
    assert mem0.search("Where does the user live?", filters={"user_id": "bob"})["results"] == []

    got = mem0.get(berlin["id"])
    assert (got["id"], got["memory"], got["user_id"]) == (berlin["id"], "User lives in Berlin", "ana")


def test_pages_of_get_all_follow_mem0s_count_next_previous(mem0):
    facts = ["I'm a nurse.", "I live in Oslo.", "I have 2 cats."]
    for text in facts:
        mem0.add(text, user_id="pia", async_mode=False)
    first = mem0.get_all(filters={"AND": [{"user_id": "pia"}]}, page=1, page_size=2)
    second = mem0.get_all(filters={"user_id": "pia"}, page=2, page_size=2)
    assert (first["count"], len(first["results"]), len(second["results"])) == (3, 2, 1)
    assert "page=2" in first["next"] and first["previous"] is None and second["next"] is None
    assert len(_texts(first) | _texts(second)) == 3


def test_a_waited_add_answers_what_it_changed_and_history_follows_the_versions(mem0):
    first = mem0.add(NURSE, user_id="cai", async_mode=False)["results"]
    assert {(r["event"], r["memory"]) for r in first} == {("ADD", "User is a nurse"), ("ADD", "User lives in Berlin")}
    berlin = next(r["id"] for r in first if r["memory"] == "User lives in Berlin")

    [moved] = mem0.add("I live in Paris.", user_id="cai", async_mode=False)["results"]
    assert (moved["event"], moved["memory"], moved["previous_memory"]) == (
        "UPDATE",
        "User lives in Paris",
        "User lives in Berlin",
    )
    events = [(h["event"], h["old_memory"], h["new_memory"]) for h in mem0.history(berlin)]
    assert events == [("ADD", None, "User lives in Berlin"), ("UPDATE", "User lives in Berlin", "User lives in Paris")]
    assert mem0.history(moved["id"]) == mem0.history(berlin)


def test_update_supersedes_the_memory_and_delete_ends_its_history(mem0):
    [added] = mem0.add("I have a dog named Rex.", user_id="dan", async_mode=False)["results"]
    updated = mem0.update(added["id"], text="User has a dog named Max", metadata={"checked": True})
    assert updated["memory"] == "User has a dog named Max" and updated["id"] != added["id"]
    assert updated["metadata"] == {"checked": True}
    assert mem0.get(updated["id"])["memory"] == "User has a dog named Max"
    assert _texts(mem0.get_all(filters={"user_id": "dan"})) == {"User has a dog named Max"}
    hit = mem0.search("What is the dog called?", filters={"user_id": "dan"}, threshold=0.4)["results"][0]
    assert hit["id"] == updated["id"]

    assert mem0.delete(updated["id"]) == {"message": "Memory deleted successfully!"}
    events = [(h["event"], h["memory_id"]) for h in mem0.history(added["id"])]
    assert events == [("ADD", added["id"]), ("UPDATE", updated["id"]), ("DELETE", updated["id"])]
    with pytest.raises(MemoryNotFoundError):
        mem0.get(updated["id"])
    with pytest.raises(MemoryNotFoundError):
        mem0.delete(updated["id"])
    assert mem0.get_all(filters={"user_id": "dan"})["count"] == 0


def test_delete_all_removes_the_users_memories_and_keeps_their_messages(server, mem0):
    mem0.add(NURSE, user_id="eve", async_mode=False)
    mem0.add("I'm a pilot.", user_id="fay", async_mode=False)
    assert mem0.delete_all(user_id="eve") == {"message": "Memories deleted successfully!"}
    assert mem0.get_all(filters={"user_id": "eve"})["count"] == 0
    assert mem0.search("nurse", filters={"user_id": "eve"})["results"] == []
    assert _texts(mem0.get_all(filters={"user_id": "fay"})) == {"User is a pilot"}
    assert mem0.delete_all(user_id="eve") == {"message": "Memories deleted successfully!"}  # nothing left: fine

    headers = {"Authorization": f"Token {server['key']}"}
    episodes = httpx.get(f"{server['url']}/v1/users/eve/episodes", headers=headers).json()["items"]
    assert [e["content"] for e in episodes] == [NURSE]


def test_bad_input_and_roles_are_mem0_errors_naming_the_field(server, mem0):
    with pytest.raises(ValidationError) as agent:
        mem0.search("hello", filters={"agent_id": "bot"})
    assert agent.value.message.startswith("filters.agent_id: ")
    with pytest.raises(ValidationError) as nobody:
        mem0.add("I'm a nurse.")
    assert nobody.value.message.startswith("filters.user_id: field required")
    with pytest.raises(ValidationError) as role:
        mem0.add([{"role": "robot", "content": "hi"}], user_id="ana")
    assert role.value.message.startswith("messages.0.role: ")
    with pytest.raises(ValidationError) as whole:
        mem0.delete_all()
    assert whole.value.message.startswith("user_id: field required")
    with pytest.raises(ValidationError) as in_filters:  # the client puts a Python repr in the query string
        mem0.delete_all(filters={"user_id": "ana"})
    assert in_filters.value.message.startswith("filters: ")

    viewer = MemoryClient(api_key=server["viewer"], host=server["url"])
    with pytest.raises(Exception) as forbidden:
        viewer.add("I'm a nurse.", user_id="ana")
    assert "editor role" in str(forbidden.value)


def test_another_tenants_memory_is_not_found(server, mem0):
    [mine] = mem0.add("I'm a baker.", user_id="gus", async_mode=False)["results"]
    other = MemoryClient(api_key=server["other"], host=server["url"])
    for call in (other.get, other.history, other.delete):
        with pytest.raises(MemoryNotFoundError):
            call(mine["id"])
    with pytest.raises(MemoryNotFoundError):
        other.update(mine["id"], text="User is a butcher")
    assert other.get_all(filters={"user_id": "gus"})["count"] == 0
    assert mem0.get(mine["id"])["memory"] == "User is a baker"


def test_updating_an_old_version_or_to_another_memorys_text_is_refused(mem0):
    [nurse, berlin] = sorted(mem0.add(NURSE, user_id="hal", async_mode=False)["results"], key=lambda r: r["memory"])
    with pytest.raises(ValidationError) as same:
        mem0.update(berlin["id"], text="User is a nurse")
    assert same.value.message.startswith(f"text: fact {nurse['id']} of this user already says this")
    assert mem0.update(berlin["id"], text="User lives in Berlin")["id"] == berlin["id"]  # nothing to change

    newer = mem0.update(berlin["id"], text="User lives in Bonn")
    with pytest.raises(ValidationError) as old:
        mem0.update(berlin["id"], text="User lives in Rome")
    assert old.value.message.startswith(f"fact_id: fact {berlin['id']} is superseded by {newer['id']}")
    assert _texts(mem0.get_all(filters={"user_id": "hal"})) == {"User is a nurse", "User lives in Bonn"}
