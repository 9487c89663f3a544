"""Per-message signals: sentiment, topics, intentions and price sensitivity, and the offline analyzer for them.

`MessageSignals` is what every processed user message gets, whichever extractor made it (the LLM returns it
per message, schema-validated). Offline, `SignalAnalyzer` reads a `Taxonomy` of labels: sentiment comes from
VADER's lexicon (with the taxonomy's domain words), topics and intentions from the cosine of the message's
embedding with each label's prototypes (its description and examples), raised by keyword cues. It takes the
vector the server already computed for search, so signals cost no extra embedding.

A lexicon only hears the words it knows: a complaint told as plain facts ("third week, still no parcel") has
none, so the sentiment also takes a vote of the message's embedding against the taxonomy's polarity examples
(generic negative, neutral and positive customer messages): how much closer the message sits to the
positive examples' centroid than to the negative ones', with the neutral examples competing for the middle.

The embedding hears what a message is about more than which way it goes: "The app is great, love it" sits nearer
"Other apps do this much better." than "Love it, great job!". So a label that is bad news (a negative
`sentiment_lean`) counts its prototypes' similarity only in a message that does not read positive before the
intentions are weighed; in one that does, only its cues report it ("love the design, but it keeps crashing").
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Cue = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=100)]
Score = Annotated[float, Field(ge=0, le=1)]
Polarity = Literal["negative", "neutral", "positive"]


class MessageSignals(BaseModel):
    """What one user message says about the user, beyond facts."""

    model_config = ConfigDict(extra="forbid")

    sentiment: float = Field(
        0.0, ge=-1, le=1, description="Overall tone of the message: -1.0 very negative, 0 neutral, 1.0 very positive."
    )
    topics: dict[Name, Score] = Field(
        default_factory=dict,
        description="What the message is about: topic label → how strongly it applies (0 to 1); only topics that "
        "clearly apply, from the configured list.",
    )
    intentions: list[Name] = Field(
        default_factory=list,
        description="What the user wants to do, as short labels from the configured list (e.g. 'wants refund', "
        "'needs help', 'wants to cancel'); empty when the message shows none.",
    )
    price_sensitive: bool = Field(
        False,
        description="True when the user shows concern about price or cost: finds it too expensive, asks for a "
        "discount or a cheaper plan, cannot afford it.",
    )

    @field_validator("intentions")
    @classmethod
    def _dedupe(cls, intentions: list[str]) -> list[str]:
        return list(dict.fromkeys(intentions))


class Label(BaseModel):
    """A topic or an intention: its name, what it means, examples of it, and phrases that give it away."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="The label as stored and shown, e.g. 'billing' or 'wants refund'.")
    description: Text = Field(description="What the label means, in one sentence; embedded as a prototype.")
    examples: list[Text] = Field(
        default_factory=list, max_length=50, description="Typical messages with this label; each is a prototype."
    )
    cues: list[Cue] = Field(
        default_factory=list,
        max_length=100,
        description="Words or phrases that raise the label's score when they occur (whole words, case-insensitive; "
        "a trailing * matches any ending, e.g. 'cancel*').",
    )
    sentiment_lean: float = Field(
        0.0,
        ge=-1,
        le=1,
        description="Added to the message's sentiment, times the label's score, when the label is reported: a "
        "polite refund request is still bad news, which a word lexicon cannot see. A label with a negative lean is "
        "reported in a message that otherwise reads positive only when one of its cues occurs.",
    )


class PolarityExamples(BaseModel):
    """Generic customer messages of each polarity: the embedding's reference for how a message feels."""

    model_config = ConfigDict(extra="forbid")

    negative: list[Text] = Field(
        default_factory=list, max_length=100, description="Messages a careful reader finds negative."
    )
    neutral: list[Text] = Field(
        default_factory=list, max_length=100, description="Messages that are neither: questions, requests, facts."
    )
    positive: list[Text] = Field(
        default_factory=list, max_length=100, description="Messages a careful reader finds positive."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        classes = {"negative": self.negative, "neutral": self.neutral, "positive": self.positive}
        if any(classes.values()) and (few := [name for name, texts in classes.items() if len(texts) < 3]):
            raise ValueError(
                f"polarity examples: {', '.join(few)} has fewer than 3 examples; give each polarity at least 3 "
                "(or none at all, to turn the embedding's vote off)"
            )
        seen: dict[str, str] = {}
        for name, texts in classes.items():
            for text in texts:
                if (other := seen.get(text.casefold())) is not None:
                    where = name if other == name else f"{other} and {name}"
                    raise ValueError(f"polarity examples: {text!r} appears twice ({where}); keep one")
                seen[text.casefold()] = name
        return self

    def texts(self) -> list[str]:
        """All examples, negative then neutral then positive (their order in the prototype matrix)."""
        return [*self.negative, *self.neutral, *self.positive]


class Taxonomy(BaseModel):
    """Topics, intentions and the thresholds that turn their scores into labels."""

    model_config = ConfigDict(extra="forbid")

    topics: list[Label] = Field(max_length=100, description="What a message is about.")
    intentions: list[Label] = Field(max_length=100, description="What the user wants to do.")
    tones: list[Label] = Field(
        default_factory=list,
        max_length=20,
        description="Labels never reported that only lean the sentiment, by their score (e.g. 'complaint': a problem "
        "told as plain facts reads neutral to a lexicon).",
    )
    topic_threshold: float = Field(0.5, ge=0, le=1, description="A topic is reported when its score reaches this.")
    intention_threshold: float = Field(
        0.5, ge=0, le=1, description="An intention is reported when its score reaches this."
    )
    similarity_floor: float = Field(
        0.3, ge=-1, le=1, description="Cosine similarity to a label's nearest prototype that scores 0."
    )
    similarity_ceiling: float = Field(
        0.7, ge=-1, le=1, description="Cosine similarity to a label's nearest prototype that scores 1."
    )
    cue_boost: float = Field(0.75, ge=0, le=1, description="Added to a label's score when one of its cues occurs.")
    price_cues: list[Cue] = Field(
        default_factory=list, description="Phrases that mark a message as price sensitive (same syntax as cues)."
    )
    price_topic: Name | None = Field(
        "pricing", description="The topic whose score, in a negative message, also marks price sensitivity."
    )
    price_topic_min: float = Field(
        0.6, ge=0, le=1, description="The price topic's score from which a negative message is price sensitive."
    )
    neutral_band: float = Field(
        0.1, ge=0, lt=1, description="Sentiment within ±band reads as neutral (polarity, negative ratios)."
    )
    polarity_examples: PolarityExamples = Field(
        default_factory=PolarityExamples,
        description="Generic negative, neutral and positive customer messages; the message embedding's vote "
        "between them is added to the sentiment (none: the lexicon and the leans alone).",
    )
    polarity_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="The most the embedding's vote adds to the sentiment: weight × (P(positive) − P(negative)).",
    )
    polarity_temperature: float = Field(
        0.08,
        gt=0,
        le=1,
        description="Softmax temperature over the cosines with the three polarity centroids: lower is a firmer vote.",
    )
    sentiment_words: dict[Annotated[str, StringConstraints(to_lower=True, min_length=1)], float] = Field(
        default_factory=dict,
        description="Word → valence (-4…4) added to, or overriding, the sentiment lexicon for this domain.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        for family, labels in (("topics", self.topics), ("intentions", self.intentions), ("tones", self.tones)):
            names = [label.name.casefold() for label in labels]
            if dup := next((n for i, n in enumerate(names) if n in names[:i]), None):
                raise ValueError(f"{family}: the label name {dup!r} is used twice; label names must be unique")
        if self.similarity_ceiling <= self.similarity_floor:
            raise ValueError("similarity_ceiling must be greater than similarity_floor")
        if self.price_topic is not None and self.price_topic not in {t.name for t in self.topics}:
            raise ValueError(f"price_topic {self.price_topic!r} is not one of the topics: name one of them, or null")
        for word, valence in self.sentiment_words.items():
            if not -4 <= valence <= 4:
                raise ValueError(f"sentiment_words: {word!r} has valence {valence}; valences run from -4 to 4")
        return self


def polarity(sentiment: float, neutral_band: float) -> Polarity:
    """Negative, neutral or positive: sentiment within ±neutral_band is neutral."""
    if sentiment <= -neutral_band:
        return "negative"
    return "positive" if sentiment >= neutral_band else "neutral"


def prototype_texts(taxonomy: Taxonomy) -> list[str]:
    """The texts to embed for the analyzer, in the order `SignalAnalyzer` expects their vectors."""
    labels = (*taxonomy.topics, *taxonomy.intentions, *taxonomy.tones)
    texts = [text for label in labels for text in (label.description, *label.examples)]
    return texts + taxonomy.polarity_examples.texts()


def cue_pattern(cues: list[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex for a list of cues: whole words; a trailing * matches any word ending."""
    if not cues:
        return None
    parts = sorted((re.escape(c[:-1]) + r"\w*" if c.endswith("*") else re.escape(c) for c in cues), key=len)
    return re.compile(r"(?<!\w)(?:" + "|".join(reversed(parts)) + r")(?!\w)", re.IGNORECASE)


#: Words that, among the three before a cue in its clause, turn it around: "I will never cancel", "no refund
#: needed", "I'm not cancelling". Not "can't"/"cannot": "I can't cancel my plan" still wants to cancel.
_NEGATION = re.compile(
    r"\b(?:no|not|never|without|don't|doesn't|didn't|won't|wouldn't|isn't|aren't|wasn't|shouldn't)\b", re.IGNORECASE
)
_CLAUSE_END = re.compile(r"[.!?;,:]")


def _negated(text: str, start: int) -> bool:
    """Whether the cue at `start` is negated: a negation among the three words before it, in its clause."""
    clause = _CLAUSE_END.split(text[:start].replace("\u2019", "'"))[-1]
    return bool(_NEGATION.search(" ".join(clause.split()[-3:])))


class _Family:
    """The labels of one family (topics, intentions or tones) with their rows in the prototype matrix.

    `negatable`: a label whose cues appear only negated is not reported (an intention, which the message states
    it does not have; the embedding cannot tell "I will never cancel" from "I will cancel")."""

    def __init__(self, labels: list[Label], first_row: int, threshold: float, negatable: bool = False) -> None:
        self.names = [label.name for label in labels]
        sizes = [1 + len(label.examples) for label in labels]
        self.starts = first_row + np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
        self.end = first_row + sum(sizes)
        self.cues = [cue_pattern(label.cues) for label in labels]
        self.leans = np.array([label.sentiment_lean for label in labels], dtype=np.float32)
        self.threshold = threshold
        self.negatable = negatable

    def lean(self, scores: np.ndarray) -> np.ndarray:
        """Per message, the sentiment lean of its reported labels, weighted by their scores."""
        return np.where(scores >= self.threshold, scores, 0.0) @ self.leans

    def scores(
        self, similarities: np.ndarray, texts: list[str], taxonomy: Taxonomy, upbeat: np.ndarray | None = None
    ) -> np.ndarray:
        """Scores (messages × labels) in 0…1: the nearest prototype's similarity, calibrated, plus cue boosts.

        `upbeat` marks the messages that read positive: there a bad-news label's similarity counts for nothing."""
        if not self.names:
            return np.zeros((len(texts), 0), dtype=np.float32)
        best = np.maximum.reduceat(similarities[:, self.starts[0] : self.end], self.starts - self.starts[0], axis=1)
        span = taxonomy.similarity_ceiling - taxonomy.similarity_floor
        scores = (best - taxonomy.similarity_floor) / span
        if upbeat is not None:
            scores[np.ix_(upbeat, self.leans < 0)] = 0.0
        for j, pattern in enumerate(self.cues):
            if pattern is None:
                continue
            for i, text in enumerate(texts):
                said = [not _negated(text, m.start()) for m in pattern.finditer(text)] if self.negatable else []
                if any(said) or (not self.negatable and pattern.search(text)):
                    scores[i, j] += taxonomy.cue_boost
                elif said:  # every mention negated
                    scores[i, j] = 0.0
        return np.clip(scores, 0.0, 1.0)


class SignalAnalyzer:
    """Offline signals for user messages from their text and their embedding (built once per taxonomy).

    Build it with the taxonomy and the vectors of `prototype_texts(taxonomy)`, made by the same embedder as
    the messages' vectors; keep it for as long as the taxonomy is in force.
    """

    def __init__(self, taxonomy: Taxonomy, prototype_vectors: np.ndarray) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        expected = len(prototype_texts(taxonomy))
        vectors = np.asarray(prototype_vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != expected:
            raise ValueError(
                f"prototype_vectors has shape {vectors.shape}; expected ({expected}, dim): one row per text of "
                "prototype_texts(taxonomy), in that order"
            )
        self.taxonomy = taxonomy
        self.dim = vectors.shape[1]
        units = _unit_rows(vectors)
        self._topics = _Family(taxonomy.topics, 0, taxonomy.topic_threshold)
        self._intentions = _Family(taxonomy.intentions, self._topics.end, taxonomy.intention_threshold, True)
        self._tones = _Family(taxonomy.tones, self._intentions.end, 0.0)
        self._prototypes = units[: self._tones.end]  # the labels' rows; the polarity examples' follow
        self._polarity = _polarity_centroids(taxonomy.polarity_examples, units[self._tones.end :])
        self._price = cue_pattern(taxonomy.price_cues)
        self._price_topic = self._topics.names.index(taxonomy.price_topic) if taxonomy.price_topic else None
        self._vader = SentimentIntensityAnalyzer()  # reads its bundled lexicon files; no network
        self._vader.lexicon.update(taxonomy.sentiment_words)

    def analyze(self, text: str, vector: np.ndarray) -> MessageSignals:
        """Signals of one message, given its embedding."""
        return self.analyze_many([text], np.asarray(vector)[None, :])[0]

    def analyze_many(self, texts: list[str], vectors: np.ndarray) -> list[MessageSignals]:
        """Signals of several messages at once (one matrix product for all of them)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(texts), self.dim):
            raise ValueError(f"vectors has shape {vectors.shape}; expected ({len(texts)}, {self.dim})")
        units = _unit_rows(vectors)
        similarities = units @ self._prototypes.T
        topic_scores = self._topics.scores(similarities, texts, self.taxonomy)
        tone_scores = self._tones.scores(similarities, texts, self.taxonomy)
        mood = np.array([self._vader.polarity_scores(text)["compound"] for text in texts], dtype=np.float32)
        mood += self._topics.lean(topic_scores) + self._tones.lean(tone_scores)
        if self._polarity is not None:
            mood += self.taxonomy.polarity_weight * self._polarity_vote(units)
        upbeat = mood >= self.taxonomy.neutral_band  # reads positive before the intentions' leans
        intention_scores = self._intentions.scores(similarities, texts, self.taxonomy, upbeat)
        sentiments = mood + self._intentions.lean(intention_scores)
        return [
            self._signals(text, topic_scores[i], intention_scores[i], sentiments[i]) for i, text in enumerate(texts)
        ]

    def _polarity_vote(self, units: np.ndarray) -> np.ndarray:
        """Per message, P(positive) − P(negative): a softmax over its cosines with the three polarity centroids."""
        logits = (units @ self._polarity.T) / self.taxonomy.polarity_temperature
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (weights[:, 2] - weights[:, 0]) / weights.sum(axis=1)

    def _signals(self, text: str, topics: np.ndarray, intentions: np.ndarray, sentiment: float) -> MessageSignals:
        if not text.strip():  # a blank message says nothing, whatever its vector is near
            return MessageSignals()
        sentiment = round(min(1.0, max(-1.0, float(sentiment))), 3)
        price_sensitive = bool(self._price and self._price.search(text)) or (
            self._price_topic is not None
            and topics[self._price_topic] >= self.taxonomy.price_topic_min
            and polarity(sentiment, self.taxonomy.neutral_band) == "negative"
        )
        return MessageSignals(
            sentiment=sentiment,
            topics=_above(self._topics, topics),
            intentions=list(_above(self._intentions, intentions)),
            price_sensitive=price_sensitive,
        )


def _above(family: _Family, scores: np.ndarray) -> dict[str, float]:
    """The labels whose score reaches the family's threshold, best first, scores rounded to 3 places."""
    order = np.argsort(-scores, kind="stable")
    return {family.names[j]: round(float(scores[j]), 3) for j in order if scores[j] >= family.threshold}


def _polarity_centroids(examples: PolarityExamples, rows: np.ndarray) -> np.ndarray | None:
    """The unit centroids (negative, neutral, positive) of the examples' unit vectors; None without examples."""
    sizes = [len(examples.negative), len(examples.neutral), len(examples.positive)]
    if not all(sizes):
        return None
    bounds = np.cumsum([0, *sizes])
    return _unit_rows(np.stack([rows[bounds[i] : bounds[i + 1]].mean(axis=0) for i in range(3)]))


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)
