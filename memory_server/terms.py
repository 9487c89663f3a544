"""Words and terms as the keyword index sees them, so facts and episodes are matched the same way.

The episodes' FTS5 index uses `tokenize = 'porter unicode61'`: text is case-folded, diacritics removed,
split on anything that is not a letter or digit, and ASCII words of three letters or more are reduced to
their Porter stem. `terms` reproduces that (snowballstemmer's "porter" is the same original algorithm), so
a query's terms can be weighed with the index's own vocabulary, and facts are scored on the same terms. Runs of
Chinese, Japanese and Korean letters are indexed as their bigrams (`memory_server.cjk`), and read as them here.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache

import snowballstemmer

from memory_server import cjk

MAX_TERMS = 16
_WORD = re.compile(r"[^\W_]+")
_STEMMER = snowballstemmer.stemmer("porter")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "i",
        "me",
        "my",
        "mine",
        "myself",
        "you",
        "your",
        "yours",
        "we",
        "our",
        "ours",
        "they",
        "them",
        "their",
        "he",
        "him",
        "she",
        "his",
        "her",
        "hers",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "not",
        "no",
        "yes",
        "so",
        "than",
        "too",
        "very",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "about",
        "into",
        "over",
        "after",
        "before",
        "up",
        "down",
        "out",
        "off",
        "again",
        "then",
        "there",
        "here",
        "just",
        "also",
        "any",
        "some",
        "all",
        "each",
        "both",
        "few",
        "more",
        "most",
        "other",
        "such",
        "own",
        "same",
        "only",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "re",
        "ve",
        "don",
        "user",
        "tell",
        "know",
        "remember",
        "say",
        "said",
        "ever",
    ]
)


def words(text: str) -> list[str]:
    """Case-folded words without diacritics, split like unicode61; CJK runs as their bigrams."""
    found: list[str] = []
    for piece, is_cjk in cjk.split(text):
        found.extend(cjk.grams(piece) if is_cjk else _plain_words(piece))
    return found


def _plain_words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(ch for ch in folded if not unicodedata.combining(ch)))


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    if len(word) < 3 or not word.isascii() or not word.isalpha():
        return word
    return _STEMMER.stemWord(word)


@lru_cache(maxsize=100_000)
def terms(text: str) -> frozenset[str]:
    """The stems of the text's words that are not stopwords (cached: a user's facts are scored again and again)."""
    return frozenset(stem(word) for word in words(text) if word not in STOPWORDS)


def query_words(text: str) -> dict[str, str]:
    """The query's stems that are not stopwords, each with the first word that gave it (at most MAX_TERMS)."""
    chosen: dict[str, str] = {}
    for word in words(text):
        if word not in STOPWORDS:
            chosen.setdefault(stem(word), word)
    return dict(list(chosen.items())[:MAX_TERMS])


class DocumentCounts:
    """How many keyword rows hold each term, remembered for `ttl` seconds.

    The counts only weigh a query's terms (their IDF), where a minute-old count is as good as a fresh one, and
    reading them for every search cost about as much as the keyword query itself (benchmarks/README.md).
    """

    def __init__(self, ttl: float = 60.0, capacity: int = 50_000) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._rows: tuple[float, int] | None = None
        self._docs: dict[str, tuple[float, int]] = {}

    async def get(
        self, stems: Sequence[str], load: Callable[[Sequence[str]], Awaitable[tuple[int, dict[str, int]]]]
    ) -> tuple[int, dict[str, int]]:
        """(rows in the index, term -> rows holding it), loading what is missing or older than the ttl."""
        fresh_after = time.monotonic() - self._ttl
        missing = [s for s in stems if self._docs.get(s, (-math.inf, 0))[0] < fresh_after]
        if missing or self._rows is None or self._rows[0] < fresh_after:
            rows, docs = await load(missing)
            now = time.monotonic()
            if len(self._docs) + len(missing) > self._capacity:
                self._docs.clear()
            self._rows = (now, rows)
            self._docs.update((s, (now, docs.get(s, 0))) for s in missing)
        return self._rows[1], {s: self._docs[s][1] for s in stems if s in self._docs and self._docs[s][1]}
