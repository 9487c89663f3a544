"""Segment conditions: a small JSON expression over a user's attributes, aggregates and recent messages.

    {"all": [c, ...]}   {"any": [c, ...]}   {"not": c}
    {"attribute": "plan", "eq": "pro"}               eq, ne, in, gt, gte, lt, lte, exists
    {"aggregate": "churn_risk_score", "gte": 0.7}    the same operators, over the aggregates and counts
    {"has_topic": "billing", "min_score": 0.2}       topic_scores[topic] >= min_score (default: above 0)
    {"has_intention": "wants refund"}                stated within the aggregation window
    {"matches": "frustrated with billing", "threshold": 0.5}
                                                     a message of the window this close (cosine) to the text

Parsing checks everything and names the path of the first problem (`condition.all.1.gte`), so a bad
condition is refused whole with a 422 instead of matching nobody silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from memory_server.errors import InvalidInput

MAX_DEPTH = 8
MAX_NODES = 100
MAX_TEXT = 500
COMPARISONS = ("eq", "ne", "in", "gt", "gte", "lt", "lte", "exists")
ORDERED = {"gt", "gte", "lt", "lte"}
#: Aggregates (and counts) a condition may name, with whether they are numbers.
AGGREGATES: dict[str, bool] = {
    "window_size": True,
    "avg_sentiment": True,
    "sentiment_trend": False,
    "negative_ratio": True,
    "churn_risk_score": True,
    "price_sensitive_ratio": True,
    "message_frequency_days": True,
    "message_count": True,
    "analysed_count": True,
}


@dataclass(frozen=True)
class Node:
    kind: str  # all, any, not, attribute, aggregate, has_topic, has_intention, matches
    children: tuple[Node, ...] = ()
    name: str = ""
    op: str = ""
    value: Any = None
    threshold: float = 0.0


@dataclass(frozen=True)
class Subject:
    """What a condition reads about one user; `similarity(text)` is the best cosine of a recent message."""

    attributes: Mapping[str, Any]
    values: Mapping[str, Any]  # aggregates and counts, by the names in AGGREGATES
    topic_scores: Mapping[str, float]
    intentions: frozenset[str]
    similarity: Callable[[str], float]


def _fail(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}", field=path)


@dataclass(frozen=True)
class Labels:
    """The topics and intentions of the taxonomy a condition is written against."""

    topics: frozenset[str]
    intentions: frozenset[str]


class _Parser:
    def __init__(self, labels: Labels | None) -> None:
        self.nodes = 0
        self.labels = labels

    def parse(self, obj: Any, path: str, depth: int) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail(path, f"a condition may have at most {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise _fail(path, f"nested deeper than {MAX_DEPTH} levels")
        if not isinstance(obj, dict) or not obj:
            raise _fail(path, 'must be an object such as {"all": [...]} or {"aggregate": ..., "gte": ...}')
        for group in ("all", "any"):
            if group in obj:
                self._only(obj, path, {group})
                items = obj[group]
                if not isinstance(items, list) or not items:
                    raise _fail(f"{path}.{group}", "must be a non-empty list of conditions")
                return Node(group, tuple(self.parse(c, f"{path}.{group}.{i}", depth + 1) for i, c in enumerate(items)))
        if "not" in obj:
            self._only(obj, path, {"not"})
            return Node("not", (self.parse(obj["not"], f"{path}.not", depth + 1),))
        if "attribute" in obj:
            name = self._text(obj, "attribute", path, 64)
            op, value = self._comparison(obj, path, {"attribute"}, numeric=None)
            return Node("attribute", name=name, op=op, value=value)
        if "aggregate" in obj:
            name = self._text(obj, "aggregate", path, 64)
            if name not in AGGREGATES:
                raise _fail(f"{path}.aggregate", f"unknown aggregate {name!r}; one of: {', '.join(AGGREGATES)}")
            op, value = self._comparison(obj, path, {"aggregate"}, numeric=AGGREGATES[name])
            return Node("aggregate", name=name, op=op, value=value)
        if "has_topic" in obj:
            self._only(obj, path, {"has_topic", "min_score"})
            score = self._number(obj, "min_score", path, 0.0, 1.0, default=None)
            return Node(
                "has_topic",
                name=self._label(obj, "has_topic", path, None if self.labels is None else self.labels.topics),
                threshold=score or 0.0,
                op="gte" if score else "gt",
            )
        if "has_intention" in obj:
            self._only(obj, path, {"has_intention"})
            known = None if self.labels is None else self.labels.intentions
            return Node("has_intention", name=self._label(obj, "has_intention", path, known))
        if "matches" in obj:
            self._only(obj, path, {"matches", "threshold"})
            text = self._text(obj, "matches", path, MAX_TEXT)
            return Node("matches", name=text, threshold=self._number(obj, "threshold", path, -1.0, 1.0, default=0.5))
        raise _fail(
            path, "unknown condition: use all, any, not, attribute, aggregate, has_topic, has_intention or matches"
        )

    def _label(self, obj: dict[str, Any], key: str, path: str, known: frozenset[str] | None) -> str:
        name = self._text(obj, key, path, 64)
        if known is not None and name not in known:
            kind = "topic" if key == "has_topic" else "intention"
            raise _fail(f"{path}.{key}", f"no {kind} {name!r} in the taxonomy; one of: {', '.join(sorted(known))}")
        return name

    @staticmethod
    def _only(obj: dict, path: str, allowed: set[str]) -> None:
        extra = sorted(set(obj) - allowed)
        if extra:
            raise _fail(f"{path}.{extra[0]}", f"not allowed here (this part takes {', '.join(sorted(allowed))})")

    @staticmethod
    def _text(obj: dict, key: str, path: str, limit: int) -> str:
        value = obj[key]
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise _fail(f"{path}.{key}", f"must be a non-empty string of at most {limit} characters")
        return value.strip()

    @staticmethod
    def _number(obj: dict, key: str, path: str, low: float, high: float, default: float | None) -> float | None:
        if key not in obj:
            return default
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise _fail(f"{path}.{key}", f"must be a number from {low:g} to {high:g}")
        return float(value)

    def _comparison(self, obj: dict, path: str, subject: set[str], numeric: bool | None) -> tuple[str, Any]:
        ops = [k for k in obj if k in COMPARISONS]
        self._only(obj, path, subject | set(COMPARISONS))
        if len(ops) != 1:
            raise _fail(path, f"needs exactly one comparison: {', '.join(COMPARISONS)}")
        op = ops[0]
        value, where = obj[op], f"{path}.{op}"
        if numeric is False and op in ORDERED:
            raise _fail(where, "this aggregate is text: use eq, ne, in or exists")
        if op == "exists":
            if not isinstance(value, bool):
                raise _fail(where, "must be true or false")
        elif op == "in":
            if not isinstance(value, list) or not value or len(value) > 100 or not all(_scalar(v) for v in value):
                raise _fail(where, "must be a non-empty list (at most 100) of strings, numbers or booleans")
        elif op in ORDERED or numeric:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _fail(where, "must be a number")
        elif not _scalar(value):
            raise _fail(where, "must be a string, number or boolean")
        return op, value


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float) and (not isinstance(value, str) or len(value) <= MAX_TEXT)


def parse(obj: Any, path: str = "condition", labels: Labels | None = None) -> Node:
    """Check a condition and build its tree; raises InvalidInput naming the path of the first problem. With
    `labels`, a topic or intention must be one of them (a typo would make a segment that never matches)."""
    return _Parser(labels).parse(obj, path, 0)


def texts(node: Node) -> list[str]:
    """The texts of the condition's `matches` parts, in order (they are embedded once per segment)."""
    own = [node.name] if node.kind == "matches" else []
    return own + [t for child in node.children for t in texts(child)]


def missing(node: Node, labels: Labels) -> list[str]:
    """The topics and intentions the condition names that `labels` lacks, as "topic 'billing'" (a taxonomy
    edited after the segment was made may have dropped them)."""
    if node.kind == "has_topic" and node.name not in labels.topics:
        return [f"topic {node.name!r}"]
    if node.kind == "has_intention" and node.name not in labels.intentions:
        return [f"intention {node.name!r}"]
    return [label for child in node.children for label in missing(child, labels)]


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return (actual is not None) is expected
    if actual is None:
        return op == "ne"
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "in":
        return actual in expected
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    return {"gt": actual > expected, "gte": actual >= expected, "lt": actual < expected, "lte": actual <= expected}[op]


def evaluate(node: Node, subject: Subject) -> bool:
    kind = node.kind
    if kind == "all":
        return all(evaluate(c, subject) for c in node.children)
    if kind == "any":
        return any(evaluate(c, subject) for c in node.children)
    if kind == "not":
        return not evaluate(node.children[0], subject)
    if kind == "attribute":
        return _compare(subject.attributes.get(node.name), node.op, node.value)
    if kind == "aggregate":
        return _compare(subject.values.get(node.name), node.op, node.value)
    if kind == "has_topic":
        score = subject.topic_scores.get(node.name, 0.0)
        return score >= node.threshold if node.op == "gte" else score > 0
    if kind == "has_intention":
        return node.name in subject.intentions
    return subject.similarity(node.name) >= node.threshold
