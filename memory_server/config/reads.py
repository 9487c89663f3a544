"""How reads answer: search scoring, the unified profile, the per-turn profile cache, and the log of what each
read returned."""

from __future__ import annotations

from pydantic import Field

from memory_server.config.base import Section


class SearchSettings(Section):
    default_top_k: int = Field(10, ge=1, description="Results when top_k is not given.")
    default_threshold: float = Field(
        0.45, ge=0, le=1, description="Minimum score when none is given (scores are calibrated for all-MiniLM-L6-v2)."
    )
    keyword_weight: float = Field(
        0.35, ge=0, le=1, description="How far a keyword match lifts a fact towards a perfect score."
    )
    episode_keyword_weight: float = Field(
        0.1,
        ge=0,
        le=1,
        description="The same for an episode: lower, as chat shares common words by chance (see benchmarks/recall).",
    )
    exact_max_facts: int = Field(
        5_000, ge=1, description="Users with more live facts than this are searched through the vector index."
    )


class ProfileSettings(Section):
    """The unified profile (`GET /v1/users/{id}/profile`): named sections, built concurrently."""

    section_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="Longest one section may take, unless its provider declares its own budget."
    )


class ProfileCacheSettings(Section):
    """The per-turn profile without `q` (`POST /v1/profile`), kept per user until anything of theirs changes."""

    users: int = Field(
        1_000, ge=0, le=1_000_000, description="Users whose profiles are kept (least recently served go first; 0: off)."
    )
    seconds: float = Field(
        60.0,
        gt=0,
        le=3_600,
        description="Longest an answer is kept although nothing changed (dynamic facts' ranking ages with time).",
    )


class RetrievalLogSettings(Section):
    """What each profile and search returned, per user (memory_server.retrieval_log)."""

    enabled: bool = Field(
        True, description="Record what each profile and search returned (GET /v1/users/{id}/retrievals)."
    )
    retention_days: int = Field(30, ge=1, le=3_650, description="Days an entry is kept before it is swept.")
    flush_seconds: float = Field(
        1.0, gt=0, le=60, description="How often buffered entries are written; a crash loses at most this much."
    )
