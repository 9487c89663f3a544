"""The one small interface every extractor implements, and the registry that builds them by name.

Built-in extractors register through `register`, the same path a third-party one would take.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

FactKind = Literal["static", "dynamic"]


class Message(BaseModel):
    """One message of a conversation as the extractor sees it."""

    model_config = ConfigDict(frozen=True)

    role: Literal["user", "assistant", "system", "tool"]
    content: str
    created_at: datetime


class CandidateFact(BaseModel):
    """A fact an extractor proposes; reconciliation decides whether it is stored."""

    content: str = Field(min_length=1, description="Third person, self-contained: 'User is a nurse'.")
    kind: FactKind
    ttl_seconds: int | None = Field(
        default=None, ge=1, description="Lifetime of a dynamic fact; None takes the configured default."
    )
    confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    topic: str | None = Field(
        default=None,
        description="A slot such as 'location' or 'occupation': a newer fact on the same topic "
        "supersedes the older one.",
    )
    message_indexes: list[int] = Field(
        default_factory=list, description="Positions in the input messages this fact came from."
    )


class Usage(BaseModel):
    """Model calls and tokens spent on one request, added to by every call that makes one."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    def include(self, other: Usage) -> None:
        """Add what another count spent (an extraction that ran in a worker process)."""
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


class ExtractionError(Exception):
    """Extraction failed visibly; `raw` keeps the model's last reply for inspection."""

    def __init__(self, message: str, raw: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw


class ExtractionContext(BaseModel):
    """What an extractor may know besides the messages, and where it reports what it spent."""

    user_id: str
    now: datetime
    options: dict[str, Any] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)


@runtime_checkable
class Extractor(Protocol):
    """Turns messages into candidate facts. Must not write anything itself.

    Capability: an extractor that computes rather than waits (regexes, a local model) sets
    `cpu_bound = True`; the server then runs it in a worker process, so it must be picklable.
    """

    name: str

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> list[CandidateFact]:
        """Return the candidate facts found in `messages` (empty for chit-chat)."""
        ...


ExtractorFactory = Callable[[dict[str, Any]], Extractor]
_REGISTRY: dict[str, ExtractorFactory] = {}


def register(name: str, factory: ExtractorFactory) -> None:
    """Make an extractor available under `name` in the config."""
    _REGISTRY[name] = factory


def available() -> list[str]:
    """Names of the registered extractors."""
    _load_builtins()
    return sorted(_REGISTRY)


def create_extractor(name: str, options: dict[str, Any] | None = None) -> Extractor:
    """Build the extractor registered as `name`."""
    _load_builtins()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown extractor {name!r}: choose one of {', '.join(sorted(_REGISTRY))}") from None
    return factory(options or {})


def is_cpu_bound(extractor: Extractor) -> bool:
    """Whether the extractor declared `cpu_bound = True` (absent means it waits on I/O, like `llm`)."""
    return bool(getattr(extractor, "cpu_bound", False))


def extract_blocking(
    extractor: Extractor, messages: Sequence[Message], context: ExtractionContext
) -> tuple[list[CandidateFact], Usage]:
    """Run one extraction to the end in this thread (a worker process); return the usage too, because
    the caller's context is not this copy."""
    return asyncio.run(extractor.extract(messages, context)), context.usage


def _load_builtins() -> None:
    """Importing the built-in modules registers them (litellm itself is imported only on a model call)."""
    import extractors.llm
    import extractors.rules  # noqa: F401
