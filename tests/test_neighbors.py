"""memory_server.neighbors: the stored facts an extractor that reconciles as it extracts is shown (`known_facts`), the
nearest to anything the user said."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from memory_server.models import Fact
from memory_server.neighbors import known_facts
from memory_server.retrieval import LiveFacts

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fact(i: int) -> Fact:
    return Fact(
        id=f"f{i}", user_id="ana", kind="static", content=f"fact {i}", confidence=0.9, status="active",
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_best_score_against_any_message_first_whatever_the_threshold():
    live = LiveFacts([fact(0), fact(1), fact(2)], np.stack([unit(1, 0, 0), unit(0, 1, 0), unit(-1, -1, 0.1)]))
    said = [unit(1, 0.05, 0), unit(0.3, 1, 0)]
    shown = known_facts(live, said, 30)
    assert [f.id for f in shown] == ["f0", "f1", "f2"]  # f2 scores below zero, and is shown all the same
    assert shown[0] is live.facts[0]
    assert [f.id for f in known_facts(live, said[1:], 30)] == ["f1", "f0", "f2"]


def test_at_most_the_limit_and_nothing_without_facts_messages_or_a_limit():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(45, 8)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    live = LiveFacts([fact(i) for i in range(len(matrix))], matrix)
    said = [matrix[40] * 0.9 + matrix[2] * 0.1]
    shown = known_facts(live, said, 30)
    assert len(shown) == 30 and shown[0].id == "f40"
    scores = matrix @ said[0]
    assert {f.id for f in shown} == {f"f{i}" for i in np.argsort(-scores)[:30]}
    assert [f.id for f in known_facts(live, said, 1)] == ["f40"]
    assert known_facts(live, said, 0) == known_facts(live, [], 30) == []
    assert known_facts(LiveFacts([], np.zeros((0, 8), np.float32)), said, 30) == []
