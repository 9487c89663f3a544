"""Relative time phrases in a fact become absolute dates, resolved against the day of the message.

"Yesterday I went to the support group", sent on 2026-05-05, is stored as "User went to the support
group on 2026-05-04": a fact read next month must still say when it happened. The conventions:

- A date is ISO `YYYY-MM-DD`: unambiguous, it sorts, and a keyword search for the day finds it.
- The day is the date of `Message.created_at` in its own offset, which the server stores as UTC: the
  user's time zone is not known, so a message sent at 01:00 in Berlin speaks from the day before.
- A day ("yesterday", "tonight", "two days ago") is exact: "on <date>".
- A weekday is the nearest one strictly before the message's day after "last" or in a past-tense
  clause ("on Friday I went"), else the nearest one strictly after ("next Friday", "I fly on Friday"):
  "last Monday" said on a Monday is a week earlier.
- "N weeks ago" is "around <date>", as the speaker rounded; "N months ago" and "last/this/next month"
  are "in <Month YYYY>"; "N years ago" and "last/this/next year" are "in <YYYY>".
- A week is "the week of <its Monday>"; a weekend is "the weekend of <its Saturday>", "this weekend"
  being the one that ends on or after the message's day.
- After "since", "until", "by" and the like the preposition stays and "on"/"in" go: "since 2026-05-04"; a bare
  weekday is a date there too ("until Friday"), the one before after "since".
- `span_end` gives the last day of the span a phrase names ("this weekend": its Sunday; "this month"; "until
  Friday"; "this summer": the end of September, as late as a northern summer ends): a fact that holds for that
  span expires at its end.
- Vague phrases ("a few days ago", "this summer") and states of now ("currently", "lately") stay words.
"""

from __future__ import annotations

import re
from datetime import MAXYEAR, MINYEAR, date, timedelta

from extractors import cues

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def resolve(text: str, day: date, past: bool = False) -> str:
    """`text` with each relative date replaced by the absolute one it names when said on `day`."""
    return cues.DATE_PHRASE.sub(lambda match: _absolute(match, day, past), text)


def _absolute(match: re.Match[str], day: date, past: bool) -> str:
    try:
        when = _when(match, day, past)
    except (OverflowError, ValueError):  # a date before year 1 or after 9999: left as said
        return match[0]
    if match["prep"]:
        return f"{match['prep']} {re.sub(r'^(?:on|in) ', '', when)}"
    return when


def _when(match: re.Match[str], day: date, past: bool) -> str:
    if match["day"]:
        return f"on {day + timedelta(cues.DAY_OFFSETS[match['day'].lower()])}"
    if match["weekday"]:
        return f"on {_weekday(match, day, past)}"
    if match["unit"]:
        count = match["count"].lower()
        n = int(count) if count.isdigit() else cues.COUNTS[count]
        unit = match["unit"].lower()
        if unit == "day":
            return f"on {day - timedelta(days=n)}"
        if unit == "week":
            return f"around {day - timedelta(weeks=n)}"
        return f"in {_month(day, -n)}" if unit == "month" else f"in {_year(day.year - n)}"
    shift, span = cues.SHIFTS[match["shift"].lower()], match["span"].lower()
    if span == "week":
        return f"the week of {day + timedelta(7 * shift - day.weekday())}"
    if span == "weekend":
        return f"the weekend of {day + timedelta(7 * shift + 5 - day.weekday())}"
    return f"in {_month(day, shift)}" if span == "month" else f"in {_year(day.year + shift)}"


def _weekday(match: re.Match[str], day: date, past: bool) -> date:
    target, which = cues.WEEKDAYS.index(match["weekday"].lower()), (match["which"] or "").lower()
    if which == "last" or (match["prep"] or "").lower() == "since" or (past and which != "next"):
        return day - timedelta((day.weekday() - target - 1) % 7 + 1)
    return day + timedelta((target - day.weekday() - 1) % 7 + 1)


def span_end(text: str, day: date, past: bool = False) -> date | None:
    """The last day of the latest span of time `text` names that is not over on `day` ("this weekend": its Sunday),
    or None: a fact that holds for that span expires when its last day does, not after a fixed time."""
    ends = [_end(match, day, past) for match in cues.DATE_PHRASE.finditer(text)]
    if not past:  # "this summer" in a past clause is the one just gone
        ends += [_season_end(match["season"].lower(), day) for match in cues.SEASON_PHRASE.finditer(text)]
    return max((end for end in ends if end is not None and end >= day), default=None)


def _end(match: re.Match[str], day: date, past: bool) -> date | None:
    try:
        if match["day"]:
            return day + timedelta(cues.DAY_OFFSETS[match["day"].lower()])
        if match["weekday"]:
            return _weekday(match, day, past)
        if match["unit"]:
            return None  # "two days ago" is over
        shift, span = cues.SHIFTS[match["shift"].lower()], match["span"].lower()
        if span in {"week", "weekend"}:
            return day + timedelta(7 * shift + 6 - day.weekday())  # both end on a Sunday
        if span == "month":
            return _last_day(day.year, day.month + shift)
        return date(day.year + shift, 12, 31)
    except (OverflowError, ValueError):
        return None


def _season_end(season: str, day: date) -> date | None:
    """The last day of the quarter `day` is in, or of the season that ends next."""
    try:
        if season == "quarter":
            return _last_day(day.year, (day.month - 1) // 3 * 3 + 3)
        end = _last_day(day.year, cues.SEASON_LAST_MONTH[season])
        return end if end >= day else _last_day(day.year + 1, cues.SEASON_LAST_MONTH[season])
    except (OverflowError, ValueError):
        return None


def _last_day(year: int, month: int) -> date:
    """The last day of `month` of `year` (a month past 12 is in the years after)."""
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(1)


def _month(day: date, shift: int) -> str:
    """'<Month> <YYYY>' of the month `shift` months from `day`'s."""
    index = day.year * 12 + day.month - 1 + shift
    return f"{_MONTHS[index % 12]} {_year(index // 12)}"


def _year(year: int) -> int:
    if not MINYEAR <= year <= MAXYEAR:
        raise ValueError(f"year {year} is out of range")
    return year
