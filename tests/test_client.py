"""The chat-app client (memory_server/client.py) against the real app: in process (ASGI) and over a socket (sync)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from memory_server.client import AsyncMemoryClient, MemoryClient, MemoryServerError
from tests.servers import running_server, server_settings

SENT = datetime.now(UTC)  # "this week" is dated from the message's own time
TURN = [
    {
        "role": "user",
        "content": "I'm a nurse and I live in Berlin. I am learning Rust this week.",
        "name": "ana",
        "created_at": SENT,
    },
    {"role": "assistant", "content": "Nice! How is Rust going?", "refusal": None},
]
RUST = f"User is learning Rust the week of {SENT.date() - timedelta(days=SENT.weekday())}"


@pytest.fixture
async def memory(app) -> AsyncIterator[AsyncMemoryClient]:
    async with AsyncMemoryClient("http://localhost", transport=httpx.ASGITransport(app=app)) as client:
        yield client


async def test_publish_turn_stores_chat_messages_as_they_are(memory):
    job = await memory.publish_turn("ana", TURN, session_id="s1", wait=True)
    assert job.status == "done"
    assert sorted(f.content for f in job.changes.added) == [
        "User is a nurse",
        RUST,
        "User lives in Berlin",
    ]
    again = await memory.publish_turn("ana", TURN, session_id="s1", wait=True)
    assert again.request_id == job.request_id


async def test_context_for_turn_is_a_block_of_what_is_known_most_relevant_first(memory):
    assert await memory.context_for_turn("ana", "hello") == ""
    await memory.publish_turn("ana", TURN, wait=True)

    block = await memory.context_for_turn("ana", "Any tips for my Rust practice?")
    lines = block.splitlines()
    assert (lines[0], lines[-1]) == ("<user_memory>", "</user_memory>")
    assert lines.index("Lasting facts:") < lines.index("- User is a nurse")
    rust = next(line for line in lines if "Rust" in line)
    assert rust.startswith(f"- {RUST} (until 20")
    assert lines.index("Recent or temporary (may change):") < lines.index(rust)

    small = await memory.context_for_turn("ana", "Any tips for my Rust practice?", max_tokens=16)
    assert [line for line in small.splitlines() if line.startswith("- ")] == [rust]


async def test_server_errors_are_typed_with_code_message_and_field(memory):
    with pytest.raises(MemoryServerError) as bad_role:
        await memory.publish_turn("ana", [{"role": "robot", "content": "hi"}])
    role = bad_role.value
    assert (role.status, role.code, role.field) == (422, "invalid_input", "messages.0.role")
    assert role.message.startswith("messages.0.role: ")
    with pytest.raises(MemoryServerError) as bad_budget:
        await memory.context_for_turn("ana", "hi", max_tokens=0)
    assert bad_budget.value.field == "max_tokens"
    assert (await memory.profile("ana")).profile.static == []


async def test_an_answer_that_is_not_the_error_shape_is_still_a_typed_error():
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="Bad Gateway from the proxy"))
    async with AsyncMemoryClient("http://localhost", transport=transport) as memory:
        with pytest.raises(MemoryServerError) as failed:
            await memory.search("ana", "bees")
    assert (failed.value.status, failed.value.code) == (502, "http_error")
    assert "Bad Gateway from the proxy" in failed.value.message


def test_the_blocking_client_does_the_same_over_a_socket(tmp_path):
    with (
        server_settings(tmp_path / "data") as settings,
        running_server(settings) as url,
        MemoryClient(url) as memory,
    ):
        job = memory.publish_turn("ana", TURN[:1], wait=True)
        assert job.status == "done" and len(job.changes.added) == 3
        assert "- User lives in Berlin" in memory.context_for_turn("ana", "Where do I live?").splitlines()
        assert memory.add_fact("ana", "User keeps bees").content == "User keeps bees"
        assert [r.content for r in memory.search("ana", "bees", top_k=1).results] == ["User keeps bees"]
        with pytest.raises(MemoryServerError) as bad:
            memory.search("ana", "")
        assert (bad.value.code, bad.value.field) == ("invalid_input", "query")


async def test_context_for_turn_includes_what_was_said_with_its_date(memory):
    said = datetime(2026, 2, 14, 20, 0, tzinfo=UTC)
    chat = [
        {"role": "user", "content": "ugh, the support group ran late again, got home at eleven", "created_at": said}
    ]
    await memory.publish_turn("bea", chat, wait=True)
    block = await memory.context_for_turn("bea", "when was the support group?")
    lines = block.splitlines()
    heading = lines.index("From earlier conversations (date, speaker):")
    assert lines[heading + 1] == f"- [2026-02-14] user: {chat[0]['content']}"
