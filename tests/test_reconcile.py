"""The rules reconciler: no-ops, richer versions, topics, and numbers that must not merge."""

from __future__ import annotations

from datetime import UTC, datetime

from extractors.base import CandidateFact, Usage
from memory_server.models import Fact
from memory_server.reconcile import Action, Neighbor, RulesReconciler

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def existing(content: str, topic: str | None = None, fid: str = "f1") -> Fact:
    return Fact(
        id=fid,
        user_id="ana",
        kind="static",
        content=content,
        confidence=0.9,
        topic=topic,
        status="active",
        created_at=NOW,
        updated_at=NOW,
    )


async def decide(content: str, *neighbors: Neighbor, topic: str | None = None):
    candidate = CandidateFact(content=content, kind="static", topic=topic)
    [decision] = await RulesReconciler(0.9).decide([(candidate, neighbors)], Usage())
    return decision


async def test_same_content_in_other_case_and_punctuation_is_a_noop():
    d = await decide("user is a NURSE.", Neighbor(existing("User is a nurse"), 0.99))
    assert (d.action, d.target_ids) == (Action.NONE, ["f1"])


async def test_near_duplicate_is_a_noop_but_a_richer_one_supersedes():
    assert (
        await decide("User works as nurse", Neighbor(existing("User works as a nurse"), 0.95))
    ).action is Action.NONE
    d = await decide("User is a nurse in Oslo", Neighbor(existing("User is a nurse"), 0.92))
    assert (d.action, d.target_ids) == (Action.UPDATE, ["f1"])


async def test_different_numbers_are_never_duplicates():
    d = await decide("User has 3 cats", Neighbor(existing("User has 2 cats"), 0.97))
    assert d.action is Action.ADD


async def test_same_topic_supersedes_every_fact_on_it():
    d = await decide(
        "User lives in Lisbon",
        Neighbor(existing("User lives in Berlin", "location", "a"), 0.8),
        Neighbor(existing("User lives near Berlin", "location", "b"), 0.7),
        Neighbor(existing("User likes Berlin", None, "c"), 0.7),
        topic="location",
    )
    assert (d.action, d.target_ids) == (Action.UPDATE, ["a", "b"])


async def test_unrelated_fact_is_added():
    assert (await decide("User keeps bees", Neighbor(existing("User is a nurse"), 0.2))).action is Action.ADD
    assert (await decide("User keeps bees")).action is Action.ADD
