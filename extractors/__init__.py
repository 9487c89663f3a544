"""Extractors turn a conversation into candidate facts about its user. This package stands alone: it imports
nothing from `memory_server`, so an extractor can be written and tested without the server."""

from extractors.base import (
    CandidateFact,
    Extraction,
    ExtractionContext,
    ExtractionError,
    Extractor,
    Message,
    SignalRequest,
    Usage,
    as_extraction,
)
from extractors.registry import EXTRACTORS, available, create_extractor
from extractors.signals import MessageSignals

__all__ = [
    "EXTRACTORS",
    "CandidateFact",
    "Extraction",
    "ExtractionContext",
    "ExtractionError",
    "Extractor",
    "Message",
    "MessageSignals",
    "SignalRequest",
    "Usage",
    "as_extraction",
    "available",
    "create_extractor",
]
