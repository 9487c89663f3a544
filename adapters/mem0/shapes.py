"""mem0's platform shapes, read from the `mem0ai` client (2.x): what its `MemoryClient` sends and what it
reads back. A mem0 memory is one of our facts (same id); its `metadata` is the fact's attributes.

Requests are lenient the way the platform is (the client sends options we have no use for, such as
`rerank`, `fields` or `custom_categories`), but an entity we cannot honour (`agent_id`, `app_id`, or a
filter on anything but the user) is refused by name rather than ignored, so memories never mix.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from memory_server.errors import InvalidInput, problem
from memory_server.models import Change, Fact, Job, MessageRole, SearchHit
from memory_server.schemas import Attributes, Count, Identifier, Text

QUEUED = "Memory processing has been queued for background execution"
UNSUPPORTED_ENTITIES = ("agent_id", "app_id")
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class MessageIn(_Lenient):
    role: MessageRole = "user"
    content: Text


class AddIn(_Lenient):
    """`POST /v3/memories/add/`: the entity comes top-level (`user_id=`) or in `filters`."""

    messages: list[MessageIn] = Field(min_length=1)
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: Identifier | None = None
    filters: dict[str, Any] | None = None
    metadata: Attributes | None = None
    infer: bool = True
    async_mode: bool = True
    timestamp: int | float | None = Field(None, ge=0, le=253402300799, description="Epoch seconds of the messages.")


class SearchIn(_Lenient):
    """`POST /v3/memories/search/`."""

    query: Text
    filters: dict[str, Any] | None = None
    top_k: Count | None = None
    threshold: float | None = Field(None, ge=0, le=1)


class ListIn(_Lenient):
    """`POST /v3/memories/` (get_all); `page` and `page_size` come as query parameters."""

    filters: dict[str, Any] | None = None


class UpdateIn(_Lenient):
    """`PUT /v1/memories/{id}/`."""

    text: Text | None = None
    metadata: Attributes | None = None
    timestamp: int | float | str | None = None
    expiration_date: str | None = None


def user_of(filters: dict[str, Any] | None, user_id: str | None = None, *, field: str = "filters") -> str:
    """The one user a request is about: `user_id`, `filters.user_id`, or a user_id inside `filters.AND`."""
    found: list[tuple[str, Any]] = []
    if user_id is not None:
        found.append(("user_id", user_id))
    for path, key, value in _entities(filters or {}, field):
        if key != "user_id":
            raise InvalidInput(f"{path}: only user_id can be filtered on here (one user's memories)", field=path)
        found.append((path, value))
    if not found:
        raise InvalidInput(f"{field}.user_id: field required (whose memories?)", field=f"{field}.user_id")
    values = {v for _, v in found}
    if len(values) > 1:
        raise InvalidInput(f"{field}.user_id: name one user", field=f"{field}.user_id")
    path, value = found[0]
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(f"{path}: {problem(exc.errors()[0])}", field=path) from None


def _entities(filters: dict[str, Any], path: str) -> list[tuple[str, str, Any]]:
    """(path, key, value) of each condition; `AND` lists are flattened, anything else is a single condition."""
    out = []
    for key, value in filters.items():
        here = f"{path}.{key}"
        if key == "AND" and isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise InvalidInput(f"{here}.{i}: must be an object", field=f"{here}.{i}")
                out += _entities(item, f"{here}.{i}")
        else:
            out.append((here, key, value))
    return out


def check_entities(body: AddIn) -> None:
    for name in UNSUPPORTED_ENTITIES:
        if getattr(body, name) is not None:
            raise InvalidInput(f"{name}: not supported; memories belong to a user_id", field=name)


def message_time(body: AddIn) -> datetime | None:
    return None if body.timestamp is None else datetime.fromtimestamp(body.timestamp, UTC)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def memory(fact: Fact | SearchHit, user_id: str | None = None) -> dict[str, Any]:
    """A fact (or a fact found by a search, with its score) as a mem0 memory."""
    out: dict[str, Any] = {
        "id": fact.id,
        "memory": fact.content,
        "user_id": fact.user_id if isinstance(fact, Fact) else user_id,
        "agent_id": None,
        "app_id": None,
        "run_id": None,
        "hash": hashlib.md5(fact.content.encode()).hexdigest(),
        "metadata": fact.attributes or None,
        "categories": [],
        "immutable": False,
        "expiration_date": fact.expires_at.date().isoformat() if fact.expires_at else None,
        "created_at": _time(fact.created_at),
        "updated_at": _time(fact.updated_at),
    }
    if isinstance(fact, SearchHit):
        out["score"] = fact.score
    return out


def queued(job: Job) -> dict[str, Any]:
    return {"results": [{"message": QUEUED, "status": "PENDING", "event_id": job.request_id}]}


def processed(job: Job) -> dict[str, Any]:
    """What a finished add did, as mem0's synchronous answer: one entry per memory added, updated or deleted."""
    changes = job.changes
    results: list[dict[str, Any]] = []
    if changes is not None:
        results += [{"id": f.id, "event": "ADD", "memory": f.content} for f in changes.added]
        results += [
            {"id": u.after.id, "event": "UPDATE", "memory": u.after.content, "previous_memory": u.before.content}
            for u in changes.updated
        ]
        results += [{"id": f.id, "event": "DELETE", "memory": f.content} for f in changes.removed]
    return {"results": results}


_EVENTS = {"add": "ADD", "update": "UPDATE", "delete": "DELETE", "expire": "DELETE"}


def history(changes: list[Change]) -> list[dict[str, Any]]:
    """Change-log rows of a fact's versions as mem0 history entries (a supersede is told by its update row)."""
    out = []
    for change in changes:
        event = _EVENTS.get(change.event)
        if event is None:
            continue
        before, after = change.before or {}, change.after or {}
        out.append(
            {
                "id": str(change.id),
                "memory_id": change.fact_id,
                "input": [],
                "old_memory": before.get("content"),
                "new_memory": None if event == "DELETE" else after.get("content"),
                "user_id": change.user_id,
                "event": event,
                "metadata": after.get("attributes") or before.get("attributes") or None,
                "categories": [],
                "created_at": _time(change.created_at),
                "updated_at": _time(change.created_at),
            }
        )
    return out
