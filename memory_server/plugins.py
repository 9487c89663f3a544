"""The server's plugin groups. Extractors have theirs in `extractors.registry` (they stand alone)."""

from __future__ import annotations

from extractors.registry import Registry

#: Embedders: a class (or factory) with an `Options` pydantic model, called with those options as keywords.
EMBEDDERS = Registry("memory_server.embedders", "embedder")

#: Profile sections: a class (called with no arguments) following `memory_server.sections.SectionProvider`.
PROFILE_SECTIONS = Registry("memory_server.profile_sections", "profile section")
