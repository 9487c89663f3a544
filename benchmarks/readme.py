"""The results table of each benchmark lives in benchmarks/README.md between its own pair of markers."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def write_block(block: str, start: str, end: str) -> None:
    """Put `block` (from marker `start` to marker `end`, both included) where those markers stand in the README,
    or at its end the first time."""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(text)
    print(f"wrote {README}")
