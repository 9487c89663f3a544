"""The days a message speaks of, as keyword tokens, so "what did I do on March 2?" finds what was said then.

A message is about the day it was sent and about each day its relative phrases name ("yesterday", "on
Saturday", "last week"), resolved with the rules extractor's conventions (`extractors.dates`; a weekday is
read both ways, as the tense is not parsed here). Each day becomes tokens in the keyword index's `dates`
column: `d20240302` (the day), `md0302` (that day in any year), `m202403` (the month), `mo03` (the month in
any year). A question's explicit dates ("March 2", "the 15th of June", "in May 2024", "2024-05-13") become
the same tokens, so a date in a question matches whatever words the message used.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from extractors import dates
from memory_server import timeutil

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")  # fmt: skip
_MONTH = "|".join(_MONTHS) + "|" + "|".join(m[:3] for m in _MONTHS if m != "may")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SPAN = re.compile(r"the (week|weekend) of (\d{4})-(\d{2})-(\d{2})")
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.? (\d{{4}})\b", re.IGNORECASE)
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)?"
_MONTH_DAY = re.compile(rf"\b({_MONTH})\.? (?:the )?{_ORDINAL}\b(?:,? (\d{{4}}))?", re.IGNORECASE)
_DAY_MONTH = re.compile(rf"\b(?:the )?{_ORDINAL} (?:of )?({_MONTH})\b\.?(?:,? (\d{{4}}))?", re.IGNORECASE)
_IN_MONTH = re.compile(rf"\b(?:in|during|since|through) ({_MONTH})\b(?:,? (\d{{4}}))?", re.IGNORECASE)


def _month(name: str) -> int:
    return next(i for i, m in enumerate(_MONTHS, 1) if m.startswith(name.lower()[:3]))


def _day_tokens(day: date) -> set[str]:
    return {f"d{day:%Y%m%d}", f"md{day:%m%d}", f"m{day:%Y%m}", f"mo{day:%m}"}


def message_tokens(content: str, sent: datetime) -> str:
    """The tokens of every day a message sent at `sent` speaks of: days of the sender's calendar when `sent` carries
    their UTC offset."""
    day = sent.date() if sent.tzinfo is not None else timeutil.as_utc(sent).date()
    days, months = {day}, set()
    for past in (True, False):
        resolved = dates.resolve(content, day, past)
        for kind, *ymd in _SPAN.findall(resolved):
            start = date(*map(int, ymd))
            length = min(7 if kind == "week" else 2, (date.max - start).days + 1)  # none past 9999-12-31
            days.update(start + timedelta(i) for i in range(length))
        days.update(date(*map(int, ymd)) for ymd in _ISO.findall(resolved))
        months.update((int(year), _month(name)) for name, year in _MONTH_YEAR.findall(resolved))
    tokens = set().union(*map(_day_tokens, days))
    tokens.update(t for year, month in months for t in (f"m{year}{month:02d}", f"mo{month:02d}"))
    return " ".join(sorted(tokens))


def query_tokens(query: str) -> list[str]:
    """The tokens of the explicit dates in a question (none for "when …?" questions, which name no date)."""
    found: set[str] = {f"d{y}{m}{d}" for y, m, d in _ISO.findall(query)}
    for match in (*_MONTH_DAY.finditer(query), *_DAY_MONTH.finditer(query)):
        groups = match.groups()
        name, number, year = groups if groups[0][0].isalpha() else (groups[1], groups[0], groups[2])
        day = int(number)
        if 1 <= day <= 31:
            month = _month(name)
            found.add(f"d{year}{month:02d}{day:02d}" if year else f"md{month:02d}{day:02d}")
    for name, year in _IN_MONTH.findall(query):
        found.add(f"m{year}{_month(name):02d}" if year else f"mo{_month(name):02d}")
    return sorted(found)
