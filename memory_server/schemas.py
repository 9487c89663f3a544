"""Request models shared by every door (HTTP, MCP, CLI): the one place input is validated.

Limits that depend on settings (message count, content length, top_k) are checked by the service,
which knows the settings; what never changes is checked here.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from memory_server.models import FactKind

MAX_ATTRIBUTE_KEYS = 32
MAX_ATTRIBUTE_DEPTH = 3


def _clean_identifier(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _clean_text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty or only whitespace")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Identifier = Annotated[str, Field(max_length=256), AfterValidator(_clean_identifier)]
Text = Annotated[str, AfterValidator(_clean_text)]


def _check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_ATTRIBUTE_KEYS:
        raise ValueError(f"at most {MAX_ATTRIBUTE_KEYS} keys")

    def depth(obj: Any, level: int) -> None:
        if level > MAX_ATTRIBUTE_DEPTH:
            raise ValueError(f"nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
        if isinstance(obj, dict):
            for key, item in obj.items():
                if not isinstance(key, str) or not key.strip() or len(key) > 64:
                    raise ValueError("keys must be non-empty strings of at most 64 characters")
                depth(item, level + 1)
        elif isinstance(obj, list):
            for item in obj:
                depth(item, level + 1)
        elif isinstance(obj, float) and obj != obj:
            raise ValueError("NaN is not a valid value")

    depth(value, 1)
    try:
        json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"must be JSON-serialisable: {exc}") from None
    return value


Attributes = Annotated[dict[str, Any], AfterValidator(_check_attributes)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1_000_000)


class MessageIn(_In):
    role: Literal["user", "assistant", "system", "tool"]
    content: Text
    created_at: datetime | None = None


class InteractionIn(_In):
    user_id: Identifier
    messages: list[MessageIn] = Field(min_length=1)
    session_id: Identifier | None = None
    source: Identifier | None = None
    attributes: Attributes = Field(default_factory=dict)
    wait: bool = False


class FactIn(_In):
    """A fact stated explicitly (not extracted): stored as given, still reconciled."""

    user_id: Identifier
    content: Text
    kind: FactKind = "static"
    ttl_seconds: int | None = Field(None, ge=60, le=10 * 365 * 86_400)
    source: Identifier | None = None
    attributes: Attributes = Field(default_factory=dict)
    confidence: float = Field(1.0, ge=0, le=1)


class ProfileIn(_In):
    user_id: Identifier
    q: Text | None = None
    threshold: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)


class SearchIn(_In):
    user_id: Identifier
    query: Text
    threshold: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=1)
    kind: FactKind | None = None
    source: Identifier | None = None
    attributes: Attributes | None = None
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("until")
    @classmethod
    def _until_after_since(cls, until: datetime | None, info: Any) -> datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and until < since:
            raise ValueError("must not be before since")
        return until


class DeleteByQueryIn(_In):
    user_id: Identifier
    query: Text
    threshold: float = Field(0.75, ge=0, le=1)
    top_k: int = Field(10, ge=1, le=100)


class FactFilter(_In):
    kind: FactKind | None = None
    status: Literal["active", "superseded", "expired", "deleted", "all"] = Field(
        "active", description="'all' lists every status."
    )
    source: Identifier | None = None
    limit: int = Field(50, ge=1)
    cursor: str | None = None


class ChangelogFilter(_In):
    user_id: Identifier | None = None
    request_id: Identifier | None = None
    since: datetime | None = None
    limit: int = Field(100, ge=1)
    cursor: str | None = None
