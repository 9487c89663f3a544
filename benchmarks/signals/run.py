"""Quality and cost of the offline per-message signals on 320 hand-labelled customer messages.

    .venv/bin/python benchmarks/signals/run.py --fresh              # prints and writes the README block
    .venv/bin/python benchmarks/signals/run.py --no-readme --errors tune   # what the tune split gets wrong

messages.jsonl holds 200 messages with their labels (polarity, topics, intentions, price_sensitive) and a
split: thresholds, cues and domain words of the default taxonomy were tuned on `tune`; `held_out` was scored
(in aggregate only) while choosing between designs, so it is no longer quite unseen. fresh.jsonl holds 120
more, written and labelled before the polarity work began and scored only with `--fresh`: the final judge,
never tuned on (FRESH_SCORED below says how often it has been looked at). Every message is embedded with the
bundled all-MiniLM-L6-v2 (as the server embeds user messages for search), then analysed with the default
taxonomy.

Polarity maps sentiment to negative / neutral / positive with the taxonomy's neutral band. Topics and
intentions are scored as micro precision / recall / F1 over (message, label) pairs; price sensitivity as
accuracy. Costs: the analysis of one message at a time, excluding its embedding (the server reuses the
vector it computed for search), and the embedding of one message at a time, measured apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.readme import command, machine, write_block  # noqa: E402
from extractors.signals import MessageSignals, SignalAnalyzer, Taxonomy, polarity, prototype_texts  # noqa: E402
from extractors.taxonomy import default_taxonomy  # noqa: E402
from memory_server.index.minilm import OnnxMiniLMEmbedder  # noqa: E402

FIXTURE = HERE / "messages.jsonl"
FRESH = HERE / "fresh.jsonl"
#: How many times the fresh split has been scored while the analyzer was being built: raise it when you look.
FRESH_SCORED = 5
SPLITS = ("fresh", "held_out", "tune")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def embed(embedder: OnnxMiniLMEmbedder, texts: Sequence[str]) -> np.ndarray:
    return asyncio.run(embedder.embed(list(texts)))


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[str], expected: set[str]) -> None:
        self.tp += len(predicted & expected)
        self.fp += len(predicted - expected)
        self.fn += len(expected - predicted)

    def cells(self) -> str:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return f"{100 * p:.0f} | {100 * r:.0f} | {100 * f:.0f}"


@dataclass
class Scores:
    n: int = 0
    polarity_ok: int = 0
    no_vote_ok: int = 0  # the same analyzer without the embedding's polarity vote (polarity_weight 0)
    vader_ok: int = 0  # plain VADER (its own lexicon, its ±0.05 band): the baseline the domain tuning improves on
    price_ok: int = 0
    topics: PRF | None = None
    intentions: PRF | None = None
    misread: Counter[str] | None = None  # "expected→read" polarity errors

    def __post_init__(self) -> None:
        self.topics, self.intentions, self.misread = PRF(), PRF(), Counter()

    def pct(self, ok: int) -> float:
        return 100 * ok / self.n

    def misreadings(self) -> str:
        return ", ".join(f"{pair} {n}" for pair, n in self.misread.most_common())


def score(
    records: Sequence[dict[str, Any]],
    signals: Sequence[MessageSignals],
    no_vote: Sequence[MessageSignals],
    taxonomy: Taxonomy,
) -> Scores:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    s = Scores()
    for record, sig, other in zip(records, signals, no_vote, strict=True):
        s.n += 1
        read = polarity(sig.sentiment, taxonomy.neutral_band)
        s.polarity_ok += read == record["polarity"]
        if read != record["polarity"]:
            s.misread[f"{record['polarity']}→{read}"] += 1
        s.no_vote_ok += polarity(other.sentiment, taxonomy.neutral_band) == record["polarity"]
        s.vader_ok += polarity(vader.polarity_scores(record["text"])["compound"], 0.05) == record["polarity"]
        s.price_ok += sig.price_sensitive == record["price_sensitive"]
        s.topics.add(set(sig.topics), set(record["topics"]))
        s.intentions.add(set(sig.intentions), set(record["intentions"]))
    return s


def per_label(records: Sequence[dict[str, Any]], signals: Sequence[MessageSignals], field: str) -> dict[str, PRF]:
    out: dict[str, PRF] = {}
    for record, sig in zip(records, signals, strict=True):
        predicted = set(getattr(sig, field))
        for label in predicted | set(record[field]):
            out.setdefault(label, PRF()).add(predicted & {label}, set(record[field]) & {label})
    return dict(sorted(out.items()))


def timings(analyzer: SignalAnalyzer, embedder: OnnxMiniLMEmbedder, texts: list[str], vectors: np.ndarray) -> dict:
    """Median and p95 ms per message, one message at a time, of the analysis and of the embedding."""
    analyse, embedding = [], []
    for _ in range(5):
        for text, vector in zip(texts, vectors, strict=True):
            started = time.perf_counter()
            analyzer.analyze(text, vector)
            analyse.append(1000 * (time.perf_counter() - started))

    async def embed_each() -> None:  # one event loop, as in the server
        for text in texts:
            started = time.perf_counter()
            await embedder.embed([text])
            embedding.append(1000 * (time.perf_counter() - started))

    asyncio.run(embed_each())
    started = time.perf_counter()
    analyzer.analyze_many(texts, vectors)
    batch = 1000 * (time.perf_counter() - started) / len(texts)

    def pcts(values: list[float]) -> tuple[float, float]:
        return statistics.median(values), statistics.quantiles(values, n=20)[-1]

    return {"analysis": pcts(analyse), "embedding": pcts(embedding), "batch": batch, "messages": len(texts)}


def errors(records: Sequence[dict[str, Any]], signals: Sequence[MessageSignals], taxonomy: Taxonomy) -> None:
    for record, sig in zip(records, signals, strict=True):
        got = polarity(sig.sentiment, taxonomy.neutral_band)
        wrong = [
            f"polarity {record['polarity']} got {got} ({sig.sentiment:+.2f})" if got != record["polarity"] else "",
            f"topics {sorted(record['topics'])} got {sig.topics}" if set(sig.topics) != set(record["topics"]) else "",
            f"intentions {sorted(record['intentions'])} got {sig.intentions}"
            if set(sig.intentions) != set(record["intentions"])
            else "",
            f"price {record['price_sensitive']}" if sig.price_sensitive != record["price_sensitive"] else "",
        ]
        if any(wrong):
            print(f"{record['id']} {record['text'][:90]!r}\n    " + "\n    ".join(w for w in wrong if w))


def report_block(by_split: dict[str, Scores], labels: dict[str, dict[str, PRF]], cost: dict) -> str:
    taxonomy = default_taxonomy()
    rows = [
        "| split | messages | polarity | without the vote | plain VADER | topics P / R / F1 | intentions P / R / F1 "
        "| price sensitive |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for split, s in by_split.items():
        topics = " / ".join(s.topics.cells().split(" | "))
        intentions = " / ".join(s.intentions.cells().split(" | "))
        rows.append(
            f"| {split} | {s.n} | {100 * s.polarity_ok / s.n:.1f}% | {100 * s.no_vote_ok / s.n:.1f}% | "
            f"{100 * s.vader_ok / s.n:.1f}% | {topics} | {intentions} | {100 * s.price_ok / s.n:.1f}% |"
        )
    label_rows = ["| label | P | R | F1 | in the labels |", "|---|---:|---:|---:|---:|"]
    for field in ("topics", "intentions"):
        for name, prf in labels[field].items():
            label_rows.append(f"| {name} | {prf.cells()} | {prf.tp + prf.fn} |")
    (a50, a95), (e50, e95) = cost["analysis"], cost["embedding"]
    return "\n".join(
        [
            "## Offline message signals (`signals/run.py`)",
            "",
            f"Machine: {machine()}. Command: `{command()}`",
            "",
            f"Data: {sum(s.n for s in by_split.values())} customer messages written and labelled by hand: "
            "`signals/messages.jsonl` (`tune`, `held_out`) and `signals/fresh.jsonl` (`fresh`: 120 messages of "
            "shops, software, telecom, banking and games, written and labelled blind before the polarity work). "
            "Sentiment: VADER compound with the taxonomy's domain words, plus the leans of the reported intentions, "
            f"plus {taxonomy.polarity_weight} × (P(positive) − P(negative)), a softmax (temperature "
            f"{taxonomy.polarity_temperature}) over the cosines of the message's MiniLM vector with the centroids of "
            f"the taxonomy's {len(taxonomy.polarity_examples.texts())} polarity examples (generic messages, "
            "`extractors/polarity_examples.py`, none taken from these files); read as neutral within "
            f'±{taxonomy.neutral_band}. "Without the vote" is the same analyzer with polarity_weight 0; plain '
            "VADER is its own lexicon read with its ±0.05 band. Topics and "
            "intentions: cosine of the message's MiniLM vector with each label's prototypes (description and "
            f"examples), mapped {taxonomy.similarity_floor}…{taxonomy.similarity_ceiling} → 0…1, plus "
            f"{taxonomy.cue_boost} when a cue occurs; reported from {taxonomy.topic_threshold} (topics) and "
            f"{taxonomy.intention_threshold} (intentions). Scores in %; P / R / F1 are micro over "
            "(message, label) pairs.",
            "",
            *rows,
            "",
            "Polarity misreadings (expected→read): "
            + "; ".join(f"{split}: {s.misreadings()}" for split, s in by_split.items())
            + ".",
            "",
            "Per label, held-out split:",
            "",
            *label_rows,
            "",
            *notes(by_split),
            f"- analysis of one message (excluding its embedding): median {a50:.2f} ms, p95 {a95:.2f} ms; "
            f"{cost['batch']:.2f} ms a message through `analyze_many` over all {cost['messages']}",
            f"- embedding one message (not part of the signals' cost: the server embeds each user message for "
            f"search anyway): median {e50:.1f} ms, p95 {e95:.1f} ms",
        ]
    )


def notes(by_split: dict[str, Scores]) -> list[str]:
    """How the splits were used, and what the figures say about the issue's 80% polarity target."""
    out = [
        "- `tune` chose the cues, domain words and thresholds (earlier work) and, here, the polarity examples' "
        "weight, temperature and band; its accuracy moved little (mostly 83-88%) over the settings tried, so it "
        "could not choose between designs. `held_out` was scored in aggregate about 30 times while comparing "
        "them (nearest centroid, k-NN vote, VADER-else-centroid switch, weighted sum; weights, bands, two "
        "revisions of the examples, the complaint tone kept or dropped; its per-message errors were never read); "
        "it broke those ties, so its figure is optimistic and no longer an unseen test. Later, the rule that a "
        "bad-news intention needs a cue in a message that reads positive (at the neutral band, not tuned) was "
        "checked on both, and held_out's 14 bad-news intentions reported without a cue were read one by one",
    ]
    if fresh := by_split.get("fresh"):
        verdict = "met" if fresh.pct(fresh.polarity_ok) >= 80 else "not met"
        out.append(
            f"- `fresh` was scored {FRESH_SCORED} time(s), after everything above was frozen, and never tuned on: "
            f"{fresh.pct(fresh.polarity_ok):.1f}% polarity (without the vote {fresh.pct(fresh.no_vote_ok):.1f}%, "
            f"plain VADER {fresh.pct(fresh.vader_ok):.1f}%). The issue's target (>= 80% polarity offline) is "
            f"{verdict} on it; with {fresh.n} messages a figure is good to about ±7 points (95%)"
        )
        if verdict == "not met":
            out.append(
                "- what is left: the vote adds about 12 points over the same analyzer without it on both "
                "`held_out` and `fresh`, but `fresh`'s misreadings are spread over every kind rather than one "
                "group. On `tune`, sarcasm and \"X, but Y\" messages still follow VADER's words, and the files' "
                "labels differ on problem reports that ask for help (`messages.jsonl` calls several neutral, "
                "`fresh.jsonl` negative). A lexicon plus a vote against 60 generic examples does not reach 80% on "
                "unseen messages; an operator's own examples or the LLM extractor are the ways further"
            )
    else:
        out.append("- `fresh` was not scored in this run (`--fresh` scores it)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument(
        "--fresh", action="store_true", help=f"also score {FRESH.name}, the final judge (raise FRESH_SCORED)"
    )
    parser.add_argument("--errors", choices=SPLITS, help="print the messages of this split that are not all right")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = parser.parse_args()

    records = load(args.fixture) + (load(FRESH) if args.fresh else [])
    if args.errors == "fresh" and not args.fresh:
        parser.error("--errors fresh needs --fresh (and fresh's errors are not for tuning)")
    taxonomy = default_taxonomy()
    embedder = OnnxMiniLMEmbedder()
    vectors = embed(embedder, [r["text"] for r in records])
    prototypes = embed(embedder, prototype_texts(taxonomy))
    analyzer = SignalAnalyzer(taxonomy, prototypes)
    signals = analyzer.analyze_many([r["text"] for r in records], vectors)
    without = SignalAnalyzer(taxonomy.model_copy(update={"polarity_weight": 0.0}), prototypes)
    no_vote = without.analyze_many([r["text"] for r in records], vectors)

    by_split = {}
    for split in SPLITS:
        rows = [i for i, r in enumerate(records) if r["split"] == split]
        if not rows:
            continue
        pick = [records[i] for i in rows], [signals[i] for i in rows], [no_vote[i] for i in rows]
        by_split[split] = score(*pick, taxonomy)
        if args.errors == split:
            errors([records[i] for i in rows], [signals[i] for i in rows], taxonomy)
    held = [i for i, r in enumerate(records) if r["split"] == "held_out"]
    labels = {f: per_label([records[i] for i in held], [signals[i] for i in held], f) for f in ("topics", "intentions")}
    cost = timings(analyzer, embedder, [r["text"] for r in records], vectors)

    block = report_block(by_split, labels, cost)
    print(block)
    if not args.no_readme:
        write_block("signals", block)


if __name__ == "__main__":
    main()
