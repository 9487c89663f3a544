"""One id rule (`schemas.Identifier`) at every door: body, path, query, MCP tool arguments and CLI options refuse
the same ids with the same words, and every id they accept can be published, listed, re-extracted and purged."""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from mcp import Client
from typer.testing import CliRunner

from memory_server.cli import app as cli_app
from memory_server.ids import check_identifier
from tests.api.test_errors import assert_error, nothing_stored
from tests.conftest import until_finished
from tests.mcp.scenarios import error

ACCEPTED = [
    "ana",
    "auth0|123",
    "org:user",
    "ana.b-c_d@example.com",
    "+447700900123",
    "a=b~c",
    "Zoë",
    "Zoe\u0308",  # the same name with a combining diaeresis: a mark that is drawn
    "हिन्दी",
    ".a",
    "a.",
]
REJECTED = [
    *[ch for ch in string.printable if ch not in string.ascii_letters + string.digits + "_.-@:+=|~"],
    "a/b",
    "../../etc/passwd",
    ".",
    "..",
    "...",
    "",
    "x" * 257,
    "€",
    "a\u200bb",
    *(f"alice{ch}" for ch in "\u034f\ufe0f\U000e0100\u3164\uffa0\u115f\u17b4\u180b"),  # drawn as nothing
]


def path_segment(user_id: str) -> str:
    """Percent-encoded, dots included, so that no client resolves `.` or `..` away before the server sees them."""
    return quote(user_id, safe="").replace(".", "%2E")


async def http_errors(client, user_id: str) -> list[dict]:
    """The error of each HTTP door for `user_id`: body, path (three routes) and query."""
    segment = path_segment(user_id)
    responses = [
        await client.post(
            "/v1/interactions", json={"user_id": user_id, "messages": [{"role": "user", "content": "hi"}]}
        ),
        await client.get(f"/v1/users/{segment}/facts"),
        await client.post(f"/v1/users/{segment}/reextract"),
        await client.delete(f"/v1/users/{segment}"),
        await client.delete("/v1/facts/abc", params={"user_id": user_id}),
        await client.get("/v1/changelog", params={"user_id": user_id}),
    ]
    for r in responses:
        assert_error(r, 422, "invalid_input", "user_id")
    return [r.json()["error"] for r in responses]


@pytest.mark.parametrize("user_id", REJECTED, ids=repr)
async def test_a_rejected_id_gets_the_same_422_at_every_door(app, client, service, settings, user_id):
    errors = await http_errors(client, user_id)
    assert all(e == errors[0] for e in errors), errors
    assert errors[0]["message"].startswith("user_id: ")
    async with Client(app.state.mcp) as mcp:
        assert error(await mcp.call_tool("recall", {"user_id": user_id, "query": "x"})) == errors[0]
    assert await nothing_stored(service)
    if user_id and "\x00" not in user_id:  # an OS cannot pass an empty or NUL argument
        result = CliRunner().invoke(cli_app, ["export", "--user", user_id, "--data-dir", str(settings.data_dir)])
        assert result.exit_code == 2
        assert f"--user: {errors[0]['message'].removeprefix('user_id: ')}" in result.output


@pytest.mark.parametrize("user_id", ACCEPTED)
async def test_an_accepted_id_is_published_listed_reextracted_and_purged(client, user_id):
    segment = path_segment(user_id)
    body = {"user_id": user_id, "messages": [{"role": "user", "content": "I'm a nurse"}], "wait": True}
    job = (await client.post("/v1/interactions", json=body)).json()
    assert (job["user_id"], job["status"]) == (user_id, "done")
    facts = (await client.get(f"/v1/users/{segment}/facts")).json()["items"]
    assert [(f["user_id"], f["content"]) for f in facts] == [(user_id, "User is a nurse")]
    again = await client.post(f"/v1/users/{segment}/reextract")
    assert again.status_code == 202, again.text
    assert [j["status"] for j in await until_finished(client, again.json()["request_id"])] == ["done"]
    purged = await client.delete(f"/v1/users/{segment}")
    assert purged.status_code == 200 and purged.json()["user_id"] == user_id
    assert (await client.get(f"/v1/users/{segment}/facts")).json()["items"] == []


def test_an_invisible_character_is_named_by_its_code_point():
    with pytest.raises(ValueError, match=r"must not contain U\+3164 \(HANGUL FILLER, invisible\)"):
        check_identifier("alice\u3164")
