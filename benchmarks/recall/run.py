"""Evidence recall@5/@10 on long multi-session conversations: the server's search against BM25 and dense baselines.

    .venv/bin/python benchmarks/recall/run.py                          # 12 users, seed 1; writes the README table
    .venv/bin/python benchmarks/recall/run.py --users 2 --quick        # smoke check: prints only, a few minutes
    .venv/bin/python benchmarks/recall/run.py --types facts episodes both   # one ingest, three searches each
    .venv/bin/python benchmarks/recall/run.py --no-server              # the baselines alone
    .venv/bin/python benchmarks/recall/run.py --dataset /tmp/recall.json --results /tmp/per-question.json

The conversations come from generate.py (same --seed and --users give the same data), or from --dataset.
The runner starts `memory-server serve` on a free loopback port with a fresh temporary data directory (no key
is needed on loopback; MEMORY_SERVER_* variables of the calling shell are not passed on, so the server runs
on its defaults unless --config is given), publishes each session through POST /v1/interactions (wait: true,
at most 200 messages a request), then asks every question through POST /v1/search (top_k 10, threshold 0,
`types` from --types, `roles` from the question: ["user"], or ["user", "assistant"] for questions about what
the assistant recommended).

A question is a hit at k when one of the first k results came from one of its evidence messages: an episode
result through its `message_id`, a fact through its `message_ids` (the messages it was extracted from). A
server that refuses `types`/`roles` (before episodes were searchable) is asked again without them, and a fact
result without `message_ids` is looked up through GET /v1/facts/{id}; see `server_message_ids` for how
server message ids are mapped to (session, turn).

The baselines see the same user's raw messages in the question's roles: BM25 is SQLite FTS5 (porter +
unicode61 tokenizer, its bm25() with k1 = 1.2, b = 0.75, the question's words OR-ed) in an in-memory database
per user and role set, once with every word of the question (FTS5 has no stopword list) and once without NLTK's
English stopwords; dense is the bundled all-MiniLM-L6-v2 (the server's own embedder) with exact cosine top-k
over the user's message vectors. The RRF rows fuse a BM25 ranking with the dense one by reciprocal rank fusion
(k = 60), for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:  # run as a script from a checkout that is not installed
        sys.path.insert(0, path)

import generate  # noqa: E402

from benchmarks.readme import command, machine, write_block  # noqa: E402
from benchmarks.server import defaults_env, free_port, launch, serve_command, stop  # noqa: E402

TOP_K = 10
DEEP = 100  # how far down each baseline ranks before fusion
RRF_K = 60
THRESHOLDS = (0.4, 0.5, 0.6, 0.7)
TYPES = {"facts": ["facts"], "episodes": ["episodes"], "both": ["facts", "episodes"]}

Key = tuple[str, int]  # (session_id, turn)


# --- results ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One method's answer to one question: where the first evidence hit was, and the scores seen."""

    rank: int | None  # 1-based rank of the first result from an evidence message, None if not in the top 10
    best_evidence: float | None = None  # highest score of a result from an evidence message
    best_other: float | None = None  # highest score of a result from no evidence message


@dataclass
class Method:
    name: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # question id -> outcome
    notes: list[str] = field(default_factory=list)

    def recall(self, questions: Sequence[dict[str, Any]], k: int) -> float:
        hits = [self.outcomes[q["id"]].rank is not None and self.outcomes[q["id"]].rank <= k for q in questions]
        return sum(hits) / len(hits) if hits else float("nan")


# --- baselines --------------------------------------------------------------------------------------


@dataclass
class UserIndex:
    keys: list[Key]  # message order
    roles: list[str]
    vectors: np.ndarray
    fts: dict[tuple[str, ...], sqlite3.Connection]  # one in-memory FTS5 index per role set


def messages_of(user: dict[str, Any]) -> list[tuple[Key, str, str]]:
    return [((s["session_id"], m["turn"]), m["role"], m["content"]) for s in user["sessions"] for m in s["messages"]]


def fts_index(texts: Sequence[str], rowids: Iterable[int]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE m USING fts5(content, tokenize='porter unicode61')")
    db.executemany("INSERT INTO m (rowid, content) VALUES (?, ?)", [(i, texts[i]) for i in rowids])
    return db


#: NLTK's English stopword list (the 127 words of its classic version), for the variant that drops them from queries.
NLTK_STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself
    it its itself they them their theirs themselves what which who whom this that these those am is are was were be
    been being have has had having do does did doing a an the and but if or because as until while of at by for with
    about against between into through during before after above below to from up down in out on off over under again
    further then once here there when where why how all any both each few more most other some such no nor not only
    own same so than too very s t can will just don should now""".split()  # noqa: SIM905
)


def fts_query(text: str, drop: frozenset[str] = frozenset()) -> str:
    """The question's words (split about as unicode61 splits them), each quoted so that AND/OR/NOT/NEAR are plain
    words, OR-ed; words in `drop` are left out unless nothing would be left."""
    tokens = re.findall(r"\w+", text.lower())
    kept = [t for t in tokens if t not in drop] or tokens
    return " OR ".join(f'"{t}"' for t in kept)


def bm25_ranking(
    index: UserIndex, question: dict[str, Any], depth: int, drop: frozenset[str] = frozenset()
) -> list[int]:
    db = index.fts[tuple(question["roles"])]
    query = fts_query(question["question"], drop)
    if not query:
        return []
    rows = db.execute("SELECT rowid FROM m WHERE m MATCH ? ORDER BY bm25(m) LIMIT ?", (query, depth)).fetchall()
    return [r[0] for r in rows]


def dense_ranking(index: UserIndex, qvec: np.ndarray, roles: Sequence[str], depth: int) -> list[int]:
    scores = index.vectors @ qvec
    allowed = np.array([r in roles for r in index.roles])
    scores = np.where(allowed, scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:depth]
    return [int(i) for i in order if np.isfinite(scores[i])]


def rrf(*rankings: Sequence[int]) -> list[int]:
    fused: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, i in enumerate(ranking, 1):
            fused[i] += 1 / (RRF_K + rank)
    return sorted(fused, key=lambda i: -fused[i])


def outcome_of(ranking: Sequence[int], keys: Sequence[Key], evidence: set[Key]) -> Outcome:
    for rank, i in enumerate(ranking[:TOP_K], 1):
        if keys[i] in evidence:
            return Outcome(rank)
    return Outcome(None)


def run_baselines(users: list[dict[str, Any]], timings: dict[str, float]) -> list[Method]:
    from memory_server.index.minilm import OnnxMiniLMEmbedder

    embedder = OnnxMiniLMEmbedder(threads=2, batch_size=32)
    bm25, dense = Method("BM25 (FTS5)"), Method("dense (MiniLM)")
    bm25_stop = Method("BM25 (FTS5), query stopwords dropped")
    fused, fused_stop = Method("BM25 + dense (RRF)"), Method("BM25 w/o query stopwords + dense (RRF)")
    for user in users:
        msgs = messages_of(user)
        keys = [k for k, _, _ in msgs]
        roles = [r for _, r, _ in msgs]
        texts = [t for _, _, t in msgs]
        started = time.perf_counter()
        vectors = asyncio.run(embedder.embed(texts))
        qvecs = asyncio.run(embedder.embed([q["question"] for q in user["questions"]]))
        timings["baselines: embedding messages and questions"] += time.perf_counter() - started
        started = time.perf_counter()
        fts = {
            role_set: fts_index(texts, (i for i, r in enumerate(roles) if r in role_set))
            for role_set in {tuple(q["roles"]) for q in user["questions"]}
        }
        index = UserIndex(keys, roles, vectors, fts)
        for q, qvec in zip(user["questions"], qvecs, strict=True):
            evidence = {(e["session_id"], e["turn"]) for e in q["evidence"]}
            lexical = bm25_ranking(index, q, DEEP)
            lexical_stop = bm25_ranking(index, q, DEEP, NLTK_STOPWORDS)
            semantic = dense_ranking(index, qvec, q["roles"], DEEP)
            bm25.outcomes[q["id"]] = outcome_of(lexical, keys, evidence)
            bm25_stop.outcomes[q["id"]] = outcome_of(lexical_stop, keys, evidence)
            dense.outcomes[q["id"]] = outcome_of(semantic, keys, evidence)
            fused.outcomes[q["id"]] = outcome_of(rrf(lexical, semantic), keys, evidence)
            fused_stop.outcomes[q["id"]] = outcome_of(rrf(lexical_stop, semantic), keys, evidence)
        for db in fts.values():
            db.close()
        timings["baselines: ranking"] += time.perf_counter() - started
    return [bm25, bm25_stop, dense, fused, fused_stop]


# --- the server -------------------------------------------------------------------------------------


class Server:
    """`memory-server serve` on a free loopback port, with its own data directory and its output in `log`."""

    def __init__(self, data_dir: Path, config: Path | None, log: Path) -> None:
        port = free_port()
        options = ["--data-dir", str(data_dir), *(["--config", str(config)] if config is not None else [])]
        self.log = log.open("w")
        try:
            started = launch(
                serve_command(port, *options), port, env=defaults_env(), stdout=self.log, stderr=subprocess.STDOUT
            )
        except RuntimeError as e:
            self.log.close()
            raise SystemExit(f"{e}; see {log}") from None
        self.proc, self.base, self.startup = started.proc, started.base, started.startup

    def stop(self) -> None:
        """Stop the server; its log is kept only when it did not exit cleanly."""
        stop(self.proc)
        self.log.close()
        if self.proc.returncode == 0:
            Path(self.log.name).unlink(missing_ok=True)
        else:
            print(f"server exited with {self.proc.returncode}; its log: {self.log.name}")


def publish(http: httpx.Client, user: dict[str, Any], report: list[str]) -> list[float]:
    """Each session through POST /v1/interactions, wait: true; returns the milliseconds of each request."""
    ms = []
    for session in user["sessions"]:
        msgs = session["messages"]
        for start in range(0, len(msgs), 200):
            body = {
                "user_id": user["user_id"],
                "session_id": session["session_id"],
                "messages": [
                    {"role": m["role"], "content": m["content"], "created_at": m["created_at"]}
                    for m in msgs[start : start + 200]
                ],
                "wait": True,
            }
            started = time.perf_counter()
            response = http.post("/v1/interactions", json=body)
            if response.is_error:
                raise SystemExit(f"publishing {session['session_id']} failed: {response.status_code} {response.text}")
            job = response.json()
            while job["status"] not in ("done", "failed"):  # wait: true gave up (workers.wait_timeout_seconds)
                time.sleep(0.2)
                job = http.get(f"/v1/requests/{job['request_id']}").json()
            ms.append((time.perf_counter() - started) * 1000)
            if job["status"] == "failed":
                report.append(f"extraction FAILED for {session['session_id']}: {job.get('error')}")
    return ms


def server_message_ids(http: httpx.Client, user: dict[str, Any], data_dir: Path) -> tuple[dict[int, Key], str]:
    """Server message id -> (session, turn): from GET /v1/users/{id}/episodes, else from the data directory.

    The only place that knows how the server names stored messages; contents are unique per user, so each
    stored message is matched to the generated one by (session, content).
    """
    by_content = {
        (s["session_id"], m["content"]): (s["session_id"], m["turn"]) for s in user["sessions"] for m in s["messages"]
    }
    out: dict[int, Key] = {}
    cursor: str | None = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        response = http.get(f"/v1/users/{user['user_id']}/episodes", params=params)
        if response.status_code in (404, 405):
            break  # no episodes endpoint yet: read the messages table the server wrote
        response.raise_for_status()
        page = response.json()
        for item in page["items"]:
            key = by_content.get((item.get("session_id"), item["content"]))
            if key is not None:
                out[int(item["message_id"])] = key
        cursor = page.get("next_cursor")
        if not cursor:
            return out, "GET /v1/users/{id}/episodes"
    uri = f"file:{data_dir / 'memory.sqlite3'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        rows = db.execute("SELECT id, session_id, content FROM messages WHERE user_id = ?", (user["user_id"],))
        for message_id, session_id, content in rows:
            key = by_content.get((session_id, content))
            if key is not None:
                out[int(message_id)] = key
    return out, "the messages table of the data directory, read-only (no episodes endpoint)"


class Searcher:
    """POST /v1/search, falling back to a body without `types`/`roles` when the server refuses them."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.legacy = False  # the server refused types/roles: its results are facts, and roles cannot be chosen
        self.fact_messages: dict[str, list[int]] = {}
        self.ms: list[float] = []

    def search(self, user_id: str, query: str, types: list[str], roles: list[str]) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"user_id": user_id, "query": query, "top_k": TOP_K, "threshold": 0}
        if not self.legacy:
            body |= {"types": types, "roles": roles}
        started = time.perf_counter()
        response = self.http.post("/v1/search", json=body)
        if response.status_code == 422 and not self.legacy and re.search(r"\b(types|roles)\b", response.text):
            self.legacy = True
            return self.search(user_id, query, types, roles)
        self.ms.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        return response.json()["results"]

    def messages_of_fact(self, result: dict[str, Any]) -> list[int]:
        if "message_ids" in result:
            return list(result["message_ids"])
        fact_id = result["id"]
        if fact_id not in self.fact_messages:
            response = self.http.get(f"/v1/facts/{fact_id}")
            self.fact_messages[fact_id] = response.json().get("message_ids", []) if response.is_success else []
        return self.fact_messages[fact_id]


def result_messages(
    result: dict[str, Any], searcher: Searcher, ids: dict[int, Key], by_content: dict[str, Key]
) -> set[Key]:
    """The (session, turn) ids a search result came from."""
    kind = result.get("type") or ("episode" if result.get("message_id") is not None else "fact")
    if kind == "episode":
        if result.get("message_id") is not None and int(result["message_id"]) in ids:
            return {ids[int(result["message_id"])]}
        key = by_content.get(result.get("content", ""))
        return {key} if key else set()
    return {ids[m] for m in searcher.messages_of_fact(result) if m in ids}


def run_server(
    users: list[dict[str, Any]], args: argparse.Namespace, timings: dict[str, float], notes: list[str]
) -> list[Method]:
    data_dir = Path(tempfile.mkdtemp(prefix="memory-recall-"))
    log = Path(tempfile.gettempdir()) / f"memory-recall-server-{os.getpid()}.log"
    print(f"server data dir: {data_dir} (log {log})")
    server = Server(data_dir, args.config, log)
    methods = {t: Method(f"server, types={t}") for t in args.types}
    kinds_seen: dict[str, set[str]] = {t: set() for t in args.types}
    try:
        notes.append(f"server start-up to /healthz OK: {server.startup:.1f} s")
        with httpx.Client(base_url=server.base, timeout=300) as http:
            started = time.perf_counter()
            ingest_ms: list[float] = []
            for n, user in enumerate(users, 1):
                ingest_ms += publish(http, user, notes)
                print(f"  published {user['user_id']} ({n}/{len(users)})", flush=True)
            timings["server: ingest (wait=true)"] = time.perf_counter() - started
            notes.append(
                f"ingest: {len(ingest_ms)} requests (one per session), p50 {statistics.median(ingest_ms):.0f} ms, "
                f"max {max(ingest_ms):.0f} ms, {sum(ingest_ms) / 1000:.0f} s in all"
            )
            searcher = Searcher(http)
            started = time.perf_counter()
            sources = set()
            for user in users:
                ids, source = server_message_ids(http, user, data_dir)
                sources.add(source)
                by_content = {
                    m["content"]: (s["session_id"], m["turn"]) for s in user["sessions"] for m in s["messages"]
                }
                for q in user["questions"]:
                    evidence = {(e["session_id"], e["turn"]) for e in q["evidence"]}
                    for t in args.types:
                        results = searcher.search(user["user_id"], q["question"], TYPES[t], q["roles"])
                        outcome = Outcome(None)
                        for rank, r in enumerate(results[:TOP_K], 1):
                            kinds_seen[t].add(r.get("type", "fact (no type field)"))
                            hit = bool(result_messages(r, searcher, ids, by_content) & evidence)
                            score = float(r.get("score", float("nan")))
                            if hit:
                                outcome.rank = outcome.rank or rank
                                outcome.best_evidence = max(score, outcome.best_evidence or -1.0)
                            else:
                                outcome.best_other = max(score, outcome.best_other or -1.0)
                        methods[t].outcomes[q["id"]] = outcome
            timings["server: searching"] = time.perf_counter() - started
            notes.append(f"server message ids mapped through {'; '.join(sorted(sources))}")
            if searcher.ms:
                notes.append(
                    f"search over HTTP: {len(searcher.ms)} requests, p50 {statistics.median(searcher.ms):.1f} ms, "
                    f"p95 {np.percentile(searcher.ms, 95):.1f} ms"
                )
            for t in args.types:
                methods[t].notes.append(f"result types seen: {', '.join(sorted(kinds_seen[t])) or 'none'}")
            if searcher.legacy:
                notes.append(
                    "the server REFUSED `types`/`roles` (422) and was asked again without them: its row is its "
                    "default search (facts only), with `roles` unset"
                )
                first = methods[args.types[0]]
                first.name = "server (facts only: types/roles refused)"
                methods = {args.types[0]: first}
    finally:
        server.stop()
        if args.keep_data_dir:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return list(methods.values())


# --- the report -------------------------------------------------------------------------------------


def pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}"


def recall_table(methods: Sequence[Method], questions: Sequence[dict[str, Any]]) -> str:
    kinds = [k for k in generate.KINDS if any(q["kind"] == k for q in questions)]
    groups = [("all", list(questions))] + [(k, [q for q in questions if q["kind"] == k]) for k in kinds]
    head = "| method | " + " | ".join(f"{name} ({len(qs)}) @5 | @10" for name, qs in groups) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(groups)]
    for m in methods:
        cells = " | ".join(f"{pct(m.recall(qs, 5))} | {pct(m.recall(qs, 10))}" for _, qs in groups)
        lines.append(f"| {m.name} | {cells} |")
    return "\n".join(lines)


def calibration(methods: Sequence[Method], questions: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for m in methods:
        if not m.name.startswith("server"):
            continue
        ev = [m.outcomes[q["id"]].best_evidence for q in questions]
        other = [m.outcomes[q["id"]].best_other for q in questions]
        ev_scores = [s for s in ev if s is not None]
        other_scores = [s for s in other if s is not None]
        med_ev = f"{statistics.median(ev_scores):.3f}" if ev_scores else "-"
        med_other = f"{statistics.median(other_scores):.3f}" if other_scores else "-"
        at = ", ".join(f">= {t}: {sum(s >= t for s in ev_scores)}" for t in THRESHOLDS)
        at_other = ", ".join(f">= {t}: {sum(s >= t for s in other_scores)}" for t in THRESHOLDS)
        out.append(
            f"{m.name}: median score of the top evidence hit {med_ev} ({len(ev_scores)} questions with one in the "
            f"top 10), of the top non-evidence result {med_other}; questions whose evidence hit scores {at}; "
            f"whose best non-evidence result scores {at_other} (of {len(questions)})"
        )
    return out


def overlap_table(stats: dict[str, Any]) -> str:
    lines = [
        "| kind | questions | overlap | overlap, stemmed | evidence messages per question |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, s in stats["per_kind"].items():
        lines.append(
            f"| {kind} | {s['questions']} | {s['overlap']:.2f} | {s['overlap_stemmed']:.2f} | "
            f"{s['evidence_per_question']:.2f} |"
        )
    return "\n".join(lines)


def report_block(
    data: dict[str, Any],
    users: list[dict[str, Any]],
    methods: Sequence[Method],
    notes: list[str],
    timings: dict[str, float],
) -> str:
    questions = [q for u in users for q in u["questions"]]
    stats = generate.stats(users)
    lines = [
        "## Evidence recall on long multi-session conversations (`recall/run.py`)",
        "",
        f"Machine: {machine()}. Command: `{command()}`",
        "",
        f"Data: generate.py seed {data['seed']}: {stats['users']} users, {stats['sessions']} sessions, "
        f"{stats['messages']} messages ({stats['user_messages']} from the user; at least "
        f"{stats['messages_per_user_min']} per user), {stats['first_day']} to {stats['last_day']}; "
        f"{stats['questions']} questions (at least {stats['questions_per_user_min']} per user).",
        "",
        "Recall (%) of the evidence: a question is a hit at k when one of the first k results came from a message "
        "labelled as its evidence.",
        "",
        recall_table(methods, questions),
        "",
        "Share of a question's content words found in its evidence (lowercased, stopwords removed; stemmed: as "
        "FTS5's porter tokenizer stems them):",
        "",
        overlap_table(stats),
        "",
        *[f"- {line}" for line in notes],
        *[f"- {m.name}: {n}" for m in methods for n in m.notes],
        *[f"- {line}" for line in calibration(methods, questions)],
        "- time: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()),
    ]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that `finally` stops the server and removes its data directory


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dataset", type=Path, help="a JSON file from generate.py (default: generate it now)")
    parser.add_argument("--users", type=int, help="use the first N users (default: 12, or 2 with --quick)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed when no --dataset is given")
    parser.add_argument(
        "--types", nargs="+", choices=list(TYPES), default=["both"], help="server search types to compare"
    )
    parser.add_argument("--no-server", action="store_true", help="run the baselines only")
    parser.add_argument("--config", type=Path, help="YAML config for the server (default: its defaults)")
    parser.add_argument("--quick", action="store_true", help="2 users unless --users is given; prints only")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    parser.add_argument("--results", type=Path, help="write each question's outcome per method to this JSON file")
    parser.add_argument("--keep-data-dir", action="store_true", help="keep the server's data directory")
    args = parser.parse_args()

    load_start = os.getloadavg()
    timings: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    if args.dataset:
        data = json.loads(args.dataset.read_text())
    else:
        data = generate.generate(args.users or (2 if args.quick else 12), args.seed)
        timings["generating"] = time.perf_counter() - started
    users = data["users"][: args.users] if args.users else data["users"]
    questions = [q for u in users for q in u["questions"]]
    print(f"{machine()}; load average {load_start[0]:.2f}")
    print(f"{len(users)} users, {sum(len(messages_of(u)) for u in users)} messages, {len(questions)} questions")

    notes = [f"load average at start {load_start[0]:.2f}"]
    methods = run_baselines(users, timings)
    print("baselines done")
    if not args.no_server:
        methods = run_server(users, args, timings, notes) + methods
    else:
        notes.append("server not run (--no-server)")
    timings["total"] = time.perf_counter() - started
    notes.append(f"load average at the end {os.getloadavg()[0]:.2f}")

    block = report_block(data, users, methods, notes, dict(timings))
    print("\n" + block.split("\n", 1)[1])
    if args.results:
        args.results.write_text(
            json.dumps(
                {
                    q["id"]: {
                        "kind": q["kind"],
                        "question": q["question"],
                        **{m.name: m.outcomes[q["id"]].__dict__ for m in methods},
                    }
                    for q in questions
                },
                indent=1,
            )
        )
        print(f"wrote {args.results}")
    if not (args.quick or args.no_readme):
        write_block("recall", block)


if __name__ == "__main__":
    main()
