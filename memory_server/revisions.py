"""A fact's versions: stating a fact, revising what it says, and reading the chain of versions it belongs to.

A revision is a supersede, exactly as when a conversation updates a fact: a new fact with the new text
(same user, kind, topic, source and messages) replaces the old one, which stays as `superseded` with
`superseded_by` set, and the change log records both rows in the transaction that writes them. The
history of a fact is the change log of every version in its chain, found by following those rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from extractors.base import CandidateFact, ExtractionError, Usage
from memory_server import extraction, retrieval
from memory_server.configstore import ConfigStore
from memory_server.context import Core, Scope
from memory_server.errors import InvalidInput, ModelUnavailable, NotFound, PayloadTooLarge, check_json_size
from memory_server.models import Change, Fact, StatedFact
from memory_server.pipeline import Batch, Origin, apply_candidates
from memory_server.reconcile import Action, Decision, Item
from memory_server.schemas import FactIn
from memory_server.store import changelog as changesql
from memory_server.store.facts import content_hash

MAX_VERSIONS = 1000  # a chain longer than this is cut (one fact revised a thousand times)


class _Supersede:
    """A reconciler that answers one thing: the candidate replaces `target`. A live fact of the user that
    already says the new text is a clear error rather than a silent merge of two facts."""

    sequential = True
    asks_model = False

    def __init__(self, target: str) -> None:
        self.target = target

    async def decide(self, items: Sequence[Item], usage: Usage) -> list[Decision]:
        decisions = []
        for candidate, neighbors in items:
            digest = content_hash(candidate.content)
            for n in neighbors:
                if n.fact.id != self.target and content_hash(n.fact.content) == digest:
                    raise InvalidInput(f"text: fact {n.fact.id} of this user already says this", field="text")
            decisions.append(Decision(Action.UPDATE, [self.target], "revised by the caller"))
        return decisions


async def revise(
    core: Core, configs: ConfigStore, scope: Scope, fact_id: str, content: str | None, attributes: dict[str, Any] | None
) -> Fact:
    """Supersede a live fact with one that says `content` (and carries `attributes`, when given); the
    fact itself when nothing would change."""
    limits = core.settings.limits
    if content is not None and len(content) > limits.max_content_chars:
        raise PayloadTooLarge(f"text: at most {limits.max_content_chars} characters", field="text")
    if attributes is not None:
        check_json_size(attributes, limits.max_attributes_bytes, "metadata")
    fact = await retrieval.get_fact(core, scope.space, fact_id)
    if fact.status == "deleted":
        raise NotFound(f"fact_id: no fact {fact_id}", field="fact_id")
    async with core.user_lock(scope.space, fact.user_id):
        fact = await retrieval.get_fact(core, scope.space, fact_id)
        if fact.status != "active":
            successor = f" by {fact.superseded_by}" if fact.superseded_by else ""
            raise InvalidInput(
                f"fact_id: fact {fact_id} is {fact.status}{successor}; revise a live one", field="fact_id"
            )
        new_content = fact.content if content is None else content
        new_attributes = fact.attributes if attributes is None else attributes
        if new_content == fact.content and new_attributes == fact.attributes:
            return fact
        candidate = CandidateFact(
            content=new_content,
            kind=fact.kind,
            confidence=fact.confidence,
            topic=fact.topic,
            message_indexes=list(range(len(fact.message_ids))),
        )
        version, config = await configs.active(scope.space)
        origin = Origin(
            request_id=str(uuid.uuid4()),
            user_id=fact.user_id,
            source=fact.source,
            attributes=new_attributes,
            message_ids=fact.message_ids,
            config_version=version,
        )
        kept = config.model_copy(update={"min_confidence": 0.0})  # the caller said it: keep it
        [(_, written)] = await Batch(core, scope, [candidate], origin, kept, _Supersede(fact.id), scope.actor).store()
    assert written is not None  # an UPDATE of a live target always writes
    return written


async def state(core: Core, configs: ConfigStore, scope: Scope, body: FactIn) -> StatedFact:
    """Store one explicitly stated fact, reconciled like extracted ones; a repeat of a live fact answers with
    that fact and the request that stored it, so every door reports a repeat the same way."""
    limits = core.settings.limits
    if len(body.content) > limits.max_content_chars:
        raise PayloadTooLarge(f"content: at most {limits.max_content_chars} characters", field="content")
    check_json_size(body.attributes, limits.max_attributes_bytes, "attributes")
    candidate = CandidateFact(
        content=body.content, kind=body.kind, ttl_seconds=body.ttl_seconds, confidence=body.confidence
    )
    version, config = await configs.active(scope.space)
    origin = Origin(
        request_id=str(uuid.uuid4()),
        user_id=body.user_id,
        source=body.source,
        attributes=body.attributes,
        config_version=version,
    )
    stated = config.model_copy(update={"min_confidence": 0.0})  # the caller said it: keep it
    reconciler = extraction.reconciler_for(core.settings, config)
    try:
        [(decision, fact)] = await apply_candidates(core, scope, [candidate], origin, stated, reconciler, scope.actor)
    except ExtractionError as exc:  # the model reconciling it failed after its retries
        message = f"the chat model could not reconcile this fact: {exc} (check the llm settings)"
        raise ModelUnavailable(message) from exc
    if fact is not None:
        return StatedFact(fact=fact, created=True, request_id=origin.request_id)
    if not decision.target_ids:
        raise InvalidInput(
            f"content: not stored: {decision.reason or 'the reconciler kept nothing of it'}", field="content"
        )
    known = await retrieval.get_fact(core, scope.space, decision.target_ids[0])
    return StatedFact(fact=known, created=False, request_id=known.request_id or origin.request_id)


async def history(core: Core, scope: Scope, fact_id: str) -> list[Change]:
    """The change-log rows of every version of a fact (its predecessors and successors), oldest first."""
    fact = await retrieval.get_fact(core, scope.space, fact_id)  # 404 for an id that is not this tenant's
    return (await histories(core, scope, fact.user_id, [fact_id]))[fact_id]


def _links(change: Change) -> list[str]:
    """The other versions a change-log row names: what an update replaced, what superseded a fact."""
    linked = [
        (change.before or {}).get("id") if change.event == "update" else None,
        (change.after or {}).get("superseded_by") if change.event == "supersede" else None,
    ]
    return [f for f in linked if f]


async def histories(core: Core, scope: Scope, user_id: str, fact_ids: Sequence[str]) -> dict[str, list[Change]]:
    """`history` of each of the user's facts `fact_ids`: the chains are followed for all of them together, one
    query per step along the longest chain rather than per fact."""
    seen: set[str] = set()
    todo = set(fact_ids)
    rows: dict[int, Change] = {}
    links: dict[str, set[str]] = {}
    while todo and len(seen) < MAX_VERSIONS * max(1, len(fact_ids)):
        seen |= todo
        found = await changesql.of_facts(core.db, scope.space, user_id, sorted(todo))
        todo = set()
        for change in found:
            rows[change.id] = change
            linked = _links(change)
            links.setdefault(change.fact_id or "", set()).update(linked)
            todo |= {f for f in linked if f not in seen}
    by_fact: dict[str, list[int]] = {}
    for change in rows.values():
        by_fact.setdefault(change.fact_id or "", []).append(change.id)
    result = {}
    for start in fact_ids:
        chain, stack = {start}, [start]
        while stack and len(chain) < MAX_VERSIONS:
            for other in links.get(stack.pop(), ()):
                if other not in chain:
                    chain.add(other)
                    stack.append(other)
        result[start] = [rows[i] for i in sorted(i for f in chain for i in by_fact.get(f, ()))]
    return result
