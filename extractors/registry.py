"""Plugins by name: Python entry points, plus names registered in-process.

Every pluggable part (extractors here; embedders and profile sections in the server) is looked up the same
way: the entry-point group names it (`[project.entry-points."memory_server.extractors"] rules =
"extractors.rules:RulesExtractor"`), so a third party's package is found once installed, and the built-ins
are declared in this project's own pyproject.toml exactly as a third party's would be. `register` adds a
name for this process only (tests, embedding apps).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any


class PluginError(ValueError):
    """An unknown plugin name, or one that failed to load; the message lists what exists."""


class Registry:
    def __init__(self, group: str, what: str) -> None:
        self.group = group
        self.what = what
        self._local: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, factory: Callable[..., Any]) -> None:
        """Make `factory` available under `name` in this process (it wins over an entry point of that name)."""
        self._local[name] = factory

    def names(self) -> list[str]:
        return sorted({*self._local, *(ep.name for ep in entry_points(group=self.group))})

    def load(self, name: str) -> Callable[..., Any]:
        """The factory registered as `name`: a class, or a callable taking the plugin's options."""
        if name in self._local:
            return self._local[name]
        found = [ep for ep in entry_points(group=self.group) if ep.name == name]
        if not found:
            raise PluginError(f"unknown {self.what} {name!r}: choose one of {', '.join(self.names())}")
        try:
            return found[0].load()
        except Exception as exc:
            raise PluginError(f"the {self.what} {name!r} ({found[0].value}) failed to load: {exc}") from exc
