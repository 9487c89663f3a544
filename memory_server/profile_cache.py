"""The per-turn profile without `q`, kept per user and served again while nothing of the user changed.

A chat app asks for the profile before every turn, and a user's memory changes far less often than that. An
entry is one user's answers (one per `max_tokens`), encoded once as the JSON the HTTP door sends, beside what the
retrieval log records of them. It is served only while all of these hold:

- the user's revision is the one it was built at. Triggers bump it in the transaction of every write to the user's
  facts or their vectors (migrations m016, m018), so one primary-key read sees any such write, from this process
  or, with a shared database, another one. Messages, signals, consent and the user's record leave it: the answer
  is built from live facts alone, and a chat app that publishes every turn keeps its entry while a turn changes
  no fact. The revision is read before the facts, so an entry is never newer than the revision it carries.
  On a shared PostgreSQL database the read is skipped while the database's feed (`store.revision_feed`) vouches
  for the entry: it drops a user's entry when told of a write to the user, from any process, and an entry is
  trusted only in the feed's epoch in which its revision was read with no such news meanwhile, and only while the
  feed is caught up with this process's own writes (so a read after a write here always sees it; one after a
  write in another process, once its notification arrived);
- the space's extraction config version is the one it was built with;
- none of the facts it was built from has expired (the earliest `expires_at` of all the user's live facts, shown
  or trimmed by `max_tokens`, bounds the entry);
- it is younger than `profile_cache.seconds` (dynamic facts' usefulness decays with their age, which can reorder
  them or change what a token budget keeps).

Answers with `q` are never kept: they depend on the query and on counts over every user's messages (keyword
weights). Entries are keyed by memory space (tenant and project) and user; the caller's role is checked before
the cache is asked. At most `profile_cache.users` users are kept, the least recently served dropped first.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from memory_server import timeutil, turn_profile
from memory_server.config import ProfileCacheSettings
from memory_server.context import Core, Scope
from memory_server.models import ProfileResponse
from memory_server.retrieval_log import encode
from memory_server.schemas import ProfileIn
from memory_server.store import user_revisions
from memory_server.store.db import Feed

LOOKUPS = Counter(
    "memory_server_profile_cache_lookups",
    "Profiles without q asked of the per-user cache, by result (hit, or miss: built and kept).",
    ["result"],
)
_HITS, _MISSES = LOOKUPS.labels("hit"), LOOKUPS.labels("miss")
VARIANTS = 8  # answers kept per user (one per max_tokens asked); more are built but not kept


class Answer:
    """One profile answer: the JSON the HTTP door sends and the JSON the retrieval log records of it (each encoded
    once, however often the answer is served), and the response model other doors use (decoded from the first only
    when one asks)."""

    __slots__ = ("_json", "_response", "memories")

    def __init__(
        self, response: ProfileResponse | None, json: bytes | None = None, memories: str | None = None
    ) -> None:
        self._response = response
        self._json = json
        self.memories = encode(logged_memories(self.response)) if memories is None else memories

    @property
    def response(self) -> ProfileResponse:
        if self._response is None:
            assert self._json is not None
            self._response = ProfileResponse.model_validate_json(self._json)
        return self._response

    @property
    def json(self) -> bytes:
        if self._json is None:
            answer = self.response
            drop = {"searchResults"} if answer.searchResults is None else set()
            if answer.tokens is None:
                drop.add("tokens")
            self._json = answer.model_dump_json(exclude=drop).encode()
        return self._json

    def kept(self) -> Answer:
        """This answer as an entry keeps it: the JSON and the log's memories, not the model (about a tenth of
        the memory)."""
        return Answer(None, self.json, self.memories)


def logged_memories(answer: ProfileResponse) -> list[dict[str, Any]]:
    """What the retrieval log records of a profile answer: its facts in order, then its search results."""
    facts = [
        {"type": "fact", "id": f.id, "score": None, "section": section}
        for section, shown in (("static", answer.profile.static), ("dynamic", answer.profile.dynamic))
        for f in shown
    ]
    hits = answer.searchResults.results if answer.searchResults is not None else []
    return [*facts, *({"type": h.type, "id": h.id, "score": h.score, "section": "search"} for h in hits)]


@dataclass
class _Entry:
    revision: int
    config_version: int
    built: float  # time.monotonic()
    expires: datetime | None  # the earliest expiry of the user's live facts
    trusted: int | None  # the feed's epoch in which no write to the user was told after `revision` was read
    answers: dict[int | None, Answer] = field(default_factory=dict)

    def fresh(self, revision: int | None, config_version: int, max_age: float) -> bool:
        return (
            revision == self.revision
            and config_version == self.config_version
            and time.monotonic() - self.built < max_age
            and (self.expires is None or timeutil.now() < self.expires)
        )


class _Watch:
    """A revision read in flight: spoiled when a write to its user is told before the answer is kept."""

    __slots__ = ("spoiled",)

    def __init__(self) -> None:
        self.spoiled = False


class ProfileCache:
    def __init__(self, core: Core, settings: ProfileCacheSettings) -> None:
        self.core = core
        self.settings = settings
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._feed: Feed | None = None  # the database's news of writes, followed from the first profile asked
        self._followed = False
        self._watches: dict[tuple[str, str], list[_Watch]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def answer(self, scope: Scope, body: ProfileIn) -> Answer:
        """The profile `body` asks for: kept or built (and then kept, when it is one the cache keeps)."""
        if body.q or not self.settings.users:
            return Answer(await turn_profile.profile(self.core, scope, body))
        if not self._followed:
            self._followed = True
            self._feed = await self.core.db.follow(self._revised)
        key = (scope.space, body.user_id)
        config_version, _ = await self.core.configs.active(scope.space)
        entry = self._entries.get(key)
        if (
            entry is not None
            and self._trusted(entry)
            and entry.fresh(entry.revision, config_version, self.settings.seconds)
            and (found := entry.answers.get(body.max_tokens)) is not None
        ):
            return self._hit(key, found)
        with self._watching(key) as watch:
            epoch = self._feed.epoch if self._feed is not None else None
            revision = await user_revisions.get(self.core.db, *key)  # before the facts: see the module's docstring
            entry = self._entries.get(key)
            if entry is not None and not entry.fresh(revision, config_version, self.settings.seconds):
                del self._entries[key]
                entry = None
            if entry is not None and (found := entry.answers.get(body.max_tokens)) is not None:
                entry.trusted = None if watch.spoiled else epoch
                return self._hit(key, found)
            _MISSES.inc()
            live = await turn_profile.profile_facts(self.core, scope.space, body.user_id)
            answer = Answer(await turn_profile.profile(self.core, scope, body, live))
            if revision is None:  # nothing stored for the user (or just purged): nothing to validate an entry with
                return answer
            if entry is None:
                expiries = [f.expires_at for f in live if f.expires_at is not None]
                entry = _Entry(revision, config_version, time.monotonic(), min(expiries, default=None), None)
                self._entries[key] = entry
            entry.trusted = None if watch.spoiled else epoch
            if len(entry.answers) < VARIANTS:
                entry.answers[body.max_tokens] = answer.kept()
        if self._entries.get(key) is not entry:  # dropped (or built anew) by another request meanwhile
            return answer
        self._entries.move_to_end(key)
        while len(self._entries) > self.settings.users:
            self._entries.popitem(last=False)
        return answer

    def _trusted(self, entry: _Entry) -> bool:
        """Whether the feed vouches that nothing of the user changed since the entry's revision was read."""
        feed = self._feed
        return feed is not None and entry.trusted is not None and entry.trusted == feed.epoch and feed.caught_up()

    def _hit(self, key: tuple[str, str], found: Answer) -> Answer:
        self._entries.move_to_end(key)
        _HITS.inc()
        return found

    @contextlib.contextmanager
    def _watching(self, key: tuple[str, str]) -> Iterator[_Watch]:
        watch = _Watch()
        self._watches.setdefault(key, []).append(watch)
        try:
            yield watch
        finally:
            watches = self._watches[key]
            watches.remove(watch)
            if not watches:
                del self._watches[key]

    def _revised(self, space: str, user_id: str) -> None:
        key = (space, user_id)
        self._entries.pop(key, None)
        for watch in self._watches.get(key, ()):
            watch.spoiled = True
