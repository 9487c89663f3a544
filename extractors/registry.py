"""Plugins by name: Python entry points, plus names registered in-process.

Every pluggable part (extractors here; embedders and profile sections in the server) is looked up the same
way: the entry-point group names it (`[project.entry-points."memory_server.extractors"] rules =
"extractors.rules:RulesExtractor"`), so a third party's package is found once installed, and the built-ins
are declared in this project's own pyproject.toml exactly as a third party's would be. `register` adds a
name for this process only (tests, embedding apps).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel, ConfigDict


@functools.lru_cache(maxsize=16)
def _discovered(group: str, path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    """The group's entry points, read once per `sys.path` (a scan of every installed package costs ~10 ms,
    too much for each job); a directory added to the path is scanned afresh."""
    return tuple(entry_points(group=group))


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

    def _entry_points(self) -> tuple[EntryPoint, ...]:
        return _discovered(self.group, tuple(sys.path))

    def names(self) -> list[str]:
        return sorted({*self._local, *(ep.name for ep in self._entry_points())})

    def load_all(self) -> None:
        """Import every installed plugin now (a worker process warming up); one that fails is skipped here and
        reported when it is used."""
        for name in self.names():
            with contextlib.suppress(PluginError):
                self.load(name)

    def load(self, name: str) -> Callable[..., Any]:
        """The factory registered as `name`: a class, or a callable taking the plugin's options."""
        if name in self._local:
            return self._local[name]
        found = [ep for ep in self._entry_points() if ep.name == name]
        if not found:
            raise PluginError(f"unknown {self.what} {name!r}: choose one of {', '.join(self.names())}")
        try:
            return found[0].load()
        except Exception as exc:
            raise PluginError(f"the {self.what} {name!r} ({found[0].value}) failed to load: {exc}") from exc


class NoOptions(BaseModel):
    """The options of a plugin that declares none."""

    model_config = ConfigDict(extra="forbid")


def options_model(factory: Callable[..., Any]) -> type[BaseModel]:
    return getattr(factory, "Options", NoOptions)


EXTRACTORS = Registry("memory_server.extractors", "extractor")


def available() -> list[str]:
    """Names of the installed (and in-process registered) extractors."""
    return EXTRACTORS.names()


def create_extractor(name: str, options: dict[str, Any] | None = None) -> Any:
    """Build the extractor `name` with `options`, validated by its `Options` (ValidationError names the bad one)."""
    factory = EXTRACTORS.load(name)
    validated = options_model(factory).model_validate(options or {})
    return factory(**dict(validated))
