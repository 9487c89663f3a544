"""Which turns the hooks have published for a user, whichever session they came in.

Claude Code gives a resumed session a new id and a new transcript that replays the old session's turns before
the new ones: by the session's own offset they are all new. A turn is known by its role, time and text (replayed
turns keep their time), so those already published are left out however they come back. The ledger is one file
per user in the state directory, one short fingerprint a line, trimmed to the latest `KEEP` (a resumed session
older than that is published again). Turns without a time cannot be told from a repeat and always go out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from memory_server.files import write_whole
from memory_server.transcript import Turn

KEEP = 20_000
_PRINT_CHARS = 24


def _fingerprint(turn: Turn) -> str | None:
    if turn.created_at is None:
        return None
    return hashlib.sha256(f"{turn.role}\0{turn.created_at}\0{turn.content}".encode()).hexdigest()[:_PRINT_CHARS]


class Ledger:
    def __init__(self, state_dir: Path, user: str) -> None:
        self.path = state_dir / "published" / (hashlib.sha256(user.encode()).hexdigest()[:32] + ".txt")
        self._known: set[str] | None = None

    def unpublished(self, turns: Sequence[Turn]) -> list[Turn]:
        """The turns not published before (the ledger is read only when there are turns to check)."""
        if not turns:
            return []
        known = self._read()
        return [t for t in turns if _fingerprint(t) not in known]

    def record(self, turns: Sequence[Turn]) -> None:
        """Remember these turns as published (appended; trimmed once it holds a quarter more than `KEEP`)."""
        prints = [p for p in map(_fingerprint, turns) if p is not None]
        if not prints:
            return
        self._read().update(prints)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="ascii") as f:
            f.write("".join(p + "\n" for p in prints))
        if self.path.stat().st_size > KEEP * (_PRINT_CHARS + 1) * 5 // 4:
            lines = self.path.read_text("ascii").splitlines()[-KEEP:]
            write_whole(self.path, "".join(line + "\n" for line in lines).encode("ascii"))

    def _read(self) -> set[str]:
        if self._known is None:
            try:
                self._known = set(self.path.read_text("ascii").split())
            except (OSError, ValueError):
                self._known = set()
        return self._known
