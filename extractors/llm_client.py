"""One chat-model call through litellm, with retries, token accounting and validated JSON replies.

litellm is imported on the first call, never at import time (it costs seconds and must not be paid by
a server that never uses a model), with the local cost map so that nothing is fetched.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from extractors import prompts, tokens
from extractors.base import ExtractionError, Usage
from extractors.runtime import import_litellm

T = TypeVar("T", bound=BaseModel)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


class ModelCall(BaseModel):
    """Where and how to call the model."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key: SecretStr | None = None
    temperature: float = Field(0.0, ge=0, le=2)
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0)
    retry_backoff_seconds: float = Field(1.0, ge=0)
    max_output_tokens: int = Field(2_000, ge=1)


def _count(text: str) -> int:
    return tokens.count(text)


def _response_format(call: ModelCall, schema: type[BaseModel] | None) -> dict[str, Any]:
    """Structured output (a JSON schema) where litellm knows the model supports it, else JSON mode. A new dict
    each call (litellm may adapt it in place for a provider), from what is worked out once per model and schema."""
    if schema is not None and _supports_schema(call.model):
        body = {"name": schema.__name__, "schema": json.loads(_schema_json(schema)), "strict": False}
        return {"type": "json_schema", "json_schema": body}
    return {"type": "json_object"}


@functools.cache
def _supports_schema(model: str) -> bool:
    return bool(import_litellm().supports_response_schema(model=model))


@functools.cache
def _schema_json(schema: type[BaseModel]) -> str:
    """Kept per reply model: pydantic builds the JSON schema anew on every call, 4-7 ms for the extraction reply."""
    return json.dumps(schema.model_json_schema())


async def complete(
    call: ModelCall, messages: list[dict[str, str]], usage: Usage, schema: type[BaseModel] | None = None
) -> str:
    """The reply text; timeouts, 429 and 5xx are retried with exponential backoff."""
    litellm = import_litellm()
    retryable = (
        litellm.Timeout,
        litellm.RateLimitError,
        litellm.ServiceUnavailableError,
        litellm.InternalServerError,
        litellm.APIConnectionError,
    )
    kwargs: dict[str, Any] = {
        "model": call.model,
        "messages": messages,
        "temperature": call.temperature,
        "timeout": call.timeout_seconds,
        "max_tokens": call.max_output_tokens,
        "num_retries": 0,
        "max_retries": 0,
        "response_format": _response_format(call, schema),
    }
    if call.api_base:
        kwargs["api_base"] = call.api_base
    if call.api_key is not None:
        kwargs["api_key"] = call.api_key.get_secret_value()
    for attempt in range(call.max_retries + 1):
        try:
            response = await litellm.acompletion(**kwargs)
            break
        except retryable as exc:
            usage.add(0, 0)  # a call made all the same (a provider may bill one that timed out): tokens unknown
            if attempt == call.max_retries:
                raise ExtractionError(f"{call.model}: no answer after {attempt + 1} calls: {_brief(exc)}") from None
            await asyncio.sleep(call.retry_backoff_seconds * 2**attempt)
        except litellm.APIError as exc:
            usage.add(0, 0)
            raise ExtractionError(f"{call.model}: {_brief(exc)}") from None
    text = (response.choices[0].message.content or "") if response.choices else ""
    reported = getattr(response, "usage", None)
    prompt_tokens = getattr(reported, "prompt_tokens", 0) or _count("\n".join(m["content"] for m in messages))
    completion_tokens = getattr(reported, "completion_tokens", 0) or _count(text)
    usage.add(prompt_tokens, completion_tokens)
    return text


def _brief(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc).splitlines()[0][:500]


def parse_json(text: str, schema: type[T]) -> T:
    """Validate a JSON object that may arrive wrapped in code fences or prose."""
    candidate = text.strip()
    fenced = _FENCE.search(candidate)
    if fenced:
        candidate = fenced.group(1).strip()
    start = candidate.find("{")
    if start < 0:
        raise ValueError("the reply holds no JSON object" if candidate else "the reply is empty")
    try:  # the first object, whatever prose (with braces of its own) comes after it
        data, _ = json.JSONDecoder().raw_decode(candidate, start)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise ValueError("invalid JSON (nested too deeply)") from None
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {first['msg']}" if where else first["msg"]) from None


async def complete_json(call: ModelCall, messages: list[dict[str, str]], schema: type[T], usage: Usage) -> T:
    """Ask for JSON; an unusable reply gets one repair attempt, then fails with the raw reply kept."""
    text = await complete(call, messages, usage, schema)
    try:
        return parse_json(text, schema)
    except ValueError as first_error:
        repair = [
            *messages,
            {"role": "assistant", "content": text},
            {"role": "user", "content": prompts.REPAIR.format(error=first_error)},
        ]
        text = await complete(call, repair, usage, schema)
        try:
            return parse_json(text, schema)
        except ValueError as exc:
            raise ExtractionError(f"{call.model} replied with unusable output twice: {exc}", raw=text) from None
