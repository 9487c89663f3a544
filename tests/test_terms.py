"""The keyword terms' document counts are read once and kept for their ttl."""

from __future__ import annotations

from collections.abc import Sequence

from memory_server import terms


class Loader:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.docs = {"cat": 3, "dog": 5}
        self.rows = 10

    async def __call__(self, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
        self.asked.append(list(stems))
        return self.rows, {s: self.docs[s] for s in stems if s in self.docs}


async def test_counts_are_loaded_once_within_the_ttl_and_only_for_missing_terms() -> None:
    counts = terms.DocumentCounts(ttl=60)
    load = Loader()
    assert await counts.get(["cat", "emu"], load) == (10, {"cat": 3})
    load.docs["cat"] = 99
    assert await counts.get(["cat", "dog"], load) == (10, {"cat": 3, "dog": 5})
    assert load.asked == [["cat", "emu"], ["dog"]]
    assert await counts.get(["emu", "cat"], load) == (10, {"cat": 3})  # a term in no row is remembered too
    assert len(load.asked) == 2


async def test_counts_older_than_the_ttl_are_read_again() -> None:
    counts = terms.DocumentCounts(ttl=0)
    load = Loader()
    await counts.get(["cat"], load)
    load.docs["cat"], load.rows = 7, 20
    assert await counts.get(["cat"], load) == (20, {"cat": 7})
    assert load.asked == [["cat"], ["cat"]]


async def test_a_full_cache_starts_over_instead_of_growing() -> None:
    counts = terms.DocumentCounts(ttl=60, capacity=2)
    load = Loader()
    await counts.get(["cat", "dog"], load)
    await counts.get(["emu"], load)
    assert await counts.get(["cat"], load) == (10, {"cat": 3})
    assert load.asked[-1] == ["cat"]
