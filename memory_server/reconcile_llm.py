"""Reconciliation by a chat model: one call per request decides ADD/UPDATE/DELETE/NONE for every candidate.

Existing facts are shown under short integer ids, so the model cannot invent a real id; any id it
returns that was not offered is ignored. A candidate whose exact content is already stored, an identity
(decided by `identity_decision`, so identifiers supersede alike whichever reconciler runs), one the extractor
already decided against all its related facts (`stated_decision`: the extraction call did this call's work), or
one that has no related facts, never reaches the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from extractors import prompts
from extractors.base import Usage
from extractors.llm_client import ModelCall, complete_json
from memory_server.reconcile import Action, Decision, Item, checked, without_model


class _Choice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    new: int = Field(ge=0)
    action: Literal["ADD", "UPDATE", "DELETE", "NONE"]
    ids: list[int] = Field(default_factory=list)


class ReconcileReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    decisions: list[_Choice]


class LLMReconciler:
    sequential = False
    asks_model = True

    def __init__(self, call: ModelCall, now: datetime, duplicate_threshold: float) -> None:
        self.call = call
        self.now = now
        self.duplicate_threshold = duplicate_threshold

    async def decide(self, items: Sequence[Item], usage: Usage) -> list[Decision]:
        decisions = [without_model(c, n, self.duplicate_threshold, richer=False) for c, n in items]
        asked = [i for i, (d, (_, near)) in enumerate(zip(decisions, items, strict=True)) if d is None and near]
        for i, decision in enumerate(decisions):
            if decision is None and i not in asked:
                decisions[i] = Decision(Action.ADD, [], "no related facts")
        if asked:
            for i, decision in zip(asked, await self._ask([items[i] for i in asked], usage), strict=True):
                decisions[i] = decision
        return [d for d in decisions if d is not None]

    async def _ask(self, items: Sequence[Item], usage: Usage) -> list[Decision]:
        offered: dict[int, str] = {}
        lines = []
        for _, neighbors in items:
            for n in neighbors:
                if n.fact.id not in offered.values():
                    offered[len(offered)] = n.fact.id
                    said = n.said_at or n.fact.updated_at
                    lines.append(f"[{len(offered) - 1}] {n.fact.content} ({n.fact.kind}, {said:%Y-%m-%d})")
        new = [f"[{i}] {c.content} ({c.kind})" for i, (c, _) in enumerate(items)]
        chat = [
            {"role": "system", "content": prompts.RECONCILE_SYSTEM.format(today=self.now.strftime("%Y-%m-%d"))},
            {"role": "user", "content": prompts.RECONCILE_USER.format(existing="\n".join(lines), new="\n".join(new))},
        ]
        reply = await complete_json(self.call, chat, ReconcileReply, usage)
        chosen: dict[int, _Choice] = {}
        for choice in reply.decisions:
            chosen.setdefault(choice.new, choice)
        return [self._decision(chosen.get(i), offered) for i in range(len(items))]

    @staticmethod
    def _decision(choice: _Choice | None, offered: dict[int, str]) -> Decision:
        if choice is None:
            return Decision(Action.ADD, [], "the model gave no decision; kept as new", "model")
        targets = [offered[i] for i in choice.ids if i in offered]  # ids it was not shown are ignored
        return checked(Action(choice.action), targets, f"model: {choice.action}", "model")
