"""The MCP tools. Each parses its arguments into the shared request models, resolves the user, calls the
memory and shapes a compact answer; the docstrings are the descriptions a model reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from extractors.base import MessageRole
from memory_server.config import ExtractionConfig
from memory_server.errors import InvalidInput
from memory_server.mcp.access import Caller
from memory_server.mcp.errors import invalid_input
from memory_server.mcp.memory import Memory
from memory_server.models import (
    Change,
    ConfigVersion,
    Fact,
    FactKind,
    JobStatus,
    Page,
    ProfileResponse,
    RequestChanges,
    SearchResults,
    UnifiedProfile,
)
from memory_server.schemas import (
    ChangelogFilter,
    Count,
    Cursor,
    DeleteByQueryIn,
    FactIn,
    Identifier,
    InteractionIn,
    MemoryTypes,
    MessageId,
    MessageIn,
    ProfileIn,
    Roles,
    SearchIn,
    Text,
    Timestamp,
    TtlSeconds,
)

M = TypeVar("M", bound=BaseModel)

UserId = Annotated[
    Identifier | None,
    Field(description="Leave out to act for the user this connection serves; needed only on a multi-user server."),
]
Threshold = Annotated[float | None, Field(ge=0, le=1, description="Minimum score, 0 to 1 (default: the server's).")]
TopK = Annotated[Count | None, Field(description="At most this many results (default: the server's).")]


class MemoryItem(BaseModel):
    """One remembered fact, as a tool answer shows it."""

    id: str
    content: str
    kind: FactKind
    expires_at: datetime | None = None

    @classmethod
    def of(cls, fact: Fact | dict[str, Any]) -> MemoryItem:
        return cls.model_validate(fact, from_attributes=True)


class Replaced(BaseModel):
    before: MemoryItem
    after: MemoryItem


class Remembered(BaseModel):
    request_id: str
    status: JobStatus = Field(description="done when finished; queued or running if extraction is still going on.")
    duplicate: bool = Field(
        description="True when this content was remembered before: nothing was written, and the answer is that "
        "first request's."
    )
    error: str | None = None
    skipped: str | None = Field(
        None, description='"consent" when the user asked not to be remembered: nothing was stored.'
    )
    added: list[MemoryItem] = Field(default_factory=list)
    updated: list[Replaced] = Field(default_factory=list, description="Facts a newer version replaced.")
    removed: list[MemoryItem] = Field(default_factory=list)


class EpisodeItem(BaseModel):
    """One deleted episode: the message, who said it and when."""

    message_id: int
    role: MessageRole
    content: str
    created_at: datetime


class Forgotten(BaseModel):
    deleted: list[MemoryItem]
    episodes: list[EpisodeItem] = Field(default_factory=list, description="Messages deleted with the facts.")
    count: int


async def remember(
    ctx: Context,
    messages: Annotated[
        Annotated[list[MessageIn], Field(min_length=1)] | None,
        Field(description="The conversation turns worth remembering; facts are extracted from the user's messages."),
    ] = None,
    fact: Annotated[
        Text | None,
        Field(description='One fact the user stated, in the third person, e.g. "User is vegetarian".'),
    ] = None,
    kind: Annotated[
        FactKind | None,
        Field(description="With fact only: static (lasting, the default) or dynamic (recent or temporary)."),
    ] = None,
    ttl_seconds: Annotated[
        TtlSeconds | None, Field(description="With fact only: how long a dynamic fact stays true, in seconds.")
    ] = None,
    session_id: Annotated[Identifier | None, Field(description="The conversation these messages belong to.")] = None,
    user_id: UserId = None,
) -> Remembered:
    """Remember what the user said, so it can be recalled in later conversations.

    Pass either `messages` (turns of the conversation; the server extracts durable facts from what the user
    said) or `fact` (one fact the user stated explicitly). Returns the request id and what changed: facts added,
    facts a newer version replaced, facts removed. Remembering the same content again writes nothing twice
    (`duplicate: true`), so a retry is safe.
    """
    memory, caller = await _session(ctx)
    user = caller.user(user_id)
    if (messages is None) == (fact is None):
        raise InvalidInput("messages: give either messages or fact, not both or neither", field="messages")
    if fact is None:
        for name, value in (("kind", kind), ("ttl_seconds", ttl_seconds)):
            if value is not None:
                raise InvalidInput(f"{name}: only applies to a single fact", field=name)
        body = parse(InteractionIn, user_id=user, messages=messages, session_id=session_id, wait=True)
        job, duplicate = await memory.ingest(caller.scope, body)
        changes = job.changes or RequestChanges(request_id=job.request_id)
        return _remembered(changes, job.status, duplicate, job.error).model_copy(update={"skipped": job.skipped})
    body = parse(FactIn, user_id=user, content=fact, kind=kind, ttl_seconds=ttl_seconds, source=None)
    stated = await memory.add_fact(caller.scope, body)
    return _remembered(await memory.request_changes(caller.scope, stated.request_id), "done", not stated.created)


async def recall(
    ctx: Context,
    query: Annotated[Text, Field(description="What to look for, in plain words.")],
    threshold: Threshold = None,
    top_k: TopK = None,
    kind: Annotated[FactKind | None, Field(description="Only static (lasting) or dynamic (recent) facts.")] = None,
    types: Annotated[
        MemoryTypes | None, Field(description="facts, episodes (past messages), or both (default).")
    ] = None,
    roles: Annotated[
        Roles | None, Field(description='Whose past messages to search; ["user", "assistant"] to include yours.')
    ] = None,
    user_id: UserId = None,
) -> SearchResults:
    """Search what is remembered about the user, by meaning and by exact words; best matches first.

    Use it before answering anything that may depend on the user's situation, preferences or history. Results
    are facts (`type: fact`: id for `forget`, content, kind) and past messages (`type: episode`: what was said,
    by whom, and `created_at`, when it was said: use it to answer "when" questions), each with a 0-1 score.
    """
    memory, caller = await _session(ctx)
    given = {"types": types, "roles": roles}
    body = parse(
        SearchIn,
        user_id=caller.user(user_id),
        query=query,
        threshold=threshold,
        top_k=top_k,
        kind=kind,
        **{k: v for k, v in given.items() if v is not None},
    )
    return await memory.search(caller.scope, body)


async def get_profile(
    ctx: Context,
    query: Annotated[
        Text | None, Field(description="The current message or topic: facts relevant to it rank first.")
    ] = None,
    max_tokens: Annotated[Count | None, Field(description="Fit the profile in this many tokens.")] = None,
    user_id: UserId = None,
) -> ProfileResponse:
    """Everything known about the user: static facts (lasting) and dynamic facts (recent or temporary).

    Call it at the start of a conversation. With `query`, the facts most relevant to it come first, and matching
    facts and past messages (with the date each was said) are listed in `searchResults`; `max_tokens` trims the
    least useful of them to fit a budget.
    """
    memory, caller = await _session(ctx)
    body = parse(ProfileIn, user_id=caller.user(user_id), q=query, max_tokens=max_tokens)
    return await memory.profile(caller.scope, body)


async def profile_sections(
    ctx: Context,
    sections: Annotated[
        list[Annotated[str, Field(max_length=100)]] | None,
        Field(
            description="Which sections: facts, attributes, identities, interactions, aggregates, segments, changes, "
            "consent (and any a plugin adds). Leave out for all; ask only for what you need, it is faster."
        ),
    ] = None,
    user_id: UserId = None,
) -> UnifiedProfile:
    """The user's whole profile as named sections: facts, attributes, identities (emails, phones, handles they
    gave), recent interactions with their sentiment and intentions, aggregates (trend, churn risk), segments, the
    latest changes to their memory, and consent. A section that could not be built carries an error instead."""
    memory, caller = await _session(ctx)
    return await memory.profile_sections(caller.scope, caller.user(user_id), sections)


async def forget(
    ctx: Context,
    fact_id: Annotated[Identifier | None, Field(description="The id of one fact to delete (from recall).")] = None,
    message_id: Annotated[
        MessageId | None, Field(description="The message_id of one past message to delete (from recall).")
    ] = None,
    query: Annotated[
        Text | None, Field(description="Delete the facts and past messages whose meaning matches this.")
    ] = None,
    threshold: Annotated[
        float | None, Field(ge=0, le=1, description="With query: how close a match must be (default 0.85).")
    ] = None,
    with_sources: Annotated[
        bool | None,
        Field(
            description="With fact_id: also delete the past messages the fact came from, so that its words are not "
            "recalled either (default true; false keeps them)."
        ),
    ] = None,
    user_id: UserId = None,
) -> Forgotten:
    """Delete what the user asks to forget, or what is wrong: one fact by id (with the messages it came from), one
    past message by id, or every fact and past message matching a query (with the messages the facts came from).
    Returns what was deleted (gone from profile and recall)."""
    memory, caller = await _session(ctx)
    user = caller.user(user_id)
    if sum(x is not None for x in (fact_id, message_id, query)) != 1:
        raise InvalidInput("fact_id: give exactly one of fact_id, message_id or query", field="fact_id")
    if query is None and threshold is not None:
        raise InvalidInput("threshold: only applies to a query", field="threshold")
    if fact_id is None and with_sources is not None:
        raise InvalidInput("with_sources: only applies to a fact_id", field="with_sources")
    facts, episodes = [], []
    if fact_id is not None:
        fact, episodes = await memory.delete_fact(caller.scope, fact_id, user, with_sources=with_sources is not False)
        facts = [fact]
    elif message_id is not None:
        episodes = [await memory.delete_episode(caller.scope, message_id, user)]
    else:
        body = parse(DeleteByQueryIn, user_id=user, query=query, threshold=threshold)
        facts, episodes = await memory.delete_by_query(caller.scope, body)
    return Forgotten(
        deleted=[MemoryItem.of(f) for f in facts],
        episodes=[EpisodeItem.model_validate(e, from_attributes=True) for e in episodes],
        count=len(facts) + len(episodes),
    )


async def list_changes(
    ctx: Context,
    request_id: Annotated[Identifier | None, Field(description="Only the changes one request made.")] = None,
    since: Annotated[Timestamp | None, Field(description="Only changes at or after this time (ISO 8601).")] = None,
    limit: Annotated[Count, Field(description="Page size.")] = 20,
    cursor: Annotated[Cursor | None, Field(description="next_cursor of the previous page.")] = None,
    user_id: UserId = None,
) -> Page[Change]:
    """The change log of the user's memory, newest first: every fact added, updated, superseded, expired or
    deleted, with before/after, the request that caused it and who made it."""
    memory, caller = await _session(ctx)
    flt = parse(
        ChangelogFilter, user_id=caller.user(user_id), request_id=request_id, since=since, limit=limit, cursor=cursor
    )
    return await memory.changes(caller.scope, flt)


async def get_config(ctx: Context) -> ConfigVersion:
    """The extraction settings in force and their version (admin only)."""
    memory, caller = await _session(ctx)
    return await memory.config(caller.scope)


async def update_config(
    ctx: Context,
    changes: Annotated[dict[str, Any], Field(description="The settings to change; the others keep their value.")],
) -> ConfigVersion:
    """Change extraction settings (admin only); each change is a new version."""
    memory, caller = await _session(ctx)
    return await memory.update_config(caller.scope, changes)


def register(server: MCPServer[Any]) -> None:
    read = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    server.add_tool(remember, annotations=ToolAnnotations(idempotent_hint=True, open_world_hint=False))
    server.add_tool(recall, annotations=read)
    server.add_tool(get_profile, annotations=read)
    server.add_tool(profile_sections, annotations=read)
    server.add_tool(forget, annotations=ToolAnnotations(destructive_hint=True, open_world_hint=False))
    server.add_tool(list_changes, annotations=read)
    server.add_tool(get_config, annotations=read)
    server.add_tool(update_config, description=_update_config_description(), annotations=ToolAnnotations())


def _update_config_description() -> str:
    settings = "\n".join(f"- {name}: {field.description}" for name, field in ExtractionConfig.model_fields.items())
    return f"{(update_config.__doc__ or '').strip()}\n\nSettings:\n{settings}"


async def _session(ctx: Context) -> tuple[Memory, Caller]:
    state = ctx.request_context.lifespan_context
    return state.memory, await state.identify(ctx)


def parse(model: type[M], **values: Any) -> M:
    """Validate through the request model every door shares; arguments left out take its defaults."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise invalid_input(exc.errors()) from None


def _remembered(changes: RequestChanges, status: JobStatus, duplicate: bool, error: str | None = None) -> Remembered:
    return Remembered(
        request_id=changes.request_id,
        status=status,
        duplicate=duplicate,
        error=error,
        added=[MemoryItem.of(f) for f in changes.added],
        updated=[Replaced(before=MemoryItem.of(u.before), after=MemoryItem.of(u.after)) for u in changes.updated],
        removed=[MemoryItem.of(f) for f in changes.removed],
    )
