"""Identifiers a user states (emails, phones, handles): read by the rules extractor, stored as identity facts,
and a newer one of the same type and label supersedes the older one unless the user says they have several."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from extractors.base import ExtractionContext, Message
from extractors.rules import RulesExtractor
from tests.conftest import publish

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


async def _read(text: str) -> list[tuple[str, str | None, tuple[str, str] | None]]:
    facts = await RulesExtractor().extract(
        [Message(role="user", content=text, created_at=NOW)], ExtractionContext(user_id="u", now=NOW)
    )
    return [(f.content, f.topic, (f.identity.type, f.identity.value) if f.identity else None) for f in facts]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My email is Ana@Example.com.", ("User's email is ana@example.com", "identity:email", "ana@example.com")),
        (
            "you can reach me at +1 (555) 123-4567",
            ("User's phone number is +15551234567", "identity:phone", "+15551234567"),
        ),
        ("I'm @ana_dev on twitter", ("User's twitter handle is @ana_dev", "identity:handle:twitter", "@ana_dev")),
        (
            "my work email is ana@corp.com",
            ("User's work email is ana@corp.com", "identity:email:work", "ana@corp.com"),
        ),
        ("my other email is ana@home.org", ("User's email is ana@home.org", None, "ana@home.org")),
        (
            "my github is https://github.com/ana.",
            ("User's github handle is https://github.com/ana", "identity:handle:github", "https://github.com/ana"),
        ),
    ],
)
async def test_the_rules_extractor_reads_stated_identifiers(text, expected):
    content, topic, value = expected
    found = [f for f in await _read(text) if f[2] is not None]
    assert [(c, t, v[1]) for c, t, v in found] == [(content, topic, value)]


@pytest.mark.parametrize(
    "text",
    ["my number is 42", "send it to my boss at boss@corp.com", "my lucky number is 7", "email sales@shop.com please"],
)
async def test_identifiers_that_are_not_the_users_are_left_alone(text):
    assert [f for f in await _read(text) if f[2] is not None] == []


async def test_an_identifier_is_not_also_read_as_a_plain_fact():
    assert await _read("I'm @ana_dev on twitter and I live in Oslo") == [
        ("User's twitter handle is @ana_dev", "identity:handle:twitter", ("handle", "@ana_dev")),
        ("User lives in Oslo", "location", None),
    ]


async def _identities(client, user: str) -> list[tuple[str, str]]:
    r = await client.get(f"/v1/users/{user}/profile", params={"sections": "identities"})
    assert r.status_code == 200, r.text
    return sorted((i["type"], i["value"]) for i in r.json()["sections"][0]["data"])


async def test_a_new_email_supersedes_the_old_one_unless_the_user_has_several(client):
    await publish(client, "ana", "My email is ana@old.com and my phone number is +351 912 345 678")
    assert await _identities(client, "ana") == [("email", "ana@old.com"), ("phone", "+351912345678")]
    job = await publish(client, "ana", "my new email is ana@new.com")
    [update] = job["changes"]["updated"]
    assert update["before"]["content"] == "User's email is ana@old.com"
    assert update["after"]["content"] == "User's email is ana@new.com"
    assert await _identities(client, "ana") == [("email", "ana@new.com"), ("phone", "+351912345678")]
    history = (await client.get(f"/v1/facts/{update['before']['id']}")).json()
    assert history["status"] == "superseded" and history["superseded_by"] == update["after"]["id"]

    await publish(client, "ana", "I also use ana@home.org for email. my other email is ana@home.org")
    assert await _identities(client, "ana") == [
        ("email", "ana@home.org"),
        ("email", "ana@new.com"),
        ("phone", "+351912345678"),
    ]
    again = await publish(client, "ana", "My email is ana@new.com")  # said again: nothing changes
    assert again["changes"]["added"] == again["changes"]["updated"] == []
