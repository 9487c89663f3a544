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

from extractors.signals import MessageSignals, Taxonomy

FactKind = Literal["static", "dynamic"]
TtlName = Literal["one_day", "one_week", "one_month", "one_quarter", "one_year"]
MessageRole = Literal["user", "assistant", "system", "tool"]
IdentityType = Literal["email", "phone", "handle"]
ActionName = Literal["ADD", "UPDATE", "DELETE", "NONE"]


class Message(BaseModel):
    """One message of a conversation as the extractor sees it."""

    model_config = ConfigDict(frozen=True)

    role: MessageRole
    content: str
    created_at: datetime


class Identity(BaseModel):
    """An identifier the user stated as theirs: an email, a phone number, a handle (@name or profile URL)."""

    model_config = ConfigDict(frozen=True)

    type: IdentityType
    value: str = Field(min_length=1, max_length=320)


class KnownFact(BaseModel):
    """One of the user's stored facts, shown to an extractor that `decides` so that it can say what each new fact
    does to it."""

    model_config = ConfigDict(frozen=True)

    id: str
    content: str
    kind: FactKind
    updated_at: datetime
    said_at: datetime | None = Field(None, description="When the user said it (None: not known, its messages deleted).")


class StatedDecision(BaseModel):
    """What an extractor that `decides` says a candidate does to the known facts it was shown (`considered`).

    It stands only when every stored fact related to the candidate is among `considered`; otherwise the
    reconciler decides as for any candidate. `ids` outside `considered` are ignored.
    """

    action: ActionName
    ids: list[str] = Field(default_factory=list, description="The known facts it replaces, retires or repeats.")
    considered: list[str] = Field(default_factory=list, description="Every known fact it was decided against.")


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
    identity: Identity | None = Field(
        default=None, description="Set when the fact states one of the user's identifiers (kept in its attributes)."
    )
    decision: StatedDecision | None = Field(
        default=None, description="The extractor's own reconciliation, made against `ExtractionContext.known`."
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


class SignalLabel(BaseModel):
    """A topic or intention an extractor may report: its name and what it means."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str


class SignalRequest(BaseModel):
    """The signals the server wants per message: for messages of `roles`, with labels from these lists."""

    model_config = ConfigDict(extra="forbid")

    roles: list[MessageRole]
    topics: list[SignalLabel]
    intentions: list[SignalLabel]

    @classmethod
    def of(cls, taxonomy: Taxonomy, roles: Sequence[MessageRole]) -> SignalRequest:
        """The request for a taxonomy: its topics' and intentions' names and descriptions, nothing else."""
        return cls(
            roles=list(roles),
            topics=[SignalLabel(name=t.name, description=t.description) for t in taxonomy.topics],
            intentions=[SignalLabel(name=i.name, description=i.description) for i in taxonomy.intentions],
        )


class ExtractionContext(BaseModel):
    """What an extractor may know besides the messages and its options, and where it reports what it spent."""

    model_config = ConfigDict(extra="forbid")

    user_id: str
    now: datetime
    usage: Usage = Field(default_factory=Usage)
    signals: SignalRequest | None = Field(
        default=None, description="Signals the server would take from the extractor; None: it wants none."
    )
    known: list[KnownFact] = Field(
        default_factory=list,
        description="The user's stored facts related to the messages, for an extractor that `decides` (else empty).",
    )


class Extraction(BaseModel):
    """What an extractor found: candidate facts and, if it can tell, signals per message (by index in the input)."""

    facts: list[CandidateFact] = Field(default_factory=list)
    signals: dict[int, MessageSignals] = Field(default_factory=dict)


@runtime_checkable
class Extractor(Protocol):
    """Turns messages into candidate facts. Must not write anything itself.

    Options arrive once, at construction; a config change builds a new extractor for the next job.

    Capability: an extractor that computes rather than waits (regexes, a local model) sets
    `cpu_bound = True`; the server then runs it in a worker process, so it must be picklable.

    Signals: `extract` returns either a plain list of facts, or an `Extraction` that also carries
    `MessageSignals` per message index. When `context.signals` is set the server would take them for the
    messages of its roles (labels from its lists); a message left out, or any message of an extractor that
    returns a plain list, is analysed offline instead. `as_extraction` is the one reading of either form.

    Capability: an extractor that can reconcile in the same model call sets `decides = True`; when the config
    reconciles with a model, it then gets the user's related facts in `context.known` and may give each candidate
    a `decision` against them, which saves the reconciler's own call.
    """

    name: str

    async def extract(
        self, messages: Sequence[Message], context: ExtractionContext
    ) -> list[CandidateFact] | Extraction:
        """Return the candidate facts found in `messages` (empty for chit-chat), with signals if it has them."""
        ...


def as_extraction(result: Sequence[CandidateFact] | Extraction) -> Extraction:
    """An extractor's answer in one shape: a plain list of facts becomes an `Extraction` without signals."""
    if isinstance(result, Extraction):
        return result
    return Extraction(facts=list(result))


def is_cpu_bound(extractor: Extractor) -> bool:
    """Whether the extractor declared `cpu_bound = True` (absent means it waits on I/O, like `llm`)."""
    return bool(getattr(extractor, "cpu_bound", False))


def decides(extractor: Extractor) -> bool:
    """Whether the extractor declared `decides = True`: it reconciles its candidates against `context.known`."""
    return bool(getattr(extractor, "decides", False))


def extract_blocking(
    extractor: Extractor, messages: Sequence[Message], context: ExtractionContext
) -> tuple[Extraction, Usage]:
    """Run one extraction to the end in this thread (a worker process); return the usage too, because
    the caller's context is not this copy."""
    return as_extraction(asyncio.run(extractor.extract(messages, context))), context.usage
