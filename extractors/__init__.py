"""Extractors turn a conversation into candidate facts about its user."""

from extractors.base import CandidateFact, ExtractionContext, Extractor, Message, create_extractor, register

__all__ = ["CandidateFact", "ExtractionContext", "Extractor", "Message", "create_extractor", "register"]
