"""Hybrid scoring of one user's facts: cosine similarity blended with keyword overlap.

Scoring is exact over the user's own vectors (read from SQLite beside the facts), which a user's few
hundred or few thousand facts make cheap (~0.2 ms for 100) and which, unlike a filtered approximate
query over everyone's vectors, can never miss one of the user's facts. The keyword part makes exact
names and numbers count even when the embedding model blurs them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
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
        "you",
        "your",
        "we",
        "our",
        "they",
        "them",
        "their",
        "he",
        "she",
        "his",
        "her",
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
        "user",
        "user's",
        "s",
    ]
)


def terms(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.casefold()) if t not in STOPWORDS]


def keyword_scores(query: str, documents: Sequence[str]) -> np.ndarray:
    """For each document, the IDF-weighted share of the query's terms it contains (0..1)."""
    q_terms = set(terms(query))
    if not q_terms or not documents:
        return np.zeros(len(documents), dtype=np.float32)
    doc_terms = [set(terms(d)) for d in documents]
    df = Counter(t for d in doc_terms for t in d if t in q_terms)
    n = len(documents)
    idf = {t: math.log(1 + (n + 1) / (df.get(t, 0) + 0.5)) for t in q_terms}
    total = sum(idf.values())
    return np.array([sum(idf[t] for t in q_terms & d) / total for d in doc_terms], dtype=np.float32)


def hybrid_scores(
    query: str, query_vector: np.ndarray, documents: Sequence[str], matrix: np.ndarray, keyword_weight: float
) -> np.ndarray:
    """cosine + w * keyword * (1 - cosine): a keyword hit closes part of the gap to 1, its absence costs nothing.

    So the score stays in [0, 1], reads like a cosine when no term matches, and a threshold keeps its meaning.
    """
    if len(documents) == 0:
        return np.zeros(0, dtype=np.float32)
    cosine = np.clip(matrix @ query_vector, 0.0, 1.0)
    keyword = keyword_scores(query, documents)
    return (cosine + keyword_weight * keyword * (1.0 - cosine)).astype(np.float32)


def top_indexes(scores: np.ndarray, k: int, threshold: float) -> list[int]:
    """Indexes of the k best scores at or above threshold, best first."""
    if scores.size == 0:
        return []
    k = min(k, scores.size)
    part = np.argpartition(-scores, k - 1)[:k]
    ordered = part[np.argsort(-scores[part], kind="stable")]
    return [int(i) for i in ordered if scores[i] >= threshold]
