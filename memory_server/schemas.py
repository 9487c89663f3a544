"""Request models shared by every door (HTTP, MCP, CLI): the one place input is validated.

Limits that depend on settings (message count, content length, top_k) are checked by the service,
which knows the settings; what never changes is checked here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic_core import PydanticCustomError

from extractors.base import MessageRole
from memory_server import ssrf, timeutil
from memory_server.ids import MAX_ID_LENGTH, check_identifier
from memory_server.models import DeliveryStatus, FactKind, WebhookEventType

MAX_ATTRIBUTE_KEYS = 32
MAX_ATTRIBUTE_DEPTH = 3
MAX_COUNT = 1_000_000  # the ceiling of every count a caller may ask for (page size, top_k, tokens)
MAX_TTL_SECONDS = 10 * 365 * 86_400


def _has_surrogate(value: str) -> bool:
    """Lone surrogates (U+D800-U+DFFF) arrive through JSON escapes and cannot be encoded to UTF-8 to be stored."""
    return any("\ud800" <= ch <= "\udfff" for ch in value)


SURROGATE_MESSAGE = "must not contain lone surrogates (U+D800 to U+DFFF)"


def _clean_text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or only whitespace")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if _has_surrogate(value):
        raise ValueError(SURROGATE_MESSAGE)
    return value


def _check_cursor(value: str) -> str:
    if not (value.isascii() and value.isdigit() and len(value) <= 19 and int(value) < 2**63):
        raise ValueError("not a cursor this server returned")
    return value


def _check_timestamp(value: datetime) -> datetime:
    try:
        timeutil.as_utc(value)
    except OverflowError:
        raise ValueError("must be between years 1 and 9999 in UTC") from None
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(check_identifier)]
"""Every id a caller names (user, session, source, tenant, request, fact): one rule at every door."""
Text = Annotated[str, AfterValidator(_clean_text)]
"""Text people write, stripped; a length limit goes before the cleaning (`Label`), or its error speaks of items."""
Cursor = Annotated[str, AfterValidator(_check_cursor)]
"""A page position: the row id a previous page returned, 0 <= n < 2**63 (a SQLite integer)."""
Timestamp = Annotated[datetime, AfterValidator(_check_timestamp)]
"""Naive (taken as UTC) or aware, as long as its UTC value is a representable datetime."""
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
TtlSeconds = Annotated[int, Field(ge=60, le=MAX_TTL_SECONDS)]
MessageId = Annotated[int, Field(ge=1, lt=2**63, description="A stored message's id (an episode's).")]
ProjectId = Annotated[int, Field(ge=1, lt=2**63, description="A project of the caller's tenant (1: the default).")]
Label = Annotated[str, Field(max_length=200), AfterValidator(_clean_text)]
"""A name people read (an API key's)."""


def _attribute_error(path: list[str], message: str) -> PydanticCustomError:
    """`subfield` extends the error's location below `attributes` (errors.from_validation reads it)."""
    return PydanticCustomError("value_error", message, {"subfield": ".".join(path)})


def _check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_ATTRIBUTE_KEYS:
        raise ValueError(f"at most {MAX_ATTRIBUTE_KEYS} keys")

    def walk(obj: Any, path: list[str]) -> None:
        if len(path) >= MAX_ATTRIBUTE_DEPTH:
            raise ValueError(f"nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        if isinstance(obj, dict):
            for key, item in obj.items():
                if not isinstance(key, str) or not key.strip() or len(key) > 64:
                    raise ValueError("keys must be non-empty strings of at most 64 characters")
                if _has_surrogate(key):
                    raise _attribute_error(path, f"keys {SURROGATE_MESSAGE}")
                walk(item, [*path, key])
        elif isinstance(obj, list):
            for i, item in enumerate(obj):
                walk(item, [*path, str(i)])
        elif isinstance(obj, str) and _has_surrogate(obj):
            raise _attribute_error(path, SURROGATE_MESSAGE)
        elif isinstance(obj, float) and obj != obj:
            raise ValueError("NaN is not a valid value")

    walk(value, [])
    try:
        json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"must be JSON-serialisable: {exc}") from None
    return value


Attributes = Annotated[dict[str, Any], AfterValidator(_check_attributes)]


class _In(BaseModel):
    # allow_inf_nan: NaN and Infinity (which Python's JSON reader accepts) are "not a finite number", not out of range
    model_config = ConfigDict(extra="forbid", str_max_length=1_000_000, allow_inf_nan=False)


class MessageIn(_In):
    role: MessageRole
    content: Text
    created_at: Timestamp | None = None


class InteractionIn(_In):
    user_id: Identifier
    messages: list[MessageIn] = Field(min_length=1)
    session_id: Identifier | None = None
    source: Identifier | None = None
    attributes: Attributes = Field(default_factory=dict)
    user_attributes: Attributes = Field(
        default_factory=dict,
        description="Merged into the user's record (plan, country, ...); a null value removes that attribute.",
    )
    wait: bool = False


class FactIn(_In):
    """A fact stated explicitly (not extracted): stored as given, still reconciled."""

    user_id: Identifier
    content: Text
    kind: FactKind = "static"
    ttl_seconds: TtlSeconds | None = None
    source: Identifier | None = None
    attributes: Attributes = Field(default_factory=dict)
    confidence: float = Field(1.0, ge=0, le=1)

    @field_validator("ttl_seconds")
    @classmethod
    def _only_dynamic_facts_expire(cls, ttl: int | None, info: Any) -> int | None:
        if ttl is not None and info.data.get("kind", "static") == "static":
            raise ValueError('only dynamic facts expire: give "kind": "dynamic" with it, or leave it out')
        return ttl


MemoryTypes = Annotated[
    list[Literal["facts", "episodes"]],
    Field(min_length=1, max_length=2, description="What to search: facts, episodes (stored messages), or both."),
]
Roles = Annotated[
    list[MessageRole],
    Field(min_length=1, max_length=4, description="Whose messages to search as episodes; default: the config's."),
]


class ProfileIn(_In):
    user_id: Identifier
    q: Text | None = None
    threshold: float | None = Field(None, ge=0, le=1)
    top_k: Count | None = None
    max_tokens: Count | None = None
    types: MemoryTypes = Field(default_factory=lambda: ["facts", "episodes"])
    roles: Roles | None = None


class SearchIn(_In):
    user_id: Identifier
    query: Text
    threshold: float | None = Field(None, ge=0, le=1)
    top_k: Count | None = None
    types: MemoryTypes = Field(default_factory=lambda: ["facts", "episodes"])
    roles: Roles | None = None
    kind: FactKind | None = None
    source: Identifier | None = None
    attributes: Attributes | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None

    @field_validator("until")
    @classmethod
    def _until_after_since(cls, until: datetime | None, info: Any) -> datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and timeutil.as_utc(until) < timeutil.as_utc(since):
            raise ValueError("must not be before since")
        return until


class DeleteByQueryIn(_In):
    user_id: Identifier
    query: Text
    threshold: float = Field(0.85, ge=0, le=1, description="Deleting is for sure matches: high by default.")
    top_k: int = Field(10, ge=1, le=100)
    types: MemoryTypes = Field(default_factory=lambda: ["facts", "episodes"])
    roles: Roles | None = None


class EpisodeFilter(_In):
    roles: Roles | None = None
    session_id: Identifier | None = None
    limit: Count = 50
    cursor: Cursor | None = None


class RetrievalFilter(_In):
    limit: Count = 50
    cursor: Cursor | None = None


class FactFilter(_In):
    kind: FactKind | None = None
    status: Literal["active", "superseded", "expired", "deleted", "all"] = Field(
        "active", description="'all' lists every status."
    )
    source: Identifier | None = None
    limit: Count = 50
    cursor: Cursor | None = None


class ChangelogFilter(_In):
    user_id: Identifier | None = None
    request_id: Identifier | None = None
    since: Timestamp | None = None
    limit: Count = 100
    cursor: Cursor | None = None


class UserFilter(_In):
    """Filters of the user list (attribute filters come as `attr.<name>=<value>` query parameters)."""

    churn_risk_gte: float | None = Field(None, ge=0, le=1)
    churn_risk_lte: float | None = Field(None, ge=0, le=1)
    sentiment_trend: Literal["improving", "stable", "declining"] | None = None
    min_messages: int | None = Field(None, ge=0, le=MAX_COUNT, description="At least this many analysed messages.")
    segment: str | None = Field(None, max_length=100, description="Only users in this segment (its id).")
    id_prefix: str | None = Field(
        None, min_length=1, max_length=MAX_ID_LENGTH, description="Only users whose id starts with this."
    )
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1_000_000)


class UserAttributesIn(_In):
    attributes: Attributes


class ConsentIn(_In):
    remember: bool
    reason: Annotated[str, Field(max_length=1_000), AfterValidator(_clean_text)] | None = None


class TimelineFilter(_In):
    limit: Count = 50
    cursor: Cursor | None = None


WebhookUrl = Annotated[str, Field(max_length=ssrf.MAX_URL_LENGTH + 100), AfterValidator(ssrf.check_url)]
DeliveryId = Annotated[int, Field(ge=1, lt=2**63, description="A webhook delivery's id.")]


class WebhookIn(_In):
    url: WebhookUrl
    events: list[WebhookEventType] = Field(min_length=1, max_length=20, description="The event types to send.")

    @field_validator("events")
    @classmethod
    def _distinct(cls, events: list[str]) -> list[str]:
        return list(dict.fromkeys(events))


class WebhookUpdate(_In):
    enabled: StrictBool = Field(description="false: pause it (nothing is recorded or sent for it); true: resume it.")


class DeliveryFilter(_In):
    status: DeliveryStatus | None = None
    limit: Count = 50
    cursor: Cursor | None = None


SegmentName = Annotated[str, Field(max_length=100), AfterValidator(_clean_text)]


class SegmentIn(_In):
    name: SegmentName
    description: Annotated[str, Field(max_length=2_000), AfterValidator(_clean_text)] | None = None
    condition: dict[str, Any] = Field(description="See README 'Segments' for the condition language.")


class SegmentUpdate(_In):
    """Fields left out keep their value; a new condition re-evaluates every user."""

    name: SegmentName | None = None
    description: Annotated[str, Field(max_length=2_000), AfterValidator(_clean_text)] | None = None
    condition: dict[str, Any] | None = None


class MemberFilter(_In):
    limit: Count = 50
    cursor: Identifier | None = Field(None, description="The last user id of the previous page.")
