"""The user's live facts as a request's candidates are reconciled against them: which are each candidate's
neighbours (`Working`), and which an extractor that reconciles as it extracts is shown (`known_facts`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from extractors.base import CandidateFact
from memory_server.models import Fact
from memory_server.reconcile import Neighbor
from memory_server.retrieval import LiveFacts
from memory_server.store import facts as factsql

MAX_NEIGHBORS = 10


class Working:
    """The user's live facts as a batch is reconciled: vectors in one growing matrix, content hashes and
    topics indexed once, so each candidate costs one matrix-vector product instead of a rebuild."""

    def __init__(self, facts: Sequence[Fact], matrix: np.ndarray) -> None:
        self.facts: list[Fact] = []
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.live = np.zeros(0, dtype=bool)
        self.at: dict[str, int] = {}
        self.by_key: dict[str, set[int]] = {}
        for fact, vector in zip(facts, matrix, strict=True):
            self.add(fact, vector)

    @staticmethod
    def _keys(item: Fact | CandidateFact) -> list[str]:
        """What makes a fact a neighbour whatever its score: the same content, or the same topic."""
        keys = ["#" + factsql.content_hash(item.content)]
        return [*keys, "@" + item.topic] if item.topic else keys

    def add(self, fact: Fact, vector: np.ndarray) -> None:
        i = len(self.facts)
        if i == len(self.live):  # full: double the room
            matrix, live = np.zeros((max(64, 2 * i), len(vector)), dtype=np.float32), np.zeros(max(64, 2 * i), bool)
            if i:
                matrix[:i], live[:i] = self.matrix, self.live
            self.matrix, self.live = matrix, live
        self.matrix[i] = vector
        self.live[i] = True
        self.facts.append(fact)
        self.at[fact.id] = i
        for key in self._keys(fact):
            self.by_key.setdefault(key, set()).add(i)

    def remove(self, fact_ids: set[str]) -> None:
        for fact_id in fact_ids:
            i = self.at.pop(fact_id, None)
            if i is not None:
                self.live[i] = False
                for key in self._keys(self.facts[i]):
                    self.by_key[key].discard(i)

    def pairs(self, fact_ids: set[str]) -> list[tuple[Fact, np.ndarray]]:
        """The live facts among `fact_ids` with their vectors, in the order they joined."""
        found = sorted(self.at[f] for f in fact_ids if f in self.at)
        return [(self.facts[i], self.matrix[i]) for i in found]

    def neighbors(self, vector: np.ndarray, candidate: CandidateFact, related: float) -> list[Neighbor]:
        """The live facts nearest the candidate, plus every fact on the same topic or with the same content."""
        if not self.at:
            return []
        n = len(self.facts)
        scores = self.matrix[:n] @ vector
        scores[~self.live[:n]] = -np.inf
        near = np.flatnonzero(scores >= related)
        if len(near) > MAX_NEIGHBORS:
            near = near[np.argpartition(-scores[near], MAX_NEIGHBORS - 1)[:MAX_NEIGHBORS]]
        keys = self._keys(candidate)
        chosen = set(near.tolist()).union(*(self.by_key.get(k, set()) for k in keys))
        picked: list[Neighbor] = []
        for i in sorted(chosen, key=lambda j: (-scores[j], j)):
            fact = self.facts[i]
            close = scores[i] >= related and len(picked) < MAX_NEIGHBORS
            same = (candidate.topic and fact.topic == candidate.topic) or i in self.by_key.get(keys[0], ())
            if close or same:
                picked.append(Neighbor(fact, float(scores[i])))
        return picked


def known_facts(live: LiveFacts, said: Sequence[np.ndarray], limit: int) -> list[Fact]:
    """The live facts to show an extractor that reconciles as it extracts: the `limit` nearest to anything the user
    said, best first, with no threshold. A message scores the facts related to a fact drawn from it lower than that
    fact does (often below `related_threshold`), and a candidate whose related facts were not all shown costs the
    reconciler's call after all: in the side-by-side benchmark at 10k, 28 of 1,000 conversations did (in a probe
    on its data, showing only the facts within 0.1 of the threshold would have covered 93 of 263)."""
    if not live.facts or not said:
        return []
    best = (live.matrix @ np.stack(said).T).max(axis=1)
    return [live.facts[i] for i in np.argsort(-best, kind="stable")[:limit].tolist()]
