"""Extractors turn a conversation into candidate facts about its user. This package stands alone: it imports
nothing from `memory_server`, so an extractor can be written and tested without the server."""

from extractors.base import CandidateFact, ExtractionContext, ExtractionError, Extractor, Message, Usage
from extractors.registry import EXTRACTORS, available, create_extractor

__all__ = [
    "EXTRACTORS",
    "CandidateFact",
    "ExtractionContext",
    "ExtractionError",
    "Extractor",
    "Message",
    "Usage",
    "available",
    "create_extractor",
]
