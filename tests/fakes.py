"""A registered fake extractor with a queue of replies and a history, in the style of llm's MockModel."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence

from extractors.base import CandidateFact, Extraction, ExtractionContext, Message
from extractors.registry import EXTRACTORS
from extractors.signals import MessageSignals


class QueueExtractor:
    """Answers each call with the next queued reply: a list of facts, or an exception to raise."""

    name = "fake"

    def __init__(self) -> None:
        self.replies: deque[list[CandidateFact] | Exception] = deque()
        self.calls: list[list[Message]] = []

    def queue(self, *replies: list[CandidateFact] | Exception) -> None:
        self.replies.extend(replies)

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> list[CandidateFact]:
        self.calls.append(list(messages))
        if not self.replies:
            return []
        reply = self.replies.popleft()
        if isinstance(reply, Exception):
            raise reply
        return reply


FAKE = QueueExtractor()
EXTRACTORS.register("fake", lambda: FAKE)


def fact(content: str, kind: str = "static", **extra: object) -> CandidateFact:
    return CandidateFact(content=content, kind=kind, **extra)


class ExitingExtractor:
    """A CPU-bound extractor whose worker process dies mid-extraction, as a crash in native code would."""

    name = "exits"
    cpu_bound = True

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> list[CandidateFact]:
        os._exit(3)


EXTRACTORS.register("exits", ExitingExtractor)


class RatingExtractor:
    """A CPU-bound extractor that rates the first message of the wanted roles itself (sentiment -0.42, billing)."""

    name = "rating"
    cpu_bound = True

    async def extract(self, messages: Sequence[Message], context: ExtractionContext) -> Extraction:
        wanted = context.signals
        first = next((i for i, m in enumerate(messages) if wanted and m.role in wanted.roles), None)
        rated = {} if first is None else {first: MessageSignals(sentiment=-0.42, topics={"billing": 1.0})}
        return Extraction(facts=[CandidateFact(content="User was rated", kind="static")], signals=rated)


EXTRACTORS.register("rating", RatingExtractor)
