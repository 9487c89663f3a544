"""Extractors turn a conversation into candidate facts about its user. This package stands alone: it imports
nothing from `memory_server`, so an extractor can be written and tested without the server.

The names below load on first use (PEP 562): `memory_server` imports `extractors.runtime` at start-up, and
a light process such as the agent hook must not pay for pydantic and asyncio to get it.
"""

from __future__ import annotations

from typing import Any

_HOMES = {
    "CandidateFact": "extractors.base",
    "Extraction": "extractors.base",
    "ExtractionContext": "extractors.base",
    "ExtractionError": "extractors.base",
    "Extractor": "extractors.base",
    "KnownFact": "extractors.base",
    "Message": "extractors.base",
    "SignalRequest": "extractors.base",
    "StatedDecision": "extractors.base",
    "Usage": "extractors.base",
    "as_extraction": "extractors.base",
    "EXTRACTORS": "extractors.registry",
    "available": "extractors.registry",
    "create_extractor": "extractors.registry",
    "MessageSignals": "extractors.signals",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'extractors' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(home), name)
