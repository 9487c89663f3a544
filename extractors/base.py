"""The one small interface every extractor implements, and what flows through it.

An extractor is a plugin (`extractors.registry`): a class with a `name`, an `Options` pydantic model
(extra="forbid") and a constructor taking those options as keywords. The server gives it only the
options it declares (a chat model's credentials only to one that declares `call`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

FactKind = Literal["static", "dynamic"]
TtlName = Literal["one_day", "one_week", "one_month", "one_quarter", "one_year"]
MessageRole = Literal["user", "assistant", "system", "tool"]


class Message(BaseModel):
    """One message of a conversation as the extractor sees it."""

    model_config = ConfigDict(frozen=True)

    role: MessageRole
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

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.llm_calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    def include(self, other: Usage) -> None:
        """Add what another count spent (an extraction that ran in a worker process)."""
        self.llm_calls += other.llm_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


class ExtractionError(Exception):
    """Extraction failed visibly; `raw` keeps the model's last reply for inspection."""

    def __init__(self, message: str, raw: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw


class ExtractionContext(BaseModel):
    """What an extractor may know besides the messages and its options, and where it reports what it spent."""

    model_config = ConfigDict(extra="forbid")

    user_id: str
    now: datetime
    usage: Usage = Field(default_factory=Usage)


@runtime_checkable
class Extractor(Protocol):
    """Turns messages into candidate facts. Must not write anything itself.

    Options arrive once, at construction; a config change builds a new extractor for the next job.

    Capability: an extractor that computes rather than waits (regexes, a local model) sets
    `cpu_bound = True`; the server then runs it in a worker process, so it must be picklable.
    """

    name: str

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> list[CandidateFact]:
        """Return the candidate facts found in `messages` (empty for chit-chat)."""
        ...


def is_cpu_bound(extractor: Extractor) -> bool:
    """Whether the extractor declared `cpu_bound = True` (absent means it waits on I/O, like `llm`)."""
    return bool(getattr(extractor, "cpu_bound", False))


def extract_blocking(
    extractor: Extractor, messages: Sequence[Message], context: ExtractionContext
) -> tuple[list[CandidateFact], Usage]:
    """Run one extraction to the end in this thread (a worker process); return the usage too, because
    the caller's context is not this copy."""
    return asyncio.run(extractor.extract(messages, context)), context.usage
