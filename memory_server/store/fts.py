"""The keyword index of episodes (`episodes_fts`), scoped to one tenant's user, on either engine.

SQLite: FTS5 with porter stemming; hits are ranked by `bm25()`, documents per term read from `episodes_terms`
(fts5vocab). PostgreSQL: a generated `tsvector` (english stemming) with a GIN index; a hit scores the summed
IDF of the query's terms it holds (BM25 without its term-frequency and length parts), so that, as with FTS5, a
message holding every query term scores the query's total IDF (`memory_server.episodes.keyword_share`).
On both, the `content` column holds the message with its Chinese, Japanese and Korean runs as bigrams
(`memory_server.cjk`, written by `store.episodes.add`), and a query's words are those bigrams too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from memory_server.store.db import Database, is_postgres, marks


def scope_token(tenant_id: str, user_id: str) -> str:
    """The one token that marks a tenant's user in the `scope` column; it cannot be confused with words."""
    return "u" + hashlib.sha256(f"{tenant_id}\x00{user_id}".encode()).hexdigest()[:32]


def match_expression(tenant_id: str, user_id: str, words: Iterable[str], column: str = "content") -> str | None:
    """An FTS5 query for the user's rows whose `column` holds any of the words (None: no word to look for).

    Words are passed quoted, so FTS5 operators in them are read as words; FTS5 stems them itself.
    """
    quoted = " OR ".join(f'"{w}"' for w in words if w)
    if not quoted:
        return None
    return f'scope : "{scope_token(tenant_id, user_id)}" AND {column} : ({quoted})'


def _any_of(words: Sequence[str], config: str) -> str:
    return " || ".join([f"plainto_tsquery('{config}', ?)"] * len(words))


async def keyword(
    db: Database,
    tenant_id: str,
    user_id: str,
    words: Mapping[str, str],
    idf: Mapping[str, float],
    roles: Sequence[str],
    limit: int,
) -> list[tuple[int, float]]:
    """(message id, score > 0) of the user's episodes of `roles` holding any of the words (stem -> word), best
    first. `idf` (stem -> weight) weighs each term on PostgreSQL; FTS5's bm25 weighs them itself."""
    chosen = [w for w in words.values() if w]
    if not chosen or not roles:
        return []
    if not is_postgres(db):
        expression = match_expression(tenant_id, user_id, chosen)
        rows = await db.fetchall(
            "SELECT e.rowid AS id, -bm25(episodes_fts) AS score FROM episodes_fts e JOIN messages m ON m.id = e.rowid "
            f"WHERE episodes_fts MATCH ? AND m.role IN ({marks(roles)}) ORDER BY bm25(episodes_fts) LIMIT ?",
            (expression, *roles, limit),
        )
    else:
        stems = [s for s, w in words.items() if w]
        score = " + ".join(["CASE WHEN e.terms @@ plainto_tsquery('english', ?) THEN ? ELSE 0 END"] * len(stems))
        weights = [item for s in stems for item in (words[s], idf.get(s, 0.0))]
        rows = await db.fetchall(
            f"SELECT e.rowid AS id, {score} AS score FROM episodes_fts e JOIN messages m ON m.id = e.rowid "
            f"WHERE e.scope = ? AND e.terms @@ ({_any_of(chosen, 'english')}) AND m.role IN ({marks(roles)}) "
            "ORDER BY score DESC, e.rowid LIMIT ?",
            (*weights, scope_token(tenant_id, user_id), *chosen, *roles, limit),
        )
    return [(r["id"], float(r["score"])) for r in rows if r["score"] > 0]


async def on_dates(db: Database, tenant_id: str, user_id: str, tokens: Sequence[str], roles: Sequence[str]) -> set[int]:
    """The user's episodes (of `roles`) whose date tokens include any of `tokens`."""
    if not tokens or not roles:
        return set()
    if not is_postgres(db):
        sql = f"episodes_fts MATCH ? AND m.role IN ({marks(roles)})"
        params: tuple[object, ...] = (match_expression(tenant_id, user_id, tokens, column="dates"), *roles)
    else:
        sql = f"e.scope = ? AND e.days @@ ({_any_of(tokens, 'simple')}) AND m.role IN ({marks(roles)})"
        params = (scope_token(tenant_id, user_id), *tokens, *roles)
    rows = await db.fetchall(
        f"SELECT e.rowid AS id FROM episodes_fts e JOIN messages m ON m.id = e.rowid WHERE {sql}", params
    )
    return {r["id"] for r in rows}


async def term_documents(db: Database, stems: Sequence[str]) -> tuple[int, dict[str, int]]:
    """How many rows the keyword index holds (an upper bound: the highest id), and how many hold each stem."""
    top = await db.fetchone("SELECT rowid FROM episodes_fts ORDER BY rowid DESC LIMIT 1")
    if top is None or not stems:
        return (0 if top is None else int(top["rowid"])), {}
    if not is_postgres(db):
        rows = await db.fetchall(f"SELECT term, doc FROM episodes_terms WHERE term IN ({marks(stems)})", tuple(stems))
    else:
        each = "SELECT ? AS term, count(*) AS doc FROM episodes_fts WHERE terms @@ plainto_tsquery('english', ?)"
        rows = await db.fetchall(" UNION ALL ".join([each] * len(stems)), [x for s in stems for x in (s, s)])
    return int(top["rowid"]), {r["term"]: int(r["doc"]) for r in rows}
