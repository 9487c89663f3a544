"""What a profile section is: a provider with a name, a minimum role and an async `build` for one user.

Providers are plugins (`memory_server.plugins.PROFILE_SECTIONS`, entry-point group
`memory_server.profile_sections`): the entry point's name is the section's name and its value a class called
with no arguments. The built-ins (`memory_server.sections.builtin`) are declared in pyproject.toml exactly as a
third party's package would declare its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from memory_server.context import Core, Scope
from memory_server.models import Role


@dataclass(frozen=True)
class SectionRequest:
    """Who asks for which user's section, and everything the service shares (store, settings, index)."""

    core: Core
    scope: Scope
    user_id: str


@runtime_checkable
class SectionProvider(Protocol):
    """Builds one named section of a user's profile. Must only read.

    Capabilities are attributes, read with defaults when absent: `min_role` ("viewer") is the role a caller needs
    to see the section; `timeout_seconds` (None: the `profile.section_timeout_seconds` setting) is its own budget.
    `build` returns JSON-able data (pydantic models and lists of them included); one that raises or overruns its
    budget is shown as an error in its place, and the other sections are unaffected. CPU-heavy work belongs off
    the event loop (`core.cpu`), like every request's.
    """

    name: str

    async def build(self, request: SectionRequest) -> Any:
        """The section's data for `request.user_id` in `request.scope`."""
        ...


def min_role(provider: SectionProvider) -> Role:
    return getattr(provider, "min_role", "viewer")


def timeout_seconds(provider: SectionProvider) -> float | None:
    return getattr(provider, "timeout_seconds", None)
