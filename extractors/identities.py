"""Identifiers a user states as theirs (emails, phone numbers, handles), read with regular expressions.

An identity is stored as a static fact whose `identity` says what it identifies, so that supersede, history,
the change log, forgetting and purging treat it like any fact. Its topic makes a newer identifier of the same
type (and label: "work email") replace the older one; a user who says they have another one ("my other email",
"also") gets a topic-less fact kept beside the first. Both extractors go through `identity_fact`, so the
content, the normalised value and the topic never depend on which extractor found it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from extractors.base import CandidateFact, Identity, IdentityType

_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_PHONE = r"\+?\(?\d[\d\s().-]{5,18}\d"
_HANDLE = r"@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,38}[A-Za-z0-9_])?|https?://[^\s,;]+"
_VALUE = rf"(?P<value>{_EMAIL}|{_HANDLE}|{_PHONE})"
_LABEL = r"(?:(?P<label>work|personal|private|home|business|office|mobile|cell)\s+)?"
_SEVERAL = r"(?P<several>other|second|another|new|backup|alternate|secondary)\s+"
_PLATFORM = r"twitter|x|instagram|github|gitlab|linkedin|telegram|mastodon|tiktok|bluesky|discord|slack"
_NOUN = (
    r"(?P<noun>e-?mail(?:\s+address)?|phone(?:\s+number)?|(?:phone\s+|mobile\s+|cell\s+)?number|mobile|cell"
    rf"|handle|username|user\s+name|website|site|blog|profile|(?P<platform>{_PLATFORM})(?:\s+(?:handle|profile))?)"
)
_STATED = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # "my (other) (work) email is x", "my phone number: x", "my github is x"
        rf"\bmy\s+(?:{_SEVERAL})?{_LABEL}{_NOUN}\s*(?:is|'s|:|=)\s*(?:now\s+)?{_VALUE}",
        # "I changed my email, it's x now", "my number changed to x": a new one, which replaces the old
        rf"\bi(?:'ve|\s+have)?\s+(?:changed|updated|switched)\s+my\s+{_LABEL}{_NOUN}\s*(?:[,;:-]\s*|\s+to\s+)"
        rf"(?:(?:it's|it\s+is|the\s+new\s+one\s+is)\s+)?(?:now\s+)?{_VALUE}",
        rf"\bmy\s+{_LABEL}{_NOUN}\s+(?:has\s+)?changed\s*(?:to|:|,\s*it's|,\s*it\s+is)\s*(?:now\s+)?{_VALUE}",
        # "email me at x", "you can reach me on x"
        rf"\b(?:e-?mail|call|text|reach|contact|find|ping|message|dm|follow)\s+me\s+(?:at|on|via)\s+{_VALUE}",
        # "I'm @ana on twitter"
        rf"\bi(?:'m|\s+am)\s+{_VALUE}\s+on\s+(?P<platform>{_PLATFORM})\b",
    )
]
_ALSO = re.compile(r"\b(?:also|another|second|other)\b", re.IGNORECASE)
_TOO = re.compile(r"\s*(?:too|as well)\b", re.IGNORECASE)
_NOUN_TYPES = {"e": "email", "p": "phone", "n": "phone", "m": "phone", "c": "phone"}
_LABELS = {"private": "personal", "business": "work", "office": "work", "cell": "mobile"}


def _type_of(value: str) -> IdentityType:
    if re.fullmatch(_EMAIL, value):
        return "email"
    if value.startswith("@") or value.lower().startswith("http"):
        return "handle"
    return "phone"


def normalise(identity: Identity) -> Identity:
    """One spelling per identifier: emails in lower case, phones as + and digits, handles and URLs as written
    without trailing punctuation."""
    value = identity.value.strip().rstrip(".,;:!?)")
    if identity.type == "email":
        value = value.lower()
    elif identity.type == "phone":
        value = ("+" if value.startswith("+") else "") + re.sub(r"\D", "", value)
    return Identity(type=identity.type, value=value)


_SUBJECT = {"email": "email", "phone": "phone number", "handle": "handle"}


def identity_fact(
    identity: Identity,
    *,
    label: str | None = None,
    several: bool = False,
    confidence: float = 0.95,
    content: str | None = None,
    message_indexes: list[int] | None = None,
) -> CandidateFact:
    """The static fact stating `identity` ("User's work email is ana@x.org"), on the topic that makes a newer one
    of the same type and label replace it; `several` (the user has more than one) leaves the topic out."""
    identity = normalise(identity)
    label = _LABELS.get((label or "").lower(), (label or "").lower()) or None
    subject = f"{label} {_SUBJECT[identity.type]}" if label else _SUBJECT[identity.type]
    topic = None if several else ":".join(["identity", identity.type, *([label] if label else [])])
    return CandidateFact(
        content=content or f"User's {subject} is {identity.value}",
        kind="static",
        confidence=confidence,
        topic=topic,
        identity=identity,
        message_indexes=message_indexes or [],
    )


def _group(match: re.Match[str], name: str) -> str | None:
    return match.groupdict().get(name)


def stated(text: str) -> Iterator[CandidateFact]:
    """The identifiers `text` states as its author's ("my email is ...", "call me at ...", "I'm @ana on ...")."""
    for match in sorted((m for p in _STATED for m in p.finditer(text)), key=lambda m: m.start()):
        value = match["value"]
        noun = (_group(match, "noun") or "").lower()
        kind = _type_of(value)
        if kind == "phone" and (len(re.sub(r"\D", "", value)) < 7 or (noun and _NOUN_TYPES.get(noun[0]) != "phone")):
            continue  # a number that is too short to dial, or one given as a handle or an email
        before = text[text.rfind(".", 0, match.start()) + 1 : match.start()]
        several = (_group(match, "several") or "new").lower() != "new"
        yield identity_fact(
            Identity(type=kind, value=value),
            label=_group(match, "platform") or _group(match, "label"),
            several=several or bool(_ALSO.search(before) or _TOO.match(text, match.end())),
        )
