"""Domain errors. Each carries its HTTP status and a stable code; every door renders them the same way."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any


class ServiceError(Exception):
    """Base of the errors a caller can act on."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidInput(ServiceError):
    status = 422
    code = "invalid_input"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"


class Misconfigured(ServiceError, ValueError):
    """A setting of the server itself is wrong (found at start-up, or when a part it names is built)."""

    status = 503
    code = "misconfigured"


class ModelUnavailable(ServiceError):
    """The chat model failed or could not be reached, after its retries."""

    status = 502
    code = "model_unavailable"


class UnknownName(ServiceError):
    """A parameter names something that does not exist (a profile section); the message lists what does."""

    status = 400
    code = "unknown_name"


class InvalidJson(ServiceError):
    status = 400
    code = "invalid_json"


_LOCATIONS = {"body", "query", "path", "header", "cookie"}
_UNION_MEMBER = re.compile(r"^[a-z-]+\[.*\]$")  # pydantic names union members in loc, e.g. "function-after[...]"


def field_path(loc: Sequence[Any], subfield: str = "") -> str | None:
    """('body', 'messages', 0, 'content') -> 'messages.0.content'; `subfield` goes below it."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and _UNION_MEMBER.match(p))]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    if subfield:
        parts.append(subfield)
    return ".".join(parts) or None


def problem(error: Mapping[str, Any]) -> str:
    """What a pydantic error says, without the "Value error, " our own checks' messages would start with."""
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ") if error.get("type") == "value_error" else message


def from_validation(errors: Sequence[Mapping[str, Any]]) -> ServiceError:
    """The first problem of a pydantic validation, worded once for every door: `field: problem`."""
    first = errors[0]
    if first.get("type") == "json_invalid":
        return InvalidJson(f"request body is not valid JSON: {first.get('msg')}")
    field = field_path(first.get("loc", ()), (first.get("ctx") or {}).get("subfield", ""))
    message = problem(first)
    if first.get("type") == "missing":
        message = "field required" if field else "request body required"
    elif first.get("type") == "extra_forbidden":
        message = "unknown field"
    elif not field and first.get("type") in ("model_attributes_type", "dict_type"):  # a body that is no object
        message = "request body must be a JSON object (sent with content-type: application/json)"
    return InvalidInput(f"{field}: {message}" if field else message, field=field)


def check_json_size(value: object, limit: int, field: str) -> None:
    """Refuse a value bigger than `limit` bytes as JSON (attributes are stored, and returned, whole)."""
    if len(json.dumps(value, ensure_ascii=False).encode()) > limit:
        raise PayloadTooLarge(f"{field}: at most {limit} bytes as JSON", field=field)


def check_page_size(limit: int, most: int) -> None:
    """Refuse a page bigger than `limits.max_page_size` (the same rule at every list)."""
    if limit > most:
        raise InvalidInput(f"limit: at most {most}", field="limit")
