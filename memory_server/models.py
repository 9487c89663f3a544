"""Domain records as they leave the service: facts, change-log entries, jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from extractors.base import FactKind, MessageRole, Usage
from memory_server.aggregates import Aggregates
from memory_server.prompt_context import episode_line

Role = Literal["viewer", "editor", "admin"]
#: never: no key was ever made (open mode on loopback); active: keys are required; revoked: every key was
#: revoked, and keys are still required (nobody gets in until an operator creates one or reopens on purpose).
KeyState = Literal["never", "active", "revoked"]
FactStatus = Literal["active", "superseded", "expired", "deleted"]
JobStatus = Literal["queued", "running", "done", "failed"]
ChangeEventName = Literal[
    "add",
    "update",
    "supersede",
    "expire",
    "delete",
    "purge",
    "episode_delete",
    "episode_expire",
    "user_attributes",
    "key_create",
    "key_revoke",
    "lockdown",
    "open_mode",
    "webhook_create",
    "webhook_delete",
    "webhook_update",
    "project_create",
    "consent",
]
MemoryType = Literal["fact", "episode"]


class Fact(BaseModel):
    id: str
    user_id: str
    kind: FactKind
    content: str
    source: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    confidence: float
    topic: str | None = None
    status: FactStatus
    superseded_by: str | None = None
    request_id: str | None = None
    message_ids: list[int] = Field(default_factory=list)
    config_version: int | None = None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None


class Episode(BaseModel):
    """A stored message as memory: what was said, by whom, when, and where it came from."""

    message_id: int
    user_id: str
    request_id: str
    position: int
    role: MessageRole
    content: str
    session_id: str | None = None
    source: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(description="When the message was sent (as published), not when it was stored.")


class EpisodeRef(BaseModel):
    """What the change log keeps of a deleted episode: where it was, never what it said."""

    message_id: int
    request_id: str
    role: MessageRole
    session_id: str | None = None
    created_at: datetime


class Change(BaseModel):
    """One change-log row: what happened to which fact or episode (or, with no user, to the tenant's keys and
    access), caused by which request and actor."""

    id: int
    user_id: str | None
    fact_id: str | None
    message_id: int | None = None
    event: ChangeEventName
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str | None = None
    actor: str
    created_at: datetime


class StatedFact(BaseModel):
    """The answer to a fact stated explicitly: the fact as stored (or the live one it repeats), whether this
    call created it, and the request that stored it (the first one, for a repeat)."""

    fact: Fact
    created: bool
    request_id: str


class FactUpdate(BaseModel):
    before: Fact
    after: Fact


class RequestChanges(BaseModel):
    """What one request did, grouped the way a caller reads it."""

    request_id: str
    added: list[Fact] = Field(default_factory=list)
    updated: list[FactUpdate] = Field(default_factory=list)
    removed: list[Fact] = Field(default_factory=list)


class RequestLog(BaseModel):
    """The fact changes of one request (or of one deletion made without a request), as one entry."""

    id: int = Field(description="The group's first change-log row: the same for as long as the log keeps it.")
    user_id: str
    request_id: str | None = None
    created_at: datetime
    added: list[Fact] = Field(default_factory=list, description="New facts, updates' new versions included.")
    removed: list[Fact] = Field(default_factory=list, description="Superseded, deleted and expired facts.")


class Job(BaseModel):
    request_id: str
    user_id: str
    kind: str
    status: JobStatus
    attempts: int
    error: str | None = None
    source: str | None = None
    session_id: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    usage: Usage = Field(default_factory=Usage)
    raw_output: str | None = Field(None, description="The model reply that could not be used, when a try failed.")
    changes: RequestChanges | None = None
    skipped: Literal["consent"] | None = Field(
        None,
        description='Set when nothing was stored or extracted: `consent`, the user is marked "do not remember" '
        "(the request id is then not stored anywhere).",
    )


class SearchHit(BaseModel):
    """One result: a fact, or an episode (a message, with its time, role, session and a snippet)."""

    id: str = Field(description="A fact's id, or an episode's message id as a string.")
    type: MemoryType = "fact"
    content: str
    score: float = Field(description="0..1; the same scale for facts and episodes, which `threshold` filters.")
    kind: FactKind | None = Field(None, description="A fact's kind; empty for an episode.")
    source: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(description="A fact's creation, or the time the episode's message was sent.")
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    message_ids: list[int] | None = Field(None, description="The messages a fact came from.")
    message_id: int | None = None
    role: MessageRole | None = None
    session_id: str | None = None
    request_id: str | None = None
    snippet: str | None = Field(None, description="The part of an episode around the query's words.")

    def context_line(self) -> str:
        """How the result reads in a prompt: an episode with its date and speaker, a fact as it is."""
        if self.type == "fact":
            return self.content
        return episode_line(f"{self.created_at:%Y-%m-%d}", str(self.role), self.snippet or self.content)


class SearchResults(BaseModel):
    results: list[SearchHit]
    total: int
    timing: float = Field(description="Milliseconds spent searching.")


class ProfileFact(BaseModel):
    id: str
    content: str
    kind: FactKind
    confidence: float
    updated_at: datetime
    expires_at: datetime | None = None


class Profile(BaseModel):
    static: list[ProfileFact]
    dynamic: list[ProfileFact]


class ProfileResponse(BaseModel):
    profile: Profile
    searchResults: SearchResults | None = None
    tokens: int | None = Field(None, description="Tokens the profile takes (cl100k_base), when max_tokens is given.")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class ConfigVersion(BaseModel):
    version: int
    config: dict[str, Any]
    actor: str
    created_at: datetime


class Project(BaseModel):
    """A separate memory space of a tenant (its users, facts, messages, signals, segments, webhooks, config)."""

    id: int
    name: str
    default: bool
    created_at: datetime


class ApiKey(BaseModel):
    id: str
    tenant_id: str
    role: Role
    project_id: int | None = Field(None, description="The one project this key may use; null: any of its tenant's.")
    name: str | None = None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


class NewApiKey(ApiKey):
    key: str


class UserAttributes(BaseModel):
    """A user's attributes, as the change log keeps them before and after an edit."""

    attributes: dict[str, Any]


class UserSegment(BaseModel):
    """A segment the user is in."""

    id: str
    name: str
    entered_at: datetime


class UserRecord(BaseModel):
    """What is known about a user beyond facts: attributes, activity and the aggregates of their signals."""

    user_id: str
    source_label: str | None = Field(None, description="The source of the user's latest request that named one.")
    attributes: dict[str, Any] = Field(default_factory=dict)
    aggregates: Aggregates | None = Field(None, description="None until a message of the user is analysed.")
    first_seen: datetime | None = Field(None, description="Time of the user's first stored message.")
    last_seen: datetime | None = Field(None, description="Time of the user's latest stored message.")
    message_count: int = Field(0, description="Stored messages of the user's conversations (every role).")
    analysed_count: int = Field(0, description="Messages analysed for signals.")
    segments: list[UserSegment] = Field(default_factory=list, description="The segments the user is in.")
    created_at: datetime
    updated_at: datetime


class UserList(BaseModel):
    users: list[UserRecord]
    total: int


class TimelineEntry(BaseModel):
    """One analysed message with its signals."""

    message_id: int
    timestamp: datetime = Field(description="The message's own time.")
    source_label: str | None = None
    session_id: str | None = None
    content: str
    sentiment: float
    topics: dict[str, float]
    intentions: list[str]
    price_sensitive: bool


class Timeline(BaseModel):
    user_id: str
    timeline: list[TimelineEntry]
    next_cursor: str | None = None


WebhookEventType = Literal["request.done", "request.failed", "segment.entered", "segment.exited"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class Webhook(BaseModel):
    """A URL a tenant registered for some event types; its secret is never shown again after creation."""

    id: str
    url: str
    events: list[WebhookEventType]
    enabled: bool = True
    created_by: str = Field(description="The actor that created it (`key:<id>`, or `local` in open mode).")
    created_at: datetime


class NewWebhook(Webhook):
    secret: str = Field(description="`whsec_…`: verify each delivery's signature with it. Shown only in this answer.")


class WebhookDelivery(BaseModel):
    """One event sent (or to be sent) to one webhook, with the outcome of its last attempt."""

    id: int
    webhook_id: str
    event_id: str = Field(description="The `webhook-id` header of every attempt, redeliveries included.")
    event_type: WebhookEventType
    payload: dict[str, Any] = Field(description="The body sent: {type, timestamp, data}.")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(None, description="When the next attempt is due, while pending.")
    last_status_code: int | None = Field(None, description="The HTTP status the receiver last answered.")
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None


class Backfill(BaseModel):
    """Evaluating every user of the tenant after a segment was created or its condition changed."""

    state: Literal["running", "done"]
    done: int = Field(description="Users evaluated so far.")
    total: int = Field(description="Users to evaluate (counted when the backfill started).")


class Segment(BaseModel):
    id: str
    name: str
    description: str | None = None
    condition: dict[str, Any] = Field(description="The condition users must meet; see README 'Segments'.")
    backfill: Backfill
    members: int = Field(0, description="Users in the segment now.")
    created_by: str
    created_at: datetime
    updated_at: datetime


class SegmentMember(BaseModel):
    user_id: str
    entered_at: datetime


class Consent(BaseModel):
    """Whether the user may be remembered. A user never marked may; one marked `remember: false` has nothing
    of later publishes stored or extracted (what was stored before stays until purged)."""

    remember: bool = True
    reason: str | None = None
    updated_by: str | None = Field(None, description="The actor that set it; None for a user never marked.")
    updated_at: datetime | None = None


class IdentityRecord(BaseModel):
    """An identifier the user stated as theirs, as the `identities` section shows it (from its live fact)."""

    type: str
    value: str
    confidence: float
    fact_id: str
    updated_at: datetime


class Interaction(BaseModel):
    """A stored message with its signals (None until it is analysed, and for roles that are not)."""

    message_id: int
    role: MessageRole
    content: str
    timestamp: datetime = Field(description="The message's own time.")
    session_id: str | None = None
    source_label: str | None = None
    sentiment: float | None = None
    topics: dict[str, float] | None = None
    intentions: list[str] | None = None
    price_sensitive: bool | None = None


class ProfileSection(BaseModel):
    """One named part of a user's profile: its data, or (data None) the error that kept it from being built."""

    name: str
    data: Any = None
    error: str | None = None


class UnifiedProfile(BaseModel):
    user_id: str
    tenant_id: str
    sections: list[ProfileSection]
    computed_at: datetime
