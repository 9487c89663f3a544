"""Reflexio's request and response shapes, as its Python client (`reflexio-client`) sends and reads them.

Requests are lenient the way the client needs: it sends every field of its models, nulls and defaults
included, so fields this server has no use for (playbooks, image data, search modes) are accepted and ignored,
and fields newer clients add are ignored too. Ids and text that are stored pass the same checks as at /v1.
Responses are plain dicts in the client's view models; times are epoch seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from extractors.base import MessageRole
from memory_server.models import Fact, SearchHit
from memory_server.schemas import Identifier, Timestamp

#: Reflexio's "never expires" expiration_timestamp (2100-01-01 UTC).
NEVER_EXPIRES = 4102444800
#: The name every profile and the one profile extractor carry: this server runs one extraction config per tenant.
EXTRACTOR_NAME = "default_profile_extractor"
#: Reflexio's profile lifetimes, shortest first.
TIME_TO_LIVE = (
    ("one_day", 86_400),
    ("one_week", 7 * 86_400),
    ("one_month", 30 * 86_400),
    ("one_quarter", 91 * 86_400),
    ("one_year", 365 * 86_400),
)
_ROLES: dict[str, MessageRole] = {"user": "user", "assistant": "assistant", "system": "system", "tool": "tool"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class InteractionData(_Lenient):
    role: MessageRole = "user"
    content: str | None = ""
    created_at: int | None = None

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> Any:
        """Reflexio writes roles capitalised ("User", "Assistant")."""
        if value is None:
            return "user"
        if isinstance(value, str) and value.strip().lower() in _ROLES:
            return _ROLES[value.strip().lower()]
        raise ValueError('must be "User", "Assistant", "System" or "Tool"')

    @field_validator("created_at")
    @classmethod
    def _epoch(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value < 253402300800:  # before year 10000
            raise ValueError("must be epoch seconds between 1970 and 9999")
        return value

    def sent_at(self) -> datetime | None:
        return None if self.created_at is None else datetime.fromtimestamp(self.created_at, UTC)


class PublishRequest(_Lenient):
    user_id: Identifier
    interaction_data_list: list[InteractionData] = Field(min_length=1)
    source: str | None = ""
    session_id: str | None = None


class SearchRequest(_Lenient):
    user_id: Identifier
    query: str | None = None
    generated_from_request_id: str | None = None
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    top_k: int | None = Field(10, gt=0)
    source: str | None = None
    custom_feature: str | None = None
    extractor_name: str | None = None
    threshold: float | None = Field(0.4, ge=0, le=1)


class GetProfilesRequest(_Lenient):
    user_id: Identifier
    start_time: Timestamp | None = None
    end_time: Timestamp | None = None
    top_k: int | None = Field(30, gt=0)
    status_filter: list[str | None] | None = None

    @field_validator("status_filter")
    @classmethod
    def _statuses(cls, value: list[str | None] | None) -> list[str | None] | None:
        known = {None, "archived", "pending", "archive_in_progress"}
        bad = next((s for s in value or [] if s not in known), "")
        if bad != "":
            raise ValueError(f"unknown status {bad!r}: use null (current), archived or pending")
        return value


class DeleteRequest(_Lenient):
    user_id: Identifier
    profile_id: Identifier | Literal[""] | None = ""
    search_query: str | None = ""


def time_to_live(created_at: datetime, expires_at: datetime | None) -> str:
    """The shortest Reflexio lifetime that covers the fact's (a minute of slack for rounding)."""
    if expires_at is None:
        return "infinity"
    lifetime = (expires_at - created_at).total_seconds()
    return next((name for name, seconds in TIME_TO_LIVE if lifetime <= seconds + 60), "infinity")


def _profile(
    *,
    profile_id: str,
    user_id: str,
    content: str,
    updated_at: datetime,
    created_at: datetime,
    expires_at: datetime | None,
    request_id: str | None,
    attributes: dict[str, Any],
    source: str | None,
    status: str,
) -> dict[str, Any]:
    return {
        "profile_id": profile_id,
        "user_id": user_id,
        "content": content,
        "last_modified_timestamp": int(updated_at.timestamp()),
        "generated_from_request_id": request_id or "",
        "profile_time_to_live": time_to_live(created_at, expires_at),
        "expiration_timestamp": NEVER_EXPIRES if expires_at is None else int(expires_at.timestamp()),
        "custom_features": attributes or None,
        "source": source,
        "status": None if status == "active" else "archived",  # Reflexio: null is current
        "extractor_names": [EXTRACTOR_NAME],
    }


def fact_view(fact: Fact) -> dict[str, Any]:
    """A fact as Reflexio's ProfileView."""
    return _profile(
        profile_id=fact.id,
        user_id=fact.user_id,
        content=fact.content,
        updated_at=fact.updated_at,
        created_at=fact.created_at,
        expires_at=fact.expires_at,
        request_id=fact.request_id,
        attributes=fact.attributes,
        source=fact.source,
        status=fact.status,
    )


def hit_view(user_id: str, hit: SearchHit) -> dict[str, Any]:
    """A fact found by search (a live one) as Reflexio's ProfileView."""
    return _profile(
        profile_id=hit.id,
        user_id=user_id,
        content=hit.content,
        updated_at=hit.updated_at or hit.created_at,
        created_at=hit.created_at,
        expires_at=hit.expires_at,
        request_id=hit.request_id,
        attributes=hit.attributes,
        source=hit.source,
        status="active",
    )
