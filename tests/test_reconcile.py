"""The rules reconciler: no-ops, richer versions, topics, and numbers that must not merge; and an extractor's own
decisions, which either reconciler takes only when the extractor saw every related fact."""

from __future__ import annotations

from datetime import UTC, datetime

from extractors.base import CandidateFact, StatedDecision, Usage
from memory_server.models import Fact
from memory_server.reconcile import Action, Neighbor, RulesReconciler, stated_decision
from memory_server.reconcile_llm import LLMReconciler

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
    assert d.action is Action.UPDATE and d.reason == "newer value for pet_cat"  # a new count, not a repeat
    d = await decide("User has 2 cats and 3 dogs", Neighbor(existing("User has 3 cats and 2 dogs"), 0.99))
    assert d.action is not Action.NONE  # the same numbers in another order say something else
    d = await decide("User's gate code is 19 then 4", Neighbor(existing("User's gate code is 4 then 19"), 0.99))
    assert d.action is not Action.NONE


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


def stated(action: str, ids: list[str], considered: list[str]) -> CandidateFact:
    decision = StatedDecision(action=action, ids=ids, considered=considered)
    return CandidateFact(content="User lives in Lisbon", kind="static", decision=decision)


async def test_an_extractors_decision_stands_when_it_saw_every_related_fact():
    berlin, near = Neighbor(existing("User lives in Berlin", fid="a"), 0.8), Neighbor(existing("x", fid="b"), 0.6)
    candidate = stated("UPDATE", ["a", "a", "z"], ["a", "b"])
    for reconciler in (RulesReconciler(0.9), LLMReconciler(call=None, now=NOW, duplicate_threshold=0.9)):  # no model
        [d] = await reconciler.decide([(candidate, [berlin, near])], Usage())
        assert (d.action, d.target_ids, d.reason) == (Action.UPDATE, ["a"], "extractor: UPDATE")


async def test_a_related_fact_the_extractor_was_not_shown_leaves_the_decision_to_the_reconciler():
    berlin = Neighbor(existing("User lives in Berlin", "location", "a"), 0.8)
    candidate = stated("ADD", [], ["b"]).model_copy(update={"topic": "location"})
    assert stated_decision(candidate, [berlin]) is None
    [d] = await RulesReconciler(0.9).decide([(candidate, [berlin])], Usage())
    assert (d.action, d.target_ids) == (Action.UPDATE, ["a"])  # by topic, as without a stated decision


def test_a_stated_update_or_delete_of_nothing_it_was_shown_is_an_add_or_nothing():
    assert stated_decision(stated("UPDATE", ["z"], ["a"]), []).action is Action.ADD
    assert stated_decision(stated("DELETE", [], ["a"]), []).action is Action.NONE
    assert stated_decision(stated("NONE", ["a"], ["a"]), []).target_ids == ["a"]
    assert stated_decision(CandidateFact(content="x", kind="static"), []) is None


async def test_a_near_duplicate_an_extractor_said_to_add_is_a_noop_for_either_reconciler():
    vegetarian = Neighbor(existing("User is a vegetarian", fid="v"), 0.98)
    candidate = CandidateFact(
        content="User is vegetarian.",
        kind="static",
        decision=StatedDecision(action="ADD", ids=[], considered=["v"]),
    )
    for reconciler in (RulesReconciler(0.9), LLMReconciler(call=None, now=NOW, duplicate_threshold=0.9)):
        [d] = await reconciler.decide([(candidate, [vegetarian])], Usage())
        assert (d.action, d.target_ids) == (Action.NONE, ["v"])
