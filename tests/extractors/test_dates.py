"""Relative time phrases resolve to absolute dates against the day they were said on, one convention each."""

from __future__ import annotations

from datetime import date

import pytest

from extractors.dates import resolve, span_end

TUESDAY = date(2026, 5, 5)
MONDAY = date(2026, 5, 4)
SUNDAY = date(2026, 5, 10)


@pytest.mark.parametrize(
    ("text", "day", "expected"),
    [
        ("User went hiking yesterday", TUESDAY, "User went hiking on 2026-05-04"),
        ("User went hiking Yesterday", TUESDAY, "User went hiking on 2026-05-04"),
        ("User went yesterday to the dentist", TUESDAY, "User went on 2026-05-04 to the dentist"),
        ("User went swimming the day before yesterday", TUESDAY, "User went swimming on 2026-05-03"),
        ("User went out last night", TUESDAY, "User went out on 2026-05-04"),
        ("User is tired today", TUESDAY, "User is tired on 2026-05-05"),
        ("User is going out tonight", TUESDAY, "User is going out on 2026-05-05"),
        ("User went for a run this morning", TUESDAY, "User went for a run on 2026-05-05"),
        ("User is flying tomorrow", TUESDAY, "User is flying on 2026-05-06"),
        ("User is flying the day after tomorrow", TUESDAY, "User is flying on 2026-05-07"),
        ("User went hiking yesterday", date(2026, 1, 1), "User went hiking on 2025-12-31"),
        ("User is flying tomorrow", date(2025, 12, 31), "User is flying on 2026-01-01"),
        ("User went to the gym two days ago", TUESDAY, "User went to the gym on 2026-05-03"),
        ("User went to the gym 10 days ago", TUESDAY, "User went to the gym on 2026-04-25"),
        ("User started a job 3 weeks ago", TUESDAY, "User started a job around 2026-04-14"),
        ("User adopted a cat a month ago", TUESDAY, "User adopted a cat in April 2026"),
        ("User adopted a cat six months ago", TUESDAY, "User adopted a cat in November 2025"),
        ("User moved two years ago", TUESDAY, "User moved in 2024"),
        ("User met Anna last Monday", TUESDAY, "User met Anna on 2026-05-04"),
        ("User met Anna last Monday", MONDAY, "User met Anna on 2026-04-27"),
        ("User met Anna last Sunday", SUNDAY, "User met Anna on 2026-05-03"),
        ("User is flying next Friday", TUESDAY, "User is flying on 2026-05-08"),
        ("User is flying next Tuesday", TUESDAY, "User is flying on 2026-05-12"),
        ("User is flying on Friday", TUESDAY, "User is flying on 2026-05-08"),
        ("User is flying this Friday", TUESDAY, "User is flying on 2026-05-08"),
        ("User went to Rome last week", TUESDAY, "User went to Rome the week of 2026-04-27"),
        ("User went to Rome last week", SUNDAY, "User went to Rome the week of 2026-04-27"),
        ("User is in Rome this week", TUESDAY, "User is in Rome the week of 2026-05-04"),
        ("User is in Rome next week", TUESDAY, "User is in Rome the week of 2026-05-11"),
        ("User went camping last weekend", TUESDAY, "User went camping the weekend of 2026-05-02"),
        ("User is camping this weekend", TUESDAY, "User is camping the weekend of 2026-05-09"),
        ("User is camping this weekend", SUNDAY, "User is camping the weekend of 2026-05-09"),
        ("User is camping next weekend", TUESDAY, "User is camping the weekend of 2026-05-16"),
        ("User started therapy last month", TUESDAY, "User started therapy in April 2026"),
        ("User went skiing last month", date(2026, 1, 15), "User went skiing in December 2025"),
        ("User is learning Rust this month", TUESDAY, "User is learning Rust in May 2026"),
        ("User's sister is marrying next month", date(2026, 12, 2), "User's sister is marrying in January 2027"),
        ("User quit smoking last year", TUESDAY, "User quit smoking in 2025"),
        ("User runs a marathon this year", TUESDAY, "User runs a marathon in 2026"),
        ("User is moving to Spain next year", TUESDAY, "User is moving to Spain in 2027"),
        ("User has been sick since yesterday", TUESDAY, "User has been sick since 2026-05-04"),
        ("User has been vegan since last year", TUESDAY, "User has been vegan since 2025"),
        ("User is away until next week", TUESDAY, "User is away until the week of 2026-05-11"),
        ("User is away until Friday", TUESDAY, "User is away until 2026-05-08"),
        ("User has been sick since Friday", TUESDAY, "User has been sick since 2026-05-01"),
        ("User has known her since 3 weeks ago", TUESDAY, "User has known her since around 2026-04-14"),
    ],
)
def test_a_relative_date_is_replaced_by_the_date_it_names(text: str, day: date, expected: str) -> None:
    assert resolve(text, day) == expected


@pytest.mark.parametrize(
    ("text", "day", "expected"),
    [
        ("User went to the cinema on Friday", TUESDAY, "User went to the cinema on 2026-05-01"),
        ("User went to the cinema on Tuesday", TUESDAY, "User went to the cinema on 2026-04-28"),
        ("User went to the cinema this Monday", TUESDAY, "User went to the cinema on 2026-05-04"),
        ("User went to the cinema next Friday", TUESDAY, "User went to the cinema on 2026-05-08"),
    ],
)
def test_a_weekday_in_a_past_clause_is_the_one_before(text: str, day: date, expected: str) -> None:
    assert resolve(text, day, past=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        "User is currently reading Dune",
        "User is reading Dune right now",
        "User has been running a lot lately",
        "User eats out a lot these days",
        "User met their neighbour a few days ago",
        "User ran a marathon two or three weeks ago",
        "User is training for a marathon this summer",
        "User goes to yoga on Mondays",
        "User works as a nurse",
        "User loves Monday mornings",
    ],
)
def test_states_of_now_vague_and_habitual_times_stay_words(text: str) -> None:
    assert resolve(text, TUESDAY) == text


@pytest.mark.parametrize(
    ("text", "day", "end"),
    [
        ("User is camping this weekend", TUESDAY, date(2026, 5, 10)),
        ("User is camping this weekend", SUNDAY, SUNDAY),
        ("User is camping next weekend", MONDAY, date(2026, 5, 17)),
        ("User is in Rome this week", TUESDAY, date(2026, 5, 10)),
        ("User is away until Friday", TUESDAY, date(2026, 5, 8)),
        ("User is tired tonight", TUESDAY, TUESDAY),
        ("User is learning Rust this month", TUESDAY, date(2026, 5, 31)),
        ("User is moving next month", date(2026, 12, 2), date(2027, 1, 31)),
        ("User runs a marathon this year", TUESDAY, date(2026, 12, 31)),
        ("User is training this summer", TUESDAY, date(2026, 9, 30)),
        ("User is skiing this winter", date(2026, 12, 20), date(2027, 3, 31)),
        ("User is busy this quarter", TUESDAY, date(2026, 6, 30)),
        ("User went to Rome last week", TUESDAY, None),
        ("User has been sick since yesterday", TUESDAY, None),
        ("User is reading Dune right now", TUESDAY, None),
    ],
)
def test_the_span_a_phrase_names_ends_on_its_last_day(text: str, day: date, end: date | None) -> None:
    assert span_end(text, day) == end
