"""The offline `rules` extractor: exact facts for a table of messages, plus its contract with the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
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


def _message(content: str, role: str = "user", sent: datetime = NOW) -> Message:
    return Message(role=role, content=content, created_at=sent)  # type: ignore[arg-type]


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


@pytest.mark.parametrize(
    "message",
    [
        "My name is Ana and I live in Porto",
        "My name is Ana & I live in Porto",
        "My name is Ana &I live in Porto",
        "My name is Ana + I live in Porto",
        "My name is Ana, I live in Porto",
        "My name is Ana, and I live in Porto",
    ],
)
async def test_and_in_any_spelling_between_two_statements_yields_two_clean_facts(message: str) -> None:
    facts = await _extract([_message(message)])

    assert [f.content for f in facts] == ["User's name is Ana", "User lives in Porto"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("My wife & I live in Porto", ["User and their wife live in Porto"]),
        ("Me + my brother run a podcast", ["User and their brother run a podcast"]),
        ("My son plays chess and I watch every game", ["User's son plays chess", "User watches every game"]),
        ("My dog is Max and I walk him daily", ["User's dog is Max", "User walks him daily"]),
        ("My code broke and I cried", []),
    ],
)
async def test_my_someone_and_i_is_one_subject_only_when_no_statement_ends_before_the_and(
    message: str, expected: list[str]
) -> None:
    facts = await _extract([_message(message)])

    assert [f.content for f in facts] == expected


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
    [  # said on Wednesday 2025-01-15 at noon
        ("I'm flying to Rome tomorrow", DAY + DAY // 2),
        ("I'm studying for my exams this week", 4 * DAY + DAY // 2),
        ("I'm learning Rust this month", 16 * DAY + DAY // 2),
        ("I'm so tired today", DAY // 2),
        ("I'm working on a migration project", None),
    ],
)
async def test_dynamic_facts_live_until_the_span_their_time_cue_names_ends(message: str, ttl: int | None) -> None:
    (fact,) = await _extract([_message(message)])

    assert fact.kind == "dynamic"
    assert fact.ttl_seconds == ttl


TUESDAY = datetime(2026, 5, 5, 12, 0, tzinfo=UTC)
MONDAY = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "sent", "content"),
    [
        ("Yesterday I went to the support group", TUESDAY, "User went to the support group on 2026-05-04"),
        ("Yesterday, I went to the support group", TUESDAY, "User went to the support group on 2026-05-04"),
        ("Oh, last week, my sister was in Rome", TUESDAY, "User's sister was in Rome the week of 2026-04-27"),
        ("I went hiking yesterday", TUESDAY, "User went hiking on 2026-05-04"),
        ("I went yesterday to the dentist", TUESDAY, "User went on 2026-05-04 to the dentist"),
        ("Today I'm so tired", TUESDAY, "User is so tired on 2026-05-05"),
        ("I'm going to a concert tonight", TUESDAY, "User is going to a concert on 2026-05-05"),
        ("This morning I went for a run", TUESDAY, "User went for a run on 2026-05-05"),
        ("I'm flying to Rome tomorrow", TUESDAY, "User is flying to Rome on 2026-05-06"),
        ("I went to the gym two days ago", TUESDAY, "User went to the gym on 2026-05-03"),
        ("I started a new job 3 weeks ago", TUESDAY, "User started a new job around 2026-04-14"),
        ("I adopted a cat a month ago", TUESDAY, "User adopted a cat in April 2026"),
        ("Last Monday I met Anna", TUESDAY, "User met Anna on 2026-05-04"),
        ("I met Anna last Monday", MONDAY, "User met Anna on 2026-04-27"),
        ("On Friday I went to the cinema", TUESDAY, "User went to the cinema on 2026-05-01"),
        ("I was at the dentist on Friday", TUESDAY, "User was at the dentist on 2026-05-01"),
        ("My sister got married on Saturday", TUESDAY, "User's sister got married on 2026-05-02"),
        ("I have a dentist appointment on Friday", TUESDAY, "User has a dentist appointment on 2026-05-08"),
        ("I'm flying to Oslo next Friday", TUESDAY, "User is flying to Oslo on 2026-05-08"),
        ("I went to Rome last week", TUESDAY, "User went to Rome the week of 2026-04-27"),
        ("Next week I'm starting a new job", TUESDAY, "User is starting a new job the week of 2026-05-11"),
        ("I went camping last weekend", TUESDAY, "User went camping the weekend of 2026-05-02"),
        ("I'm visiting my parents this weekend", TUESDAY, "User is visiting their parents the weekend of 2026-05-09"),
        ("I started therapy last month", TUESDAY, "User started therapy in April 2026"),
        ("Last year I quit smoking", TUESDAY, "User quit smoking in 2025"),
        ("My wife and I are moving to Spain next year", TUESDAY, "User and their wife are moving to Spain in 2027"),
        ("I have been sick since yesterday", TUESDAY, "User has been sick since 2026-05-04"),
        (
            "Yesterday I went to the support group",
            datetime(2026, 1, 1, 9, tzinfo=UTC),
            "User went to the support group on 2025-12-31",
        ),
        ("I went skiing last month", datetime(2026, 1, 15, 9, tzinfo=UTC), "User went skiing in December 2025"),
        ("I'm flying home tomorrow", datetime(2025, 12, 31, 9, tzinfo=UTC), "User is flying home on 2026-01-01"),
        # The day is the one in created_at's own offset: here the sender's, not yet 2026-05-05 in UTC.
        (
            "I went hiking yesterday",
            datetime(2026, 5, 5, 1, tzinfo=timezone(timedelta(hours=2))),
            "User went hiking on 2026-05-04",
        ),
        ("Right now I'm reading Dune", TUESDAY, "User is reading Dune right now"),
        ("Right now, I'm reading Dune", TUESDAY, "User is reading Dune right now"),
        ("I met my neighbour a few days ago", TUESDAY, "User met their neighbour a few days ago"),
    ],
)
async def test_relative_dates_become_the_dates_they_name_when_the_message_was_sent(
    message: str, sent: datetime, content: str
) -> None:
    facts = await _extract([_message(message, sent=sent)])

    assert [f.content for f in facts] == [content]


async def test_a_message_without_a_time_phrase_reads_the_same_whenever_it_was_sent() -> None:
    early = await _extract([_message("I work as a nurse and I have two cats", sent=MONDAY)])
    late = await _extract([_message("I work as a nurse and I have two cats", sent=datetime(2031, 2, 3, tzinfo=UTC))])

    assert [f.content for f in early] == [f.content for f in late] == ["User works as a nurse", "User has two cats"]


async def test_each_message_is_dated_by_its_own_time_not_the_servers() -> None:
    messages = [
        _message("I went hiking yesterday", sent=TUESDAY),
        _message("I went hiking yesterday", sent=datetime(2026, 5, 10, 8, tzinfo=UTC)),
    ]

    facts = await _extract(messages)  # the context's `now` is 2025-01-15

    assert [(f.content, f.message_indexes) for f in facts] == [
        ("User went hiking on 2026-05-04", [0]),
        ("User went hiking on 2026-05-09", [1]),
    ]


@pytest.mark.parametrize(
    ("message", "ttl"),
    [
        ("Yesterday I went to the support group", 2 * DAY),
        ("I went to Rome last week", 14 * DAY),
        ("I started therapy last month", 31 * DAY),
    ],
)
async def test_a_dated_past_event_stays_dynamic_with_the_lifetime_of_its_phrase(message: str, ttl: int) -> None:
    (fact,) = await _extract([_message(message, sent=TUESDAY)])

    assert fact.kind == "dynamic"
    assert fact.ttl_seconds == ttl
    assert "2026" in fact.content


CET_TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=timezone(timedelta(hours=1)))


@pytest.mark.parametrize(
    ("message", "content", "ends"),
    [  # said on Tuesday 2026-11-24 at 10:00 (+01:00); `ends` is the sender's midnight that ends the span
        ("I'm visiting my parents this weekend", "User is visiting their parents the weekend of 2026-11-28", "11-30"),
        ("I'm away until Friday", "User is away until 2026-11-27", "11-28"),
        ("I'm in Rome this week", "User is in Rome the week of 2026-11-23", "11-30"),
        ("I'm in Paris next week", "User is in Paris the week of 2026-11-30", "12-07"),
        ("I'm so tired today", "User is so tired on 2026-11-24", "11-25"),
        ("I'm going out tonight", "User is going out on 2026-11-24", "11-25"),
        ("I'm flying to Rome tomorrow", "User is flying to Rome on 2026-11-25", "11-26"),
        ("I'm learning Rust this month", "User is learning Rust in November 2026", "12-01"),
    ],
)
async def test_a_dynamic_fact_expires_when_the_span_it_names_ends_on_the_senders_clock(
    message: str, content: str, ends: str
) -> None:
    (fact,) = await _extract([_message(message, sent=CET_TUESDAY)])

    end = datetime.fromisoformat(f"2026-{ends}T00:00:00+01:00")
    assert (fact.content, fact.kind) == (content, "dynamic")
    assert CET_TUESDAY + timedelta(seconds=fact.ttl_seconds) == end


async def test_a_season_lasts_until_its_end_even_when_said_before_it_starts() -> None:
    (fact,) = await _extract([_message("I'm going to Japan this summer", sent=datetime(2026, 3, 10, tzinfo=UTC))])

    assert fact.kind == "dynamic"
    assert datetime(2026, 3, 10, tzinfo=UTC) + timedelta(seconds=fact.ttl_seconds) == datetime(2026, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "content", "ttl"),
    [  # said on Wednesday 2025-01-15 at noon
        ("I have a cold", "User has a cold", 7 * DAY),
        ("I caught a nasty cold", "User caught a nasty cold", 7 * DAY),
        ("I have the flu", "User has the flu", 14 * DAY),
        ("I have a headache", "User has a headache", 2 * DAY),
        ("I'm pregnant", "User is pregnant", 280 * DAY),
        ("I'm sick today", "User is sick on 2025-01-15", DAY // 2),
        ("I'm feeling stressed today", "User is feeling stressed on 2025-01-15", DAY // 2),
    ],
)
async def test_a_passing_state_of_health_is_dynamic_for_about_as_long_as_it_lasts(
    message: str, content: str, ttl: int
) -> None:
    (fact,) = await _extract([_message(message)])

    assert (fact.content, fact.kind, fact.ttl_seconds) == (content, "dynamic", ttl)


async def test_a_lasting_condition_or_a_cold_thing_is_no_passing_illness() -> None:
    facts = await _extract([_message("I get headaches a lot. I like cold weather. I'm diabetic")])

    assert [(f.content, f.kind) for f in facts] == [
        ("User gets headaches a lot", "static"),
        ("User likes cold weather", "static"),
        ("User is diabetic", "static"),
    ]


async def test_today_on_the_last_day_a_date_can_name_keeps_the_cues_own_lifetime() -> None:
    (fact,) = await _extract([_message("I'm tired today", sent=datetime(9999, 12, 31, 12, tzinfo=UTC))])

    assert (fact.kind, fact.ttl_seconds) == ("dynamic", DAY)


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
