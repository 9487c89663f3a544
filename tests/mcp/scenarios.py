"""What every MCP transport must do, written once: each runs these against its own client.

`who` is the user argument the tools get: `{"user_id": "ana"}` on a multi-user server, `{}` on a
connection that serves one user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp import Client
from mcp_types import CallToolResult, TextResourceContents


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error(result: CallToolResult) -> dict[str, Any]:
    """The error body of a failed call; its text is the message, its structured content the HTTP error shape."""
    assert result.is_error, result.structured_content
    body = result.structured_content["error"]
    assert result.content[0].text == body["message"]
    return body


def say(*texts: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": t} for t in texts]


async def call(client: Client, tool: str, who: dict[str, str], **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, {**who, **arguments})


@dataclass(frozen=True)
class Bad:
    """Bad arguments for a tool and the field the error must name; `http`: the HTTP API has the same request."""

    tool: str
    arguments: dict[str, Any]
    field: str
    code: str = "invalid_input"
    http: bool = True


HI = say("hi")[0]
BAD = [
    Bad("remember", {"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
    Bad("remember", {"messages": say(" \n ")}, "messages.0.content"),
    Bad("remember", {"messages": []}, "messages"),
    Bad("remember", {"messages": [{**HI, "mood": "x"}]}, "messages.0.mood"),
    Bad("remember", {"messages": say("a" * 20_001)}, "messages.0.content", "payload_too_large"),
    Bad("remember", {}, "messages", http=False),
    Bad("remember", {"messages": [HI], "fact": "User is tall"}, "messages", http=False),
    Bad("remember", {"messages": [HI], "kind": "dynamic"}, "kind", http=False),
    Bad("remember", {"fact": "   "}, "fact", http=False),
    Bad("remember", {"fact": "User is tall", "kind": "forever"}, "kind"),
    Bad("remember", {"fact": "User is tall", "ttl_seconds": 5}, "ttl_seconds"),
    Bad("remember", {"fact": "User is tall", "surprise": 1}, "surprise", http=False),
    Bad("recall", {"query": ""}, "query"),
    Bad("recall", {"query": "x", "threshold": 1.5}, "threshold"),
    Bad("recall", {"query": "x", "top_k": 10_000}, "top_k"),
    Bad("recall", {"query": "x", "kind": "eternal"}, "kind"),
    Bad("recall", {"query": "x", "types": ["memories"]}, "types.0"),
    Bad("recall", {"query": "x", "roles": ["bot"]}, "roles.0"),
    Bad("get_profile", {"max_tokens": 0}, "max_tokens"),
    Bad("forget", {}, "fact_id", http=False),
    Bad("forget", {"query": "x", "threshold": 2}, "threshold"),
    Bad("forget", {"fact_id": "no-such-fact"}, "fact_id", "not_found"),
    Bad("forget", {"message_id": 0}, "message_id"),
    Bad("forget", {"message_id": 424242}, "message_id", "not_found"),
    Bad("list_changes", {"limit": 0}, "limit"),
    Bad("list_changes", {"limit": 100_000}, "limit"),
    Bad("list_changes", {"cursor": "abc"}, "cursor"),
    Bad("list_changes", {"cursor": str(2**63)}, "cursor"),
    Bad("list_changes", {"limit": 2**63}, "limit"),
    Bad("list_changes", {"since": "0001-01-01T00:00:00+01:00"}, "since"),
    Bad("recall", {"query": "x", "top_k": 2**64}, "top_k"),
    Bad("recall", {"query": "x", "user_id": "a/b"}, "user_id"),
    Bad("get_profile", {"user_id": "../../etc/passwd"}, "user_id"),
    Bad("remember", {"fact": "User is tall", "ttl_seconds": 2**63}, "ttl_seconds"),
    Bad("remember", {"messages": [{**HI, "created_at": "9999-12-31T23:59:59-01:00"}]}, "messages.0.created_at"),
]
BAD_CONFIG = [{"dynamic_ttl_seconds": 5}, {"no_such_setting": 1}, {"duplicate_threshold": 2}]


async def bad_arguments_fail_clearly(client: Client, who: dict[str, str]) -> None:
    """Every bad call is an error naming the field, and nothing is written."""
    before = (await memory_of(client, who), await change_count(client, who))
    config = ok(await client.call_tool("get_config", {}))
    for case in BAD:
        body = error(await call(client, case.tool, who, **case.arguments))
        assert (body["code"], body["field"]) == (case.code, case.field), case
        assert case.field in body["message"], body
    for changes in BAD_CONFIG:
        assert error(await client.call_tool("update_config", {"changes": changes}))["code"] == "invalid_input"
    assert ok(await client.call_tool("get_config", {}))["version"] == config["version"]
    assert (await memory_of(client, who), await change_count(client, who)) == before


async def memory_of(client: Client, who: dict[str, str]) -> set[str]:
    profile = ok(await call(client, "get_profile", who))["profile"]
    return {f["content"] for f in profile["static"] + profile["dynamic"]}


async def change_count(client: Client, who: dict[str, str]) -> int:
    return len(ok(await call(client, "list_changes", who, limit=500))["items"])


async def forgetting_a_fact_takes_the_messages_it_came_from(client: Client, who: dict[str, str]) -> None:
    """By default, and not with with_sources false."""
    for text, with_sources in (("I work as a baker.", None), ("I live in Lyon.", False)):
        [fact] = ok(await call(client, "remember", who, messages=say(text)))["added"]
        extra = {} if with_sources is None else {"with_sources": with_sources}
        gone = ok(await call(client, "forget", who, fact_id=fact["id"], **extra))
        assert [f["id"] for f in gone["deleted"]] == [fact["id"]]
        assert [e["content"] for e in gone["episodes"]] == ([] if with_sources is False else [text])
        left = ok(await call(client, "recall", who, query=text, types=["episodes"], threshold=0.9))["results"]
        assert [e["content"] for e in left] == ([text] if with_sources is False else [])
    body = error(await call(client, "forget", who, query="Lyon", with_sources=False))
    assert (body["code"], body["field"]) == ("invalid_input", "with_sources")


async def every_tool_round_trip(client: Client, who: dict[str, str], user_id: str) -> None:
    """remember (messages and a fact), recall, get_profile, the profile resource, list_changes, forget, config."""
    start = await memory_of(client, who)
    first = ok(await call(client, "remember", who, messages=say("I'm a nurse and I live in Berlin.")))
    assert (first["status"], first["duplicate"]) == ("done", False)
    assert sorted(f["content"] for f in first["added"]) == ["User is a nurse", "User lives in Berlin"]

    moved = ok(await call(client, "remember", who, messages=say("I moved to Paris last month.")))
    [update] = moved["updated"]
    assert (update["before"]["content"], update["after"]["content"]) == ("User lives in Berlin", "User lives in Paris")

    bees = ok(await call(client, "remember", who, fact="User keeps bees"))
    assert [f["content"] for f in bees["added"]] == ["User keeps bees"]
    assert await memory_of(client, who) == start | {"User is a nurse", "User keeps bees", "User lives in Paris"}

    found = ok(await call(client, "recall", who, query="bees", top_k=1))
    assert [r["content"] for r in found["results"]] == ["User keeps bees"]
    assert found["results"][0]["id"] == bees["added"][0]["id"]

    budget = ok(await call(client, "get_profile", who, query="Is she a nurse?", max_tokens=6))
    assert [f["content"] for f in budget["profile"]["static"]] == ["User is a nurse"]
    assert budget["tokens"] <= 6
    assert budget["searchResults"]["results"][0]["content"] == "User is a nurse"

    resource = await client.read_resource(f"memory://profile/{user_id}")
    [contents] = resource.contents
    assert isinstance(contents, TextResourceContents) and contents.mime_type == "application/json"
    assert "User keeps bees" in contents.text and "User lives in Berlin" not in contents.text

    log = ok(await call(client, "list_changes", who, limit=3))
    assert [(c["event"], c["after"]["content"]) for c in log["items"]] == [
        ("add", "User keeps bees"),
        ("update", "User lives in Paris"),
        ("supersede", "User lives in Berlin"),
    ]
    assert log["next_cursor"] is not None
    by_request = ok(await call(client, "list_changes", who, request_id=bees["request_id"]))
    assert [c["fact_id"] for c in by_request["items"]] == [bees["added"][0]["id"]]

    gone = ok(await call(client, "forget", who, fact_id=bees["added"][0]["id"]))
    assert [f["content"] for f in gone["deleted"]] == ["User keeps bees"] and gone["count"] == 1
    assert ok(await call(client, "recall", who, query="bees"))["results"] == []
    by_meaning = ok(await call(client, "forget", who, query="User is a nurse"))
    assert [f["content"] for f in by_meaning["deleted"]] == ["User is a nurse"]
    assert [e["content"] for e in by_meaning["episodes"]] == ["I'm a nurse and I live in Berlin."]  # its source
    assert ok(await call(client, "recall", who, query="nurse", types=["episodes"]))["results"] == []
    assert await memory_of(client, who) == start | {"User lives in Paris"}
    [said] = ok(await call(client, "recall", who, query="moved to Paris", types=["episodes"], top_k=1))["results"]
    assert (said["type"], said["role"], said["content"]) == ("episode", "user", "I moved to Paris last month.")
    dropped = ok(await call(client, "forget", who, message_id=said["message_id"]))
    assert [e["message_id"] for e in dropped["episodes"]] == [said["message_id"]] and dropped["count"] == 1

    config = ok(await client.call_tool("get_config", {}))
    ttl = 3600 + config["version"]
    changed = ok(await client.call_tool("update_config", {"changes": {"dynamic_ttl_seconds": ttl}}))
    assert (changed["version"], changed["config"]["dynamic_ttl_seconds"]) == (config["version"] + 1, ttl)
    assert ok(await client.call_tool("get_config", {}))["version"] == changed["version"]


async def retried_remember_writes_once(client: Client, who: dict[str, str]) -> None:
    """The same messages or the same fact sent again return what the first call did and write nothing."""
    start, changes = await memory_of(client, who), await change_count(client, who)
    messages = say("I love hiking.")
    first = ok(await call(client, "remember", who, messages=messages))
    again = ok(await call(client, "remember", who, messages=messages))
    assert [f["content"] for f in first["added"]] == ["User loves hiking"]
    assert (again["request_id"], again["duplicate"], again["added"]) == (first["request_id"], True, first["added"])

    fact = ok(await call(client, "remember", who, fact="User speaks Welsh"))
    repeat = ok(await call(client, "remember", who, fact="User speaks Welsh"))
    assert [f["content"] for f in fact["added"]] == ["User speaks Welsh"]
    assert (fact["duplicate"], repeat["duplicate"]) == (False, True)
    assert (repeat["request_id"], repeat["added"]) == (fact["request_id"], fact["added"])

    assert await memory_of(client, who) == start | {"User loves hiking", "User speaks Welsh"}
    assert await change_count(client, who) == changes + 2
