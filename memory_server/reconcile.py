"""Reconciliation: for each candidate fact, decide ADD, UPDATE (supersede), DELETE (retire) or NONE.

A reconciler only decides; the service applies the decisions in one transaction. The rules reconciler
here needs no model: an identical or near-identical fact is a no-op, a near-identical one that says
strictly more supersedes it, and a new fact on the same topic (location, occupation, name...) supersedes
the old one. An LLM reconciler can implement the same
protocol to judge richer and contradicting versions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from extractors import cues
from extractors.base import CandidateFact, Usage
from memory_server.models import Fact
from memory_server.store.facts import content_hash
from memory_server.terms import terms

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


class Action(StrEnum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    NONE = "NONE"


@dataclass(frozen=True)
class Neighbor:
    fact: Fact
    score: float
    said_at: datetime | None = None  # when the user said it, for a reconciler that shows it to a model


@dataclass(frozen=True)
class Decision:
    action: Action
    target_ids: list[str] = field(default_factory=list)
    reason: str = ""
    by: str = "rules"  # what decided: "rules" (no model), "extractor" (in its own call) or "model" (a call of its own)


Item = tuple[CandidateFact, Sequence[Neighbor]]


class Reconciler(Protocol):
    """Decides what each candidate does to the user's facts.

    `sequential` reconcilers are asked about one candidate at a time, each seeing the facts the previous
    ones wrote; the others get the whole batch in one call (one model call per request, not per fact). One that
    `asks_model` may wait seconds on a chat model: its batches are planned before the user's lock is taken.
    """

    sequential: bool
    asks_model: bool

    async def decide(self, items: Sequence[Item], usage: Usage) -> list[Decision]:
        """One decision per item; neighbors are the user's live facts nearest each candidate."""
        ...


def same_content(candidate: CandidateFact, neighbors: Sequence[Neighbor]) -> Decision | None:
    """A no-op when a live fact already says exactly this (no model needed to see that)."""
    digest = content_hash(candidate.content)
    for n in neighbors:
        if content_hash(n.fact.content) == digest:
            return Decision(Action.NONE, [n.fact.id], "same content")
    return None


class RulesReconciler:
    """Deterministic reconciliation from content hashes, cosine similarity and topics."""

    sequential = True
    asks_model = False

    def __init__(self, duplicate_threshold: float) -> None:
        self.duplicate_threshold = duplicate_threshold

    async def decide(self, items: Sequence[Item], usage: Usage) -> list[Decision]:
        return [self._one(candidate, neighbors) for candidate, neighbors in items]

    def _one(self, candidate: CandidateFact, neighbors: Sequence[Neighbor]) -> Decision:
        return without_model(candidate, neighbors, self.duplicate_threshold) or _by_topic(candidate, neighbors)


def without_model(
    candidate: CandidateFact, neighbors: Sequence[Neighbor], threshold: float, *, richer: bool = True
) -> Decision | None:
    """What needs no reconciling model: the same content; an identity (by its topic); an extractor's decision to
    update or delete what it was shown; a near duplicate (cosine >= `threshold`, the same numbers), even when the
    extractor said to add it (with `richer`, one that adds words is an update; else that is left to the
    reconciler); else an extractor's add. None: it is for the reconciler to decide."""
    same = same_content(candidate, neighbors) or identity_decision(candidate, neighbors)
    if same is not None:  # two identifiers embed alike: nearness never makes them duplicates
        return same
    stated = stated_decision(candidate, neighbors)
    if stated is not None and stated.action is not Action.ADD:
        return stated
    for n in neighbors:
        if n.score >= threshold and _same_numbers(candidate.content, n.fact.content):
            if set(terms(candidate.content)) > set(terms(n.fact.content)):
                if not richer:
                    return stated
                return Decision(Action.UPDATE, [n.fact.id], f"richer version ({n.score:.2f})")
            return Decision(Action.NONE, [n.fact.id], f"near duplicate ({n.score:.2f})")
    return stated


def _by_topic(candidate: CandidateFact, neighbors: Sequence[Neighbor]) -> Decision:
    """A new value for the slot a live fact fills (location, occupation, …) replaces it. A fact an extractor gave no
    topic (a model's) is read for one from its shape, as the rules extractor reads it. A dynamic value replaces only
    dynamic ones: a summer job sits beside the lasting one, which must still be there when it expires."""
    topic = candidate.topic or cues.topic_of(candidate.content)
    if topic:
        same_topic = [
            n.fact.id
            for n in neighbors
            if (n.fact.topic or cues.topic_of(n.fact.content)) == topic
            and (candidate.kind == "static" or n.fact.kind == "dynamic")
        ]
        if same_topic:
            return Decision(Action.UPDATE, same_topic, f"newer value for {topic}")
    return Decision(Action.ADD, [], "new fact")


def identity_decision(candidate: CandidateFact, neighbors: Sequence[Neighbor]) -> Decision | None:
    """For an identity (None for any other fact), decided without a model by every reconciler: it is known when
    a live fact states the same identifier, whatever the wording; two emails embed alike, so nearness never makes
    them duplicates: only the topic (same type and label) replaces one."""
    if candidate.identity is None:
        return None
    stated = candidate.identity.model_dump()
    for n in neighbors:
        if n.fact.attributes.get("identity") == stated:
            return Decision(Action.NONE, [n.fact.id], "same identity")
    return _by_topic(candidate, neighbors)


def stated_decision(candidate: CandidateFact, neighbors: Sequence[Neighbor]) -> Decision | None:
    """The extractor's own decision (None when it gave none), if it was made against every live fact related to
    the candidate: a related fact the extractor was not shown leaves the decision to the reconciler."""
    stated = candidate.decision
    if stated is None:
        return None
    considered = set(stated.considered)
    if any(n.fact.id not in considered for n in neighbors):
        return None
    targets = [i for i in dict.fromkeys(stated.ids) if i in considered]
    return checked(Action(stated.action), targets, f"extractor: {stated.action}", "extractor")


def checked(action: Action, targets: list[str], reason: str, by: str) -> Decision:
    """A decision as it can be applied: an update of no fact offered is a new fact, a delete of none does nothing."""
    if action is Action.UPDATE and not targets:
        return Decision(Action.ADD, [], f"{reason} of nothing offered; kept as new", by)
    if action is Action.DELETE and not targets:
        return Decision(Action.NONE, [], f"{reason} of nothing offered; ignored", by)
    return Decision(action, targets, reason, by)


def _same_numbers(a: str, b: str) -> bool:
    """'has 2 cats' and 'has 3 cats' embed alike but are different facts; so are '3 cats and 2 dogs' and '2 cats
    and 3 dogs', and codes with the same digits in another order: the numbers must match in order."""
    return _NUMBER.findall(a) == _NUMBER.findall(b)
