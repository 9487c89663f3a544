"""Offline per-message signals with the real bundled embedder: labels, bounds, and an operator's own taxonomy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest
from pydantic import ValidationError

from extractors.signals import (
    Label,
    MessageSignals,
    PolarityExamples,
    SignalAnalyzer,
    Taxonomy,
    cue_pattern,
    polarity,
    prototype_texts,
)
from extractors.taxonomy import default_taxonomy
from memory_server.index.minilm import OnnxMiniLMEmbedder

Analyze = Callable[[str], MessageSignals]


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder(threads=2)


def _embed(embedder: OnnxMiniLMEmbedder, texts: list[str]) -> np.ndarray:
    return asyncio.run(embedder.embed(texts))


def _analyzer(embedder: OnnxMiniLMEmbedder, taxonomy: Taxonomy) -> SignalAnalyzer:
    return SignalAnalyzer(taxonomy, _embed(embedder, prototype_texts(taxonomy)))


@pytest.fixture(scope="module")
def default_analyzer(embedder: OnnxMiniLMEmbedder) -> SignalAnalyzer:
    return _analyzer(embedder, default_taxonomy())


@pytest.fixture(scope="module")
def analyze(embedder: OnnxMiniLMEmbedder, default_analyzer: SignalAnalyzer) -> Analyze:
    return lambda text: default_analyzer.analyze(text, _embed(embedder, [text])[0])


def _label(name: str, *examples: str, description: str = "", cues: tuple[str, ...] = ()) -> dict:
    return {
        "name": name,
        "description": description or f"About {name}.",
        "examples": list(examples),
        "cues": list(cues),
    }


# --- clear cases, one per label family ------------------------------------------------------------


def test_an_angry_refund_demand_is_negative_billing_and_wants_refund(analyze: Analyze) -> None:
    signals = analyze("You billed me three times this month and nobody replies. Give me my money back, now!")
    assert signals.sentiment < -0.3
    assert "billing" in signals.topics
    assert "wants refund" in signals.intentions


def test_asking_how_to_connect_slack_is_integrations_and_needs_help(analyze: Analyze) -> None:
    signals = analyze("how do i connect slack to our team channel?")
    assert "integrations" in signals.topics
    assert "needs help" in signals.intentions
    assert polarity(signals.sentiment, default_taxonomy().neutral_band) == "neutral"


def test_a_price_complaint_is_price_sensitive_and_a_login_question_is_not(analyze: Analyze) -> None:
    complaint = analyze("Your plans are way too expensive for a small shop like mine, I can't afford this.")
    assert complaint.price_sensitive
    assert "pricing" in complaint.topics
    assert not analyze("How do I change my password?").price_sensitive


def test_praise_is_positive_and_praising(analyze: Analyze) -> None:
    signals = analyze("Thank you, the new reports are fantastic and saved my team a day a week!")
    assert signals.sentiment > 0.5
    assert "praising" in signals.intentions
    assert "wants refund" not in signals.intentions


def test_leaving_for_a_competitor_is_cancel_and_alternatives(analyze: Analyze) -> None:
    signals = analyze("Please cancel our subscription, we are moving to a competitor next month.")
    assert {"wants to cancel", "considering alternatives"} <= set(signals.intentions)
    assert "cancellation" in signals.topics
    assert signals.sentiment < 0


@pytest.mark.parametrize(
    ("text", "not_meant"),
    [
        ("I will never cancel, I love this product so much.", "wants to cancel"),
        ("Don't worry, I'm not cancelling my subscription.", "wants to cancel"),
        ("I don't hate it, it's not bad at all. Not cancelling.", "wants to cancel"),
        ("No refund needed, it works perfectly now.", "wants refund"),
    ],
)
def test_an_intention_the_message_says_it_does_not_have_is_not_reported(
    analyze: Analyze, text: str, not_meant: str
) -> None:
    assert not_meant not in analyze(text).intentions


@pytest.mark.parametrize(
    "text",
    [
        "I can't cancel my plan, the button is broken",
        "I'm not happy at all, cancel my plan",
        "Why won't it let me cancel?",
    ],
)
def test_a_negation_elsewhere_in_the_message_leaves_the_intention(analyze: Analyze, text: str) -> None:
    assert "wants to cancel" in analyze(text).intentions


@pytest.mark.parametrize(
    "text",
    [
        "The app is great, love it",
        "Everything works perfectly now, thank you",
        "The mobile app is excellent",
        "Sync is working perfectly again, appreciate it",
        "Great app, my whole team uses it every day",
    ],
)
def test_plain_praise_gets_no_complaint_churn_or_bug_intention(analyze: Analyze, text: str) -> None:
    # Their embeddings sit as near "Other apps do this much better." or "This stopped working after the update."
    # as real reports do: only a bad-news label's cues count in a message that reads positive.
    assert analyze(text).intentions == ["praising"]


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("I'm thinking of switching to Notion", "considering alternatives"),
        ("the export button crashes the app", "reporting a bug"),
        ("I want to cancel my subscription", "wants to cancel"),
        ("Love the design, but the app keeps crashing on login", "reporting a bug"),
        ("The page shows a blank screen when I open reports", "reporting a bug"),
        ("My files disappeared after the sync", "reporting a bug"),
    ],
)
def test_a_bad_news_intention_is_found_by_its_cue_or_in_a_message_that_is_not_positive(
    analyze: Analyze, text: str, meant: str
) -> None:
    assert meant in analyze(text).intentions


def test_a_crash_report_is_a_negative_bug_report(analyze: Analyze) -> None:
    signals = analyze("The app crashes every time I upload a photo from my phone.")
    assert "bugs" in signals.topics
    assert "reporting a bug" in signals.intentions
    assert signals.sentiment < -0.1


@pytest.mark.parametrize(
    "text",
    [
        "Two weeks later the parcel still hasn't come and nobody answers the phone.",
        "My last three orders all arrived a week after the date on the website.",
    ],
)
def test_a_complaint_told_as_calm_facts_reads_negative_by_the_embedding_vote(
    embedder: OnnxMiniLMEmbedder, default_analyzer: SignalAnalyzer, text: str
) -> None:
    # No word here is in a sentiment lexicon: without the vote against the polarity examples it reads neutral.
    band = default_taxonomy().neutral_band
    vector = _embed(embedder, [text])[0]
    assert polarity(default_analyzer.analyze(text, vector).sentiment, band) == "negative"
    no_vote = _analyzer(embedder, default_taxonomy().model_copy(update={"polarity_weight": 0.0}))
    assert polarity(no_vote.analyze(text, vector).sentiment, band) == "neutral"


@pytest.mark.parametrize(
    "text", ["How do I export my contacts to a spreadsheet?", "Where do I find the settings for notifications?"]
)
def test_a_how_to_question_reads_neutral(analyze: Analyze, text: str) -> None:
    assert polarity(analyze(text).sentiment, default_taxonomy().neutral_band) == "neutral"


@pytest.mark.parametrize("text", ["thank you!", "Thanks for sorting that out so quickly."])
def test_thanks_read_positive(analyze: Analyze, text: str) -> None:
    assert polarity(analyze(text).sentiment, default_taxonomy().neutral_band) == "positive"


def test_signals_stay_in_bounds_and_use_only_taxonomy_labels(
    embedder: OnnxMiniLMEmbedder, default_analyzer: SignalAnalyzer
) -> None:
    texts = [
        "",
        "ok",
        "!!!",
        "asdf qwerty",
        "This is TERRIBLE!!! " * 40,
        "I love love love it " * 30,
        "😡😡😡",
        "Merci!",
    ]
    taxonomy = default_taxonomy()
    topics, intentions = {t.name for t in taxonomy.topics}, {i.name for i in taxonomy.intentions}
    results = default_analyzer.analyze_many(texts, _embed(embedder, [t or " " for t in texts]))
    assert len(results) == len(texts)
    for signals in results:
        assert -1.0 <= signals.sentiment <= 1.0
        assert set(signals.topics) <= topics and set(signals.intentions) <= intentions
        assert all(taxonomy.topic_threshold <= score <= 1.0 for score in signals.topics.values())
    assert results[0] == MessageSignals()  # an empty message says nothing
    assert results[4].sentiment < -0.5 and results[5].sentiment > 0.5


def test_analyze_many_gives_what_analyze_gives_one_by_one(
    embedder: OnnxMiniLMEmbedder, default_analyzer: SignalAnalyzer
) -> None:
    texts = ["Refund me please, the order never came.", "Where do I find my invoices?", "Great job on the update!"]
    vectors = _embed(embedder, texts)
    batch = default_analyzer.analyze_many(texts, vectors)
    assert batch == [default_analyzer.analyze(t, v) for t, v in zip(texts, vectors, strict=True)]
    assert batch[0] != batch[1] != batch[2]


def test_vectors_of_the_wrong_shape_are_refused(embedder: OnnxMiniLMEmbedder, default_analyzer: SignalAnalyzer) -> None:
    with pytest.raises(ValueError, match="prototype_vectors has shape"):
        SignalAnalyzer(default_taxonomy(), np.zeros((3, 384), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected \(1, 384\)"):
        default_analyzer.analyze("hello", np.zeros(10, dtype=np.float32))


# --- the operator's taxonomy ------------------------------------------------------------------------


def test_a_custom_topic_and_intention_are_detected(embedder: OnnxMiniLMEmbedder) -> None:
    gardening = _label(
        "gardening",
        "My tomato plants have yellow leaves.",
        "Which fertiliser should I use for roses?",
        description="Gardening: plants, seeds, soil, watering, fertiliser and pests.",
    )
    taxonomy = Taxonomy.model_validate(
        {
            "topics": [_label("billing", "I was charged twice."), gardening],
            "intentions": [_label("wants a callback", "Please call me back.", cues=("call me",))],
            "price_topic": None,
        }
    )
    analyzer = _analyzer(embedder, taxonomy)

    def signals(text: str) -> MessageSignals:
        return analyzer.analyze(text, _embed(embedder, [text])[0])

    # Close to the label's examples: found by the embedding alone (the label has no cues).
    assert list(signals("My tomato plants have brown spots on the leaves.").topics) == ["gardening"]
    # Further from them, a cue is what finds it.
    assert signals("Can someone call me about my account?").intentions == ["wants a callback"]
    assert signals("Can someone look at my account?").intentions == []
    # The default taxonomy knows nothing of gardening.
    assert "gardening" not in {t.name for t in default_taxonomy().topics}


def test_domain_sentiment_words_change_the_reading(
    embedder: OnnxMiniLMEmbedder, default_analyzer: SignalAnalyzer
) -> None:
    # VADER alone scores "please" and "support" as praise; the default taxonomy makes them neutral.
    text = "Please ask support to send the form."
    vector = _embed(embedder, [text])[0]
    plain = _analyzer(embedder, default_taxonomy().model_copy(update={"sentiment_words": {}}))
    assert plain.analyze(text, vector).sentiment > 0.3
    assert abs(default_analyzer.analyze(text, vector).sentiment) < default_taxonomy().neutral_band


def test_without_polarity_examples_the_vote_is_off(embedder: OnnxMiniLMEmbedder) -> None:
    taxonomy = default_taxonomy()
    examples = taxonomy.polarity_examples.texts()
    assert prototype_texts(taxonomy)[-len(examples) :] == examples  # embedded after the labels' prototypes
    texts = ["The parcel still hasn't come.", "Great, thanks!", "How do I add a user?"]
    vectors = _embed(embedder, texts)
    bare = _analyzer(embedder, taxonomy.model_copy(update={"polarity_examples": PolarityExamples()}))
    no_vote = _analyzer(embedder, taxonomy.model_copy(update={"polarity_weight": 0.0}))
    assert bare.analyze_many(texts, vectors) == no_vote.analyze_many(texts, vectors)


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        ({"negative": ["late", "lost", "broken"], "neutral": ["how?"], "positive": ["thanks", "great", "nice"]},
         "neutral has fewer than 3 examples"),
        ({"negative": ["late", "lost", "broken"], "neutral": ["how?", "where?", "LATE"], "positive": ["a", "b", "c"]},
         "'LATE' appears twice \\(negative and neutral\\)"),
        ({"negative": ["late", "late", "broken"], "neutral": ["how?", "where?", "when?"], "positive": ["a", "b", "c"]},
         "'late' appears twice \\(negative\\)"),
        ({"negative": ["late", "lost", ""], "neutral": ["how?", "where?", "when?"], "positive": ["a", "b", "c"]},
         "negative.2"),
        ({"negative": ["late"], "mixed": ["meh"]}, "mixed"),
    ],
)  # fmt: skip
def test_bad_polarity_examples_are_refused(examples: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Taxonomy.model_validate(default_taxonomy().model_dump() | {"polarity_examples": examples})


def test_the_default_polarity_examples_are_valid_plain_data() -> None:
    from extractors.polarity_examples import POLARITY_EXAMPLES

    examples = PolarityExamples.model_validate(POLARITY_EXAMPLES)
    assert examples == default_taxonomy().polarity_examples
    assert 30 <= len(examples.texts()) <= 60
    assert all(isinstance(text, str) for texts in POLARITY_EXAMPLES.values() for text in texts)


def test_label_names_must_be_unique_within_a_family() -> None:
    with pytest.raises(ValidationError, match="'billing' is used twice"):
        Taxonomy.model_validate({"topics": [_label("billing"), _label("Billing ")], "intentions": []})
    # The same name as a topic and as an intention is fine: they are different families.
    Taxonomy.model_validate({"topics": [_label("pricing")], "intentions": [_label("pricing")]})


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ({"name": "", "description": "x"}, "name"),
        ({"name": "   ", "description": "x"}, "name"),
        ({"name": "billing", "description": ""}, "description"),
        ({"name": "billing"}, "description"),
        ({"name": "billing", "description": "x", "examples": [""]}, "examples"),
        ({"name": "billing", "description": "x", "colour": "red"}, "colour"),
        ({"name": "billing", "description": "x", "sentiment_lean": 2}, "sentiment_lean"),
    ],
)
def test_an_empty_or_malformed_label_is_refused(label: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        Label.model_validate(label)
    assert field in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"price_topic": "costs"}, "price_topic 'costs' is not one of the topics"),
        ({"similarity_floor": 0.7, "similarity_ceiling": 0.3}, "similarity_ceiling must be greater"),
        ({"sentiment_words": {"meh": -9}}, "valences run from -4 to 4"),
        ({"polarity_weight": 1.5}, "polarity_weight"),
        ({"polarity_temperature": 0}, "polarity_temperature"),
        ({"topic_threshold": 1.5}, "topic_threshold"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_a_bad_taxonomy_setting_is_refused(change: dict, message: str) -> None:
    data = default_taxonomy().model_dump() | change
    with pytest.raises(ValidationError, match=message):
        Taxonomy.model_validate(data)


def test_the_default_taxonomy_round_trips_and_covers_the_required_labels() -> None:
    taxonomy = default_taxonomy()
    assert Taxonomy.model_validate(taxonomy.model_dump()) == taxonomy
    topics, intentions = {t.name for t in taxonomy.topics}, {i.name for i in taxonomy.intentions}
    assert {"billing", "pricing", "support", "onboarding", "bugs", "performance", "features", "cancellation"} <= topics
    assert {"account", "integrations", "security", "shipping"} <= topics
    assert {
        "wants refund",
        "considering alternatives",
        "needs help",
        "wants to cancel",
        "wants upgrade",
        "wants downgrade",
        "reporting a bug",
        "requesting a feature",
        "praising",
    } <= intentions
    assert default_taxonomy().topics is not taxonomy.topics  # each call gives the caller its own copy


# --- the per-message schema and small helpers ------------------------------------------------------


def test_message_signals_validate_their_ranges_and_dedupe_intentions() -> None:
    assert MessageSignals(intentions=["needs help", "needs help", "wants refund"]).intentions == [
        "needs help",
        "wants refund",
    ]
    for bad in ({"sentiment": 1.5}, {"sentiment": -1.01}, {"topics": {"billing": 1.2}}, {"topics": {"": 0.5}}):
        with pytest.raises(ValidationError):
            MessageSignals.model_validate(bad)
    schema = MessageSignals.model_json_schema()
    assert all(schema["properties"][f]["description"] for f in ("sentiment", "topics", "intentions", "price_sensitive"))


def test_cues_match_whole_words_and_star_matches_endings() -> None:
    pattern = cue_pattern(["cancel*", "money back", "$*"])
    assert pattern is not None
    assert pattern.search("We CANCELLED yesterday") and pattern.search("I want my money back!")
    assert pattern.search("it costs $49")
    assert not pattern.search("uncancelled") and not pattern.search("moneyback")
    assert cue_pattern([]) is None


def test_polarity_reads_the_neutral_band() -> None:
    assert [polarity(s, 0.1) for s in (-0.5, -0.1, -0.05, 0.0, 0.09, 0.1, 0.8)] == [
        "negative",
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
        "positive",
    ]
