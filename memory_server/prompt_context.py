"""What the user's profile reads like in a prompt: one renderer for the client, retrieval and the agent hook.

It works on the profile as JSON (plain dicts), so the agent hook, which must start in milliseconds, renders
the same block without importing pydantic or the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INTRO = "What you know about the user from earlier conversations."


def episode_line(day: str, role: str, text: str) -> str:
    """A past message as it reads in a prompt: its date (YYYY-MM-DD), its speaker and what was said."""
    return f"[{day}] {role}: {text}"


def render_profile(profile: Mapping[str, Any]) -> str:
    """A `/v1/profile` answer as a `<user_memory>` block for a system prompt; empty when nothing is known."""
    facts = profile.get("profile") or {}
    lines: list[str] = []
    for title, key in (("Lasting facts", "static"), ("Recent or temporary (may change)", "dynamic")):
        if facts.get(key):
            lines.append(f"{title}:")
            lines.extend(_fact_line(f) for f in facts[key])
    hits = (profile.get("searchResults") or {}).get("results") or []
    said = [h for h in hits if h.get("type") == "episode"]
    if said:
        lines.append("From earlier conversations (date, speaker):")
        lines.extend(
            "- " + episode_line(str(h["created_at"])[:10], h["role"], h.get("snippet") or h["content"]) for h in said
        )
    if not lines:
        return ""
    return "\n".join(["<user_memory>", INTRO, *lines, "</user_memory>"])


def _fact_line(fact: Mapping[str, Any]) -> str:
    expires = fact.get("expires_at")
    until = f" (until {str(expires)[:10]})" if expires else ""
    return f"- {fact['content']}{until}"
