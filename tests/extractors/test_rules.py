"""The offline `rules` extractor: exact facts for a table of messages, plus its contract with the server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from extractors.base import CandidateFact, ExtractionContext, Extractor, Message
from extractors.registry import available, create_extractor
from extractors.rules import RulesExtractor

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "rules_cases.yaml").read_text(encoding="utf-8")
)
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
DAY = 86_400


def _message(content: str, role: str = "user") -> Message:
    return Message(role=role, content=content, created_at=NOW)  # type: ignore[arg-type]


async def _extract(messages: list[Message], options: dict[str, Any] | None = None) -> list[CandidateFact]:
    extractor = RulesExtractor(**(options or {}))
    context = ExtractionContext(user_id="u1", now=NOW)
    return await extractor.extract(messages, context)


def test_fixture_is_large_and_varied() -> None:
    assert len(CASES) >= 60
    assert sum(1 for case in CASES if not case["facts"]) >= 15
    assert sum(1 for case in CASES if any(f["kind"] == "dynamic" for f in case["facts"])) >= 10
    assert len({case["message"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["message"][:60] for case in CASES])
async def test_message_yields_exactly_the_expected_facts(case: dict[str, Any]) -> None:
    facts = await _extract([_message(case["message"])])
    expected = case["facts"]

    assert [(f.content, f.kind) for f in facts] == [(e["content"], e["kind"]) for e in expected]
    for fact, want in zip(facts, expected, strict=True):
        if "topic" in want:
            assert fact.topic == want["topic"], fact.content
        if "ttl_seconds" in want:
            assert fact.ttl_seconds == want["ttl_seconds"], fact.content
        assert fact.message_indexes == [0]
        if fact.kind == "static":
            assert fact.ttl_seconds is None


async def test_assistant_messages_are_ignored_by_default() -> None:
    messages = [_message("I'm a nurse and I live in Oslo", role="assistant"), _message("I have two cats")]

    facts = await _extract(messages)

    assert [f.content for f in facts] == ["User has two cats"]


async def test_roles_option_given_through_the_registry_chooses_which_messages_are_read() -> None:
    messages = [_message("I live in Oslo", role="assistant"), _message("I have two cats")]

    extractor = create_extractor("rules", {"roles": ["assistant"]})
    facts = await extractor.extract(messages, ExtractionContext(user_id="u1", now=NOW))

    assert [f.content for f in facts] == ["User lives in Oslo"]


async def test_roles_option_of_the_extractor_is_the_default_for_every_call() -> None:
    messages = [_message("I live in Oslo", role="system"), _message("I have two cats")]

    facts = await _extract(messages, options={"roles": ["system", "user"]})

    assert [f.content for f in facts] == ["User lives in Oslo", "User has two cats"]


@pytest.mark.parametrize(
    ("message", "ttl"),
    [
        ("I'm flying to Rome tomorrow", 2 * DAY),
        ("I'm studying for my exams this week", 7 * DAY),
        ("I'm learning Rust this month", 31 * DAY),
        ("I'm so tired today", 1 * DAY),
        ("I'm working on a migration project", None),
    ],
)
async def test_dynamic_facts_live_as_long_as_their_time_cue(message: str, ttl: int | None) -> None:
    (fact,) = await _extract([_message(message)])

    assert fact.kind == "dynamic"
    assert fact.ttl_seconds == ttl


async def test_each_fact_points_at_the_message_it_came_from() -> None:
    messages = [_message("hi there!"), _message("sure, here you go", role="assistant"), _message("I'm a nurse")]

    (fact,) = await _extract(messages)

    assert fact.message_indexes == [2]


async def test_repeated_facts_are_returned_once_with_every_source_message() -> None:
    messages = [
        _message("I'm a nurse. I'm a nurse!"),
        _message("ok"),
        _message("i'm A NURSE"),
        _message("I live in Oslo"),
    ]

    facts = await _extract(messages)

    assert [(f.content, f.message_indexes) for f in facts] == [
        ("User is a nurse", [0, 2]),
        ("User lives in Oslo", [3]),
    ]


async def test_hedged_statements_get_lower_confidence_than_identity_statements() -> None:
    (sure,) = await _extract([_message("I'm a nurse")])
    (hedged,) = await _extract([_message("I think I might be lactose intolerant")])
    (plain,) = await _extract([_message("I hate long meetings")])

    assert sure.confidence >= 0.9
    assert 0.6 <= hedged.confidence <= 0.7
    assert hedged.confidence < plain.confidence < sure.confidence


async def test_empty_and_whitespace_messages_yield_nothing() -> None:
    assert await _extract([_message(""), _message("   \n "), _message("🙂🙂")]) == []


async def test_unknown_options_and_roles_are_rejected() -> None:
    with pytest.raises(ValidationError):
        RulesExtractor(model="gpt-4")
    with pytest.raises(ValidationError):
        RulesExtractor(roles=["robot"])
    with pytest.raises(ValidationError):
        await _extract([_message("I'm a nurse")], {"roles": "user"})


async def test_registers_under_rules_through_the_public_registry() -> None:
    extractor = create_extractor("rules")

    assert "rules" in available()
    assert isinstance(extractor, RulesExtractor)
    assert isinstance(extractor, Extractor)
    assert extractor.name == "rules"
    facts = await extractor.extract([_message("I'm a nurse")], ExtractionContext(user_id="u1", now=NOW))
    assert [f.content for f in facts] == ["User is a nurse"]
