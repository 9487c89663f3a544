"""The built-in profile sections. Each reads only what it shows, with one indexed query bounded by a LIMIT
(or the user's live facts, as the per-turn profile does), so asking for fewer sections costs less."""

from __future__ import annotations

from typing import Any

from memory_server import turn_profile
from memory_server.aggregates import Aggregates
from memory_server.models import Change, Consent, IdentityRecord, Interaction, Profile, UserSegment
from memory_server.schemas import ProfileIn
from memory_server.sections.base import SectionRequest
from memory_server.store import changelog as changesql
from memory_server.store import consent as consentsql
from memory_server.store import facts as factsql
from memory_server.store import segments as segmentsql
from memory_server.store import signals as signalsql
from memory_server.store import users as usersql

#: Latest messages the `interactions` section shows, and latest change-log rows the `changes` section shows.
INTERACTIONS = 20
CHANGES = 20


class FactsSection:
    """Live facts, static and dynamic, most useful first: today's per-turn profile."""

    name = "facts"

    async def build(self, request: SectionRequest) -> Profile:
        body = ProfileIn(user_id=request.user_id)
        return (await turn_profile.profile(request.core, request.scope, body)).profile


class AttributesSection:
    """The attributes apps set on the user (publish `user_attributes`, PUT /v1/users/{id})."""

    name = "attributes"

    async def build(self, request: SectionRequest) -> dict[str, Any]:
        record = await usersql.get(request.core.db, request.scope.space, request.user_id)
        return record.attributes if record else {}


class IdentitiesSection:
    """Emails, phone numbers and handles the user stated as theirs, from their live identity facts."""

    name = "identities"

    async def build(self, request: SectionRequest) -> list[IdentityRecord]:
        return await factsql.live_identities(request.core.db, request.scope.space, request.user_id)


class InteractionsSection:
    """The user's latest messages with their signals (sentiment, topics, intentions, price sensitivity)."""

    name = "interactions"

    async def build(self, request: SectionRequest) -> list[Interaction]:
        return await signalsql.interactions(request.core.db, request.scope.space, request.user_id, INTERACTIONS)


class AggregatesSection:
    """What the user's analysed messages add up to (trend, churn risk ...); None until one is analysed."""

    name = "aggregates"

    async def build(self, request: SectionRequest) -> Aggregates | None:
        record = await usersql.get(request.core.db, request.scope.space, request.user_id)
        return record.aggregates if record else None


class SegmentsSection:
    """The segments the user is in, with when they entered each."""

    name = "segments"

    async def build(self, request: SectionRequest) -> list[UserSegment]:
        return await segmentsql.of_user(request.core.db, request.scope.space, request.user_id)


class ChangesSection:
    """The latest rows of the user's change log, newest first."""

    name = "changes"

    async def build(self, request: SectionRequest) -> list[Change]:
        changes, _ = await changesql.page(
            request.core.db,
            request.scope.space,
            user_id=request.user_id,
            request_id=None,
            since=None,
            before_id=None,
            limit=CHANGES,
        )
        return changes


class ConsentSection:
    """Whether the user may be remembered (PUT /v1/users/{id}/consent)."""

    name = "consent"

    async def build(self, request: SectionRequest) -> Consent:
        return await consentsql.get(request.core.db, request.scope.space, request.user_id) or Consent()
