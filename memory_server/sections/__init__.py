"""The unified profile: a user's named sections, only those asked for, built concurrently.

`Profiles` is the part of the service facade for it (`MemoryService.profiles`). Each section runs under its own
budget; one whose provider raises, overruns its budget or fails to load is answered as `{name, data: null,
error}` and the others are unaffected. Roles: asking by name for a section above the caller's role is a 403;
when all sections are asked for (no names), such a section is listed with an error instead, so a viewer's
profile still comes back whole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pydantic_core import to_jsonable_python

from extractors.registry import PluginError
from memory_server import timeutil
from memory_server.context import Core, Scope
from memory_server.errors import Forbidden, UnknownName
from memory_server.models import ProfileSection, UnifiedProfile
from memory_server.plugins import PROFILE_SECTIONS
from memory_server.sections.base import SectionProvider, SectionRequest, min_role, timeout_seconds

log = logging.getLogger(__name__)

#: The built-ins in the order a whole profile lists them; plugins' sections follow by name.
BUILTIN = ("facts", "attributes", "identities", "interactions", "aggregates", "segments", "changes", "consent")


class Profiles:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._providers: dict[str, SectionProvider | PluginError] = {}

    def available(self) -> list[str]:
        """Every section that can be asked for: the built-ins, then plugins' by name."""
        names = PROFILE_SECTIONS.names()
        return [n for n in BUILTIN if n in names] + [n for n in names if n not in BUILTIN]

    def _provider(self, name: str) -> SectionProvider | PluginError:
        """The provider of `name`, loaded once; a load failure is kept and shown in the section's place."""
        if name not in self._providers:
            try:
                self._providers[name] = PROFILE_SECTIONS.load(name)()
            except PluginError as exc:
                self._providers[name] = exc
        return self._providers[name]

    async def build(self, scope: Scope, user_id: str, names: Sequence[str] | None = None) -> UnifiedProfile:
        """The sections `names` (all when None) of the user's profile, in the order asked."""
        scope.require("viewer")
        available = self.available()
        wanted = available if names is None else list(dict.fromkeys(names))
        unknown = [n for n in wanted if n not in available]
        if unknown or not wanted:
            what = f"no section {', '.join(unknown)}" if unknown else "name at least one section"
            raise UnknownName(f"sections: {what}: choose from {', '.join(available)}", field="sections")
        providers = {name: self._provider(name) for name in wanted}
        if names is not None:
            for name, provider in providers.items():
                if not isinstance(provider, PluginError) and not scope.allows(min_role(provider)):
                    raise Forbidden(
                        f"sections: {name} needs the {min_role(provider)} role; the key used has the {scope.role} role",
                        field="sections",
                    )
        request = SectionRequest(self.core, scope, user_id)
        built = await asyncio.gather(*(self._section(name, p, request) for name, p in providers.items()))
        return UnifiedProfile(user_id=user_id, tenant_id=scope.tenant_id, sections=built, computed_at=timeutil.now())

    async def _section(
        self, name: str, provider: SectionProvider | PluginError, request: SectionRequest
    ) -> ProfileSection:
        if isinstance(provider, PluginError):
            return ProfileSection(name=name, error=str(provider))
        role = min_role(provider)
        if not request.scope.allows(role):
            error = f"needs the {role} role; the key used has the {request.scope.role} role"
            return ProfileSection(name=name, error=error)
        budget = timeout_seconds(provider) or self.core.settings.profile.section_timeout_seconds
        try:
            async with asyncio.timeout(budget):
                data = await provider.build(request)
            return ProfileSection(name=name, data=to_jsonable_python(data))
        except TimeoutError:
            return ProfileSection(name=name, error=f"timed out after {budget:g} s")
        except Exception as exc:
            log.exception("profile section %s failed", name)
            return ProfileSection(name=name, error=f"failed: {type(exc).__name__}: {exc}")
