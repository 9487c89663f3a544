"""The base of every settings section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A section of the settings: an unknown key is an error, so that a misspelt setting never passes silently."""

    model_config = ConfigDict(extra="forbid")
