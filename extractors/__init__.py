"""Extractors turn a conversation into candidate facts about its user."""

from extractors.base import (
    CandidateFact,
    ExtractionContext,
    ExtractionError,
    Extractor,
    Message,
    Usage,
    create_extractor,
    register,
)

__all__ = [
    "CandidateFact",
    "ExtractionContext",
    "ExtractionError",
    "Extractor",
    "Message",
    "Usage",
    "create_extractor",
    "register",
]
