"""Per-user aggregates over the user's most recent analysed messages, with Cipres's names and meanings.

Recomputed from the stored signals of the window (never updated incrementally), so a retried job or a deleted
message leaves them exactly as a fresh computation would.

Churn risk (0..1) is a weighted sum, weights in the config (they sum to 1 by default):

    churn_risk_score = w_negative · negative_ratio
                     + w_sentiment · max(0, -avg_sentiment)
                     + w_decline · min(1, max(0, -slope) / decline_full_slope)
                     + w_intention · churn intention, most recent first: 1 for the newest message, × decay per
                       message back (0 when no message of the window states one of `churn_intentions`)

where `slope` is the least-squares slope of sentiment per message over the window, oldest to newest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Trend = Literal["improving", "stable", "declining"]
TOP_TOPICS = 3


class ChurnWeights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    negative: float = Field(0.3, ge=0, le=1, description="Weight of the share of negative messages.")
    sentiment: float = Field(0.2, ge=0, le=1, description="Weight of how negative the average sentiment is.")
    decline: float = Field(0.2, ge=0, le=1, description="Weight of a declining sentiment slope.")
    intention: float = Field(0.3, ge=0, le=1, description="Weight of a recent churn-related intention.")


class AggregateConfig(BaseModel):
    """How a user's signals are summed up (part of the versioned extraction config, under `signals`)."""

    model_config = ConfigDict(extra="forbid")

    window_size: int = Field(10, ge=1, le=500, description="How many of the user's latest analysed messages count.")
    trend_slope: float = Field(
        0.05,
        gt=0,
        le=2,
        description="Sentiment change per message above which the trend is improving (below minus it: declining).",
    )
    decline_full_slope: float = Field(
        0.2, gt=0, le=2, description="A slope this steep downwards counts as a full decline in churn risk."
    )
    churn_intentions: list[str] = Field(
        default_factory=lambda: ["wants to cancel", "considering alternatives", "wants refund", "wants downgrade"],
        max_length=50,
        description="Intentions that raise churn risk.",
    )
    intention_decay: float = Field(
        0.8, ge=0, le=1, description="How much a churn intention counts per message further back in the window."
    )
    churn_weights: ChurnWeights = Field(default_factory=ChurnWeights)

    @model_validator(mode="after")
    def _weights_fit(self) -> AggregateConfig:
        w = self.churn_weights
        if w.negative + w.sentiment + w.decline + w.intention > 1.0 + 1e-9:
            raise ValueError("churn_weights must sum to at most 1, so the score stays within 0..1")
        return self


class Aggregates(BaseModel):
    """What a user's recent messages add up to (the names and meanings of Cipres's profile aggregates)."""

    window_size: int = Field(description="Messages in the aggregation window.")
    avg_sentiment: float = Field(description="Mean sentiment over the window, -1..1.")
    sentiment_trend: Trend = Field(description="Direction of sentiment over the window.")
    top_topics: list[str] = Field(description="The strongest topics, best first.")
    topic_scores: dict[str, float] = Field(description="Topic -> mean score over the window, 0..1.")
    intentions_summary: list[str] = Field(description="Intentions stated in the window, most frequent first.")
    negative_ratio: float = Field(description="Share of messages with negative sentiment.")
    churn_risk_score: float = Field(description="0..1; see memory_server/aggregates.py for the formula.")
    price_sensitive_ratio: float = Field(description="Share of messages showing price sensitivity.")
    message_frequency_days: float | None = Field(description="Mean days between messages (none below two).")


@dataclass(frozen=True)
class Analysed:
    """One analysed message as the aggregates read it."""

    created_at: datetime
    sentiment: float
    topics: dict[str, float]
    intentions: list[str]
    price_sensitive: bool


def _slope(values: np.ndarray) -> float:
    if len(values) < 3:
        return 0.0
    x = np.arange(len(values), dtype=np.float64)
    x -= x.mean()
    return float((x * (values - values.mean())).sum() / (x * x).sum())


def compute(window: Sequence[Analysed], config: AggregateConfig, neutral_band: float) -> Aggregates:
    """Aggregates of `window` (oldest first, at most `config.window_size` messages)."""
    n = len(window)
    if n == 0:
        return Aggregates(
            window_size=0,
            avg_sentiment=0.0,
            sentiment_trend="stable",
            top_topics=[],
            topic_scores={},
            intentions_summary=[],
            negative_ratio=0.0,
            churn_risk_score=0.0,
            price_sensitive_ratio=0.0,
            message_frequency_days=None,
        )
    sentiment = np.array([a.sentiment for a in window], dtype=np.float64)
    slope = _slope(sentiment)
    trend: Trend = (
        "improving" if slope > config.trend_slope else "declining" if slope < -config.trend_slope else "stable"
    )
    totals: Counter[str] = Counter()
    for a in window:
        totals.update(a.topics)
    topic_scores = {t: round(s / n, 4) for t, s in sorted(totals.items(), key=lambda p: (-p[1], p[0]))}
    said: Counter[str] = Counter(i for a in window for i in dict.fromkeys(a.intentions))
    last_said = {i: k for k, a in enumerate(window) for i in a.intentions}
    intentions = sorted(said, key=lambda i: (-said[i], -last_said[i], i))
    negative_ratio = float((sentiment < -neutral_band).mean())
    avg = float(sentiment.mean())
    churn = set(config.churn_intentions)
    recent = next((k for k, a in enumerate(reversed(window)) if churn.intersection(a.intentions)), None)
    w = config.churn_weights
    risk = (
        w.negative * negative_ratio
        + w.sentiment * max(0.0, -avg)
        + w.decline * min(1.0, max(0.0, -slope) / config.decline_full_slope)
        + w.intention * (0.0 if recent is None else config.intention_decay**recent)
    )
    span_days = (window[-1].created_at - window[0].created_at).total_seconds() / 86_400
    return Aggregates(
        window_size=n,
        avg_sentiment=round(avg, 4),
        sentiment_trend=trend,
        top_topics=[t for t, s in topic_scores.items() if s > 0][:TOP_TOPICS],
        topic_scores=topic_scores,
        intentions_summary=intentions,
        negative_ratio=round(negative_ratio, 4),
        churn_risk_score=round(min(1.0, max(0.0, risk)), 4),
        price_sensitive_ratio=round(sum(a.price_sensitive for a in window) / n, 4),
        message_frequency_days=round(span_days / (n - 1), 4) if n > 1 else None,
    )
