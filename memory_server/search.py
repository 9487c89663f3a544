"""Scoring: how a fact or an episode is scored against a query, one method for both.

Each memory gets two numbers in [0, 1]: the cosine of its vector with the query's (meaning), and a keyword
share (exact words: names, numbers, places). For facts the share is the IDF-weighted part of the query's
terms the fact holds, IDF taken over the user's facts; for episodes it is FTS5's BM25 over the query's
total IDF (`episodes.keyword_share`). `fuse_many` blends them: a keyword match closes part of the gap between
the cosine and 1, and its absence costs nothing, so a score reads like a cosine when no word matches.
`calibrate` then maps that onto the scale thresholds are written for (see its docstring).

Facts are scored exactly over the user's own vectors (read from SQLite beside the facts); a filtered
approximate query over everyone's vectors can miss a user's own memory.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from memory_server import terms


def keyword_scores(query: str, documents: Sequence[str]) -> np.ndarray:
    """For each document, the IDF-weighted share of the query's terms it contains (0..1)."""
    q_terms = set(terms.query_words(query))
    if not q_terms or not documents:
        return np.zeros(len(documents), dtype=np.float32)
    doc_terms = [terms.terms(d) & q_terms for d in documents]
    df = Counter(t for d in doc_terms for t in d)
    n = len(documents)
    idf = {t: math.log(1 + (n + 1) / (df.get(t, 0) + 0.5)) for t in q_terms}
    total = sum(idf.values())
    return np.array([sum(idf[t] for t in d) / total for d in doc_terms], dtype=np.float32)


def fuse_many(cosine: np.ndarray, keyword: np.ndarray, weight: float) -> np.ndarray:
    """Calibrated scores from cosines and keyword shares (arrays of one length)."""
    cosine = np.clip(cosine, 0.0, 1.0)
    return calibrate(cosine + weight * keyword * (1.0 - cosine)).astype(np.float32)


#: (raw, calibrated) knots of `calibrate`, measured with all-MiniLM-L6-v2 on benchmarks/recall: three in four
#: evidence messages found in a top 10 had a raw score of 0.4 or more, and unrelated chat sits at 0.1-0.3.
CALIBRATION = ((0.0, 0.0), (0.2, 0.4), (0.4, 0.7), (1.0, 1.0))


def calibrate(raw: np.ndarray) -> np.ndarray:
    """Map a raw fused score onto the scale thresholds are written for (0.4: loosely related, 0.7: relevant).

    MiniLM's cosines are compressed: a message that answers a question often scores 0.4-0.6 against it, so a
    threshold of 0.7 taken at face value would drop most relevant memories. The map is piecewise linear and
    increasing, so it never changes an order; it changes only what a threshold keeps.
    """
    xs, ys = zip(*CALIBRATION, strict=True)
    return np.interp(raw, xs, ys)


def hybrid_scores(
    query: str, query_vector: np.ndarray, documents: Sequence[str], matrix: np.ndarray, keyword_weight: float
) -> np.ndarray:
    """Fused scores of documents (facts) whose vectors are the rows of `matrix`."""
    return fused(query_vector, matrix, keyword_scores(query, documents), keyword_weight)


def fused(query_vector: np.ndarray, matrix: np.ndarray, keyword: np.ndarray, keyword_weight: float) -> np.ndarray:
    """`hybrid_scores` from keyword shares already computed (while the query was being embedded)."""
    if len(keyword) == 0:
        return np.zeros(0, dtype=np.float32)
    return fuse_many(matrix @ query_vector, keyword, keyword_weight)


def top_indexes(scores: np.ndarray, k: int, threshold: float) -> list[int]:
    """Indexes of the k best scores at or above threshold, best first."""
    if scores.size == 0:
        return []
    k = min(k, scores.size)
    part = np.argpartition(-scores, k - 1)[:k]
    ordered = part[np.argsort(-scores[part], kind="stable")]
    return [int(i) for i in ordered if scores[i] >= threshold]


def snippet(content: str, query: str, width: int = 240) -> str:
    """The part of `content` (about `width` characters) with the most query terms, cut at word boundaries."""
    if len(content) <= width:
        return content
    wanted = set(terms.query_words(query))
    tokens = content.split()
    hits = [int(bool(terms.terms(t) & wanted)) for t in tokens]
    best, best_start, start, length, count = -1, 0, 0, 0, 0
    for end, token in enumerate(tokens):
        length += len(token) + 1
        count += hits[end]
        while length > width and start < end:
            length -= len(tokens[start]) + 1
            count -= hits[start]
            start += 1
        if count > best:
            best, best_start = count, start
    window, used = [], 0
    for token in tokens[best_start:]:
        if used + len(token) > width and window:
            break
        window.append(token)
        used += len(token) + 1
    text = " ".join(window)
    prefix = "… " if best_start > 0 else ""
    suffix = " …" if best_start + len(window) < len(tokens) else ""
    return f"{prefix}{text}{suffix}"
